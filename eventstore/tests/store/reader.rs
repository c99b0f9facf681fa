//! The commit-ordered reader: nothing skipped, nothing reordered, nothing rolled back.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventstore::testing::TestEnv;
use eventstore::{CommitCursor, CommitOrderedReader, StoredEvent};
use sqlx::{Connection, PgConnection};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::support::{
    self, RawEvent, command_bus, context, create_agent, eventually, insert_raw_event,
};

async fn dedicated_connection(env: &TestEnv) -> PgConnection {
    PgConnection::connect_with(&env.pool.connect_options())
        .await
        .expect("dedicated connection")
}

fn ids(events: &[StoredEvent]) -> Vec<Uuid> {
    events.iter().map(|event| event.event_id).collect()
}

#[tokio::test]
async fn reader_neither_skips_nor_reorders_a_late_committing_transaction() {
    let env = TestEnv::new().await;
    let reader = CommitOrderedReader::new(env.pool.clone());
    let tenant = Uuid::now_v7();

    // Given T1 took its transaction id with its event INSERT and is still open,
    let mut t1_connection = dedicated_connection(&env).await;
    let mut t1 = t1_connection.begin().await.unwrap();
    let early = insert_raw_event(&mut *t1, tenant, "early", 1).await;
    // and a later transaction T2 has committed another event,
    let late = insert_raw_event(&env.pool, tenant, "late", 1).await;
    assert!(late.transaction_id > early.transaction_id);

    // when the reader reads while T1 is open, then it holds back even T2's committed
    // event: handing it out now would move the cursor past T1's.
    for _ in 0..3 {
        let page = reader
            .read_after(CommitCursor::default(), 100)
            .await
            .unwrap();
        assert_eq!(ids(&page), Vec::<Uuid>::new(), "read while T1 is open");
    }

    // When T1 commits,
    t1.commit().await.unwrap();

    // then the reader returns T1's event, then T2's. Until every older transaction on
    // the server has ended it may return less, but only ever a prefix of that order.
    let expected = vec![early.event_id, late.event_id];
    let page = eventually("both events are readable", || {
        let (reader, expected) = (&reader, &expected);
        async move {
            let page = reader
                .read_after(CommitCursor::default(), 100)
                .await
                .unwrap();
            let seen = ids(&page);
            assert_eq!(seen[..], expected[..seen.len()], "a prefix of the order");
            (page.len() == expected.len()).then_some(page)
        }
    })
    .await;
    assert_eq!(page[0].transaction_id, early.transaction_id);
    assert_eq!(page[1].transaction_id, late.transaction_id);

    // and exactly once: paging on from each event returns only what follows it.
    let after_first = reader
        .read_after(CommitCursor::after(&page[0]), 100)
        .await
        .unwrap();
    assert_eq!(ids(&after_first), vec![late.event_id]);
    let after_last = reader
        .read_after(CommitCursor::after(&page[1]), 100)
        .await
        .unwrap();
    assert!(after_last.is_empty());

    t1_connection.close().await.unwrap();
    env.cleanup().await;
}

#[tokio::test]
async fn reader_never_returns_a_rolled_back_event_and_still_returns_the_later_one() {
    let env = TestEnv::new().await;
    let reader = CommitOrderedReader::new(env.pool.clone());
    let tenant = Uuid::now_v7();

    // Given T1 inserted an event and is open, and a later T2 committed one,
    let mut t1_connection = dedicated_connection(&env).await;
    let mut t1 = t1_connection.begin().await.unwrap();
    let doomed = insert_raw_event(&mut *t1, tenant, "doomed", 1).await;
    let late = insert_raw_event(&env.pool, tenant, "late", 1).await;
    assert!(late.transaction_id > doomed.transaction_id);
    let page = reader
        .read_after(CommitCursor::default(), 100)
        .await
        .unwrap();
    assert!(page.is_empty(), "read while T1 is open: {:?}", ids(&page));

    // when T1 rolls back,
    t1.rollback().await.unwrap();

    // then the reader returns T2's event and never T1's.
    let page = eventually("the committed event is readable", || {
        let reader = &reader;
        async move {
            let page = reader
                .read_after(CommitCursor::default(), 100)
                .await
                .unwrap();
            (!page.is_empty()).then_some(page)
        }
    })
    .await;
    assert_eq!(ids(&page), vec![late.event_id]);
    assert_ne!(page[0].event_id, doomed.event_id);

    t1_connection.close().await.unwrap();
    env.cleanup().await;
}

