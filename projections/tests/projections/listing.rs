//! Listing and finding agents in the Postgres read model: tenants, filters, pages.

use std::collections::BTreeMap;

use projections::AgentListFilter;
use projections::agents::AGENTS_PROJECTION;
use uuid::Uuid;

use crate::agents_pg::PgHarness;
use crate::helpers::{all_rows, at, consumer_info};

#[tokio::test]
async fn another_tenants_agent_is_never_listed_nor_found() {
    let mut harness = PgHarness::new().await;
    let (tenant, other_tenant) = (Uuid::now_v7(), Uuid::now_v7());
    let mine = harness.commands.create(tenant, "alpha mine", at(0)).await;
    let theirs = harness
        .commands
        .create(other_tenant, "alpha theirs", at(0))
        .await;
    harness.project().await;

    assert_eq!(harness.get(tenant, theirs).await, None);
    assert_eq!(harness.get(other_tenant, mine).await, None);
    assert_eq!(harness.get(tenant, Uuid::now_v7()).await, None);
    assert_eq!(
        harness.get(other_tenant, theirs).await.unwrap().name,
        "alpha theirs"
    );
    assert_eq!(
        projections::versions::read_model_version(&harness.env.pool, "agent", tenant, theirs)
            .await
            .unwrap()
            .unwrap(),
        0
    );
    assert_eq!(harness.names(tenant, None, None).await, ["alpha mine"]);
    assert_eq!(
        harness.names(tenant, None, Some("alpha")).await,
        ["alpha mine"]
    );
    assert_eq!(
        harness.names(other_tenant, None, None).await,
        ["alpha theirs"]
    );
    assert_eq!(
        harness.names(Uuid::now_v7(), None, None).await,
        Vec::<String>::new()
    );
    harness.env.cleanup().await;
}

#[tokio::test]
async fn listing_filters_by_status_and_by_a_name_prefix_taken_literally() {
    let mut harness = PgHarness::new().await;
    let tenant = Uuid::now_v7();
    let names = [
        "alpha one",
        "alpha two",
        "beta",
        "100%_sure",
        "100%xsure",
        "100x_sure",
        "under_score",
        "underXscore",
        r"back\slash",
        "backXslash",
    ];
    let mut ids = BTreeMap::new();
    for (minute, name) in (0..).zip(names) {
        ids.insert(
            name,
            harness.commands.create(tenant, name, at(minute)).await,
        );
    }
    harness
        .commands
        .pause(tenant, ids["alpha two"], at(20))
        .await;
    harness.commands.archive(tenant, ids["beta"], at(21)).await;
    harness.project().await;

    assert_eq!(harness.names(tenant, None, None).await, names);
    assert_eq!(
        harness.names(tenant, Some("paused"), None).await,
        ["alpha two"]
    );
    assert_eq!(
        harness.names(tenant, Some("archived"), None).await,
        ["beta"]
    );
    let active: Vec<&str> = names
        .iter()
        .copied()
        .filter(|name| !["alpha two", "beta"].contains(name))
        .collect();
    assert_eq!(harness.names(tenant, Some("active"), None).await, active);
    assert_eq!(
        harness.names(tenant, Some("deleted"), None).await,
        Vec::<String>::new()
    );

    assert_eq!(
        harness.names(tenant, None, Some("alpha")).await,
        ["alpha one", "alpha two"]
    );
    assert_eq!(
        harness.names(tenant, Some("active"), Some("alpha")).await,
        ["alpha one"]
    );
    // `%`, `_` and `\` are characters of the name, not LIKE wildcards or escapes.
    assert_eq!(
        harness.names(tenant, None, Some("100%")).await,
        ["100%_sure", "100%xsure"]
    );
    assert_eq!(
        harness.names(tenant, None, Some("100%_")).await,
        ["100%_sure"]
    );
    assert_eq!(
        harness.names(tenant, None, Some("under_")).await,
        ["under_score"]
    );
    assert_eq!(
        harness.names(tenant, None, Some(r"back\")).await,
        [r"back\slash"]
    );
    assert_eq!(
        harness.names(tenant, None, Some("%")).await,
        Vec::<String>::new()
    );
    assert_eq!(
        harness.names(tenant, None, Some("_")).await,
        Vec::<String>::new()
    );
    assert_eq!(harness.names(tenant, None, Some("")).await, names);
    harness.env.cleanup().await;
}

#[tokio::test]
async fn cursor_pagination_walks_every_agent_exactly_once_in_id_order() {
    let mut harness = PgHarness::new().await;
    let (tenant, other_tenant) = (Uuid::now_v7(), Uuid::now_v7());
    let mut mine = Vec::new();
    let mut paused = Vec::new();
    for i in 0..13 {
        let id = harness
            .commands
            .create(tenant, &format!("agent {i}"), at(i))
            .await;
        if i % 3 == 0 {
            harness.commands.pause(tenant, id, at(i)).await;
            paused.push(id);
        }
        mine.push(id);
        if i % 4 == 0 {
            harness
                .commands
                .create(other_tenant, &format!("agent {i}"), at(i))
                .await;
        }
    }
    mine.sort();
    paused.sort();
    harness.project().await;

    let walk = |status: Option<&'static str>, limit: i64| {
        let harness = &harness;
        async move {
            let mut ids = Vec::new();
            let mut page_sizes = Vec::new();
            let mut cursor = None;
            loop {
                let filter = AgentListFilter {
                    status: status.map(str::to_owned),
                    name_prefix: None,
                    limit,
                    cursor,
                };
                let page = harness.list(tenant, filter).await;
                page_sizes.push(page.items.len());
                ids.extend(page.items.iter().map(|agent| agent.id));
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => return (ids, page_sizes),
                }
                assert!(page_sizes.len() <= 20, "pagination does not end");
            }
        }
    };
    assert_eq!(walk(None, 5).await, (mine.clone(), vec![5, 5, 3]));
    assert_eq!(walk(None, 100).await, (mine.clone(), vec![13]));
    assert_eq!(walk(None, 1).await, (mine.clone(), vec![1; 13]));
    // An exact multiple of the page size ends without an empty trailing page.
    assert_eq!(paused.len(), 5);
    assert_eq!(walk(Some("paused"), 5).await, (paused.clone(), vec![5]));
    assert_eq!(walk(Some("paused"), 2).await, (paused, vec![2, 2, 1]));

    // A cursor the server did not make reads as "from the start".
    let garbage = AgentListFilter {
        limit: 3,
        cursor: Some("not a cursor!".to_owned()),
        ..AgentListFilter::default()
    };
    let page = harness.list(tenant, garbage).await;
    assert_eq!(
        page.items.iter().map(|a| a.id).collect::<Vec<_>>(),
        mine[..3]
    );

    // Every event was delivered, and both tenants' agents are in the table.
    let info = consumer_info(&harness.env, AGENTS_PROJECTION).await;
    assert_eq!(info.num_pending, 0);
    assert_eq!(all_rows(&harness.env.pool).await.len(), 13 + 4);
    harness.env.cleanup().await;
}