const BUS_WRITERS: usize = 8;
const COMMANDS_PER_BUS_WRITER: usize = 30;
const SQL_WRITERS: usize = 2;
const TRANSACTIONS_PER_SQL_WRITER: usize = 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_are_read_exactly_once_in_commit_order() {
    let env = TestEnv::new().await;
    let tenant = Uuid::now_v7();
    let bus = Arc::new(command_bus(&env));

    // Given writers appending through the command bus, half of them pausing at random,
    let mut writers = JoinSet::new();
    for writer in 0..BUS_WRITERS {
        let bus = Arc::clone(&bus);
        writers.spawn(async move {
            for _ in 0..COMMANDS_PER_BUS_WRITER {
                let agent_id = Uuid::now_v7();
                bus.execute(
                    &agent_id.to_string(),
                    create_agent(tenant, agent_id),
                    &context(tenant),
                )
                .await
                .expect("create agent");
                if writer % 2 == 0 {
                    pause_up_to_millis(3).await;
                }
            }
            Vec::new()
        });
    }
    // and writers that keep their transactions open a while after inserting, and roll
    // back every fourth one,
    for writer in 0..SQL_WRITERS {
        let pool = env.pool.clone();
        writers.spawn(async move {
            let mut rolled_back = Vec::new();
            for round in 0..TRANSACTIONS_PER_SQL_WRITER {
                let mut tx = pool.begin().await.unwrap();
                let aggregate_id = format!("sql-{writer}-{round}");
                let RawEvent { event_id, .. } =
                    insert_raw_event(&mut *tx, tenant, &aggregate_id, 1).await;
                pause_up_to_millis(8).await;
                if round % 4 == 3 {
                    tx.rollback().await.unwrap();
                    rolled_back.push(event_id);
                } else {
                    tx.commit().await.unwrap();
                }
            }
            rolled_back
        });
    }

    // when a reader pages through the store while they write, until it has read as many
    // events as the store holds after they stopped,
    let writers_done = CancellationToken::new();
    let reader = tokio::spawn(read_until_caught_up(
        CommitOrderedReader::new(env.pool.clone()),
        env.pool.clone(),
        writers_done.clone(),
    ));
    let mut rolled_back = HashSet::new();
    while let Some(result) = writers.join_next().await {
        rolled_back.extend(result.expect("writer"));
    }
    writers_done.cancel();
    let seen = reader.await.expect("reader");

    // then it saw every committed event exactly once, in commit order, and no rolled-back one.
    let committed_sql = SQL_WRITERS * TRANSACTIONS_PER_SQL_WRITER - rolled_back.len();
    assert_eq!(
        seen.len(),
        BUS_WRITERS * COMMANDS_PER_BUS_WRITER + committed_sql
    );
    for pair in seen.windows(2) {
        assert!(
            CommitCursor::after(&pair[0]) < CommitCursor::after(&pair[1]),
            "out of order: {:?} then {:?}",
            CommitCursor::after(&pair[0]),
            CommitCursor::after(&pair[1]),
        );
    }
    let seen_ids: HashSet<Uuid> = seen.iter().map(|event| event.event_id).collect();
    assert_eq!(seen_ids.len(), seen.len(), "an event was read twice");
    let stored_ids: HashSet<Uuid> = support::event_ids_in_store(&env.pool)
        .await
        .into_iter()
        .collect();
    assert_eq!(seen_ids, stored_ids);
    assert!(seen_ids.is_disjoint(&rolled_back));

    env.cleanup().await;
}

/// Reads in small pages; once `writers_done`, stops when it has read everything stored.
async fn read_until_caught_up(
    reader: CommitOrderedReader,
    pool: sqlx::PgPool,
    writers_done: CancellationToken,
) -> Vec<StoredEvent> {
    let deadline = Instant::now() + 2 * support::PATIENCE;
    let mut seen: Vec<StoredEvent> = Vec::new();
    let mut cursor = CommitCursor::default();
    loop {
        let page = reader.read_after(cursor, 25).await.unwrap();
        if let Some(last) = page.last() {
            cursor = CommitCursor::after(last);
            seen.extend(page);
            continue;
        }
        if writers_done.is_cancelled()
            && usize::try_from(support::event_count(&pool).await).unwrap() == seen.len()
        {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "the reader did not catch up with the writers"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn pause_up_to_millis(bound: u64) {
    tokio::time::sleep(Duration::from_millis(support::random_below(bound + 1))).await;
}
