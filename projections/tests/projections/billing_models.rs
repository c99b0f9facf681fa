//! The billing read models (Postgres tables and the Redis hash) follow the account, apply
//! each event once, and hold an invoice that recomputing it from the events gives again.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use domain::billing::{
    BillingCommand, BillingEvent, InvoiceLine, Meter, PriceBook, QuotaPeriod, UsageSource,
    invoice_lines, invoice_total,
};
use eventstore::testing::TestEnv;
use projections::billing::{BILLING_PROJECTION, BillingModel, BillingProjection};
use projections::billing_redis::{BILLING_REDIS_PROJECTION, BillingRedisProjection};
use projections::{Projection, checkpoint};
use sqlx::PgPool;
use uuid::Uuid;

use crate::billing_support::{account_events, accounts, bill, forget_checkpoint, recorded_usages};
use crate::driving::{delivered, fetch_exactly, runner};
use crate::helpers::Publisher;

const INVOICE: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_00b1);

fn on(month: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, month, day, 12, 0, 0).unwrap()
}

fn usage(
    tenant_id: Uuid,
    meter: Meter,
    quantity: i64,
    key: &str,
    now: DateTime<Utc>,
) -> BillingCommand {
    usage_priced(tenant_id, (meter, quantity), key, PriceBook::current(), now)
}

fn usage_priced(
    tenant_id: Uuid,
    (meter, quantity): (Meter, i64),
    key: &str,
    price_book: PriceBook,
    now: DateTime<Utc>,
) -> BillingCommand {
    BillingCommand::RecordUsage {
        tenant_id,
        meter,
        quantity,
        idempotency_key: key.to_owned(),
        source: UsageSource {
            event_id: Uuid::now_v7(),
            aggregate_type: "memory".to_owned(),
            aggregate_id: key.to_owned(),
            run_id: None,
        },
        price_book,
        now,
    }
}

/// January and the start of February on one account: credits, quotas, usage (one usage at
/// a second price book), a quota crossed, January invoiced. Returns the events' count.
async fn a_billed_month(env: &TestEnv, tenant: Uuid) -> i64 {
    let accounts = accounts(env);
    let commands = [
        BillingCommand::GrantCredits {
            tenant_id: tenant,
            amount_micros: 10_000,
            reason: Some("welcome".to_owned()),
            now: on(1, 1),
        },
        BillingCommand::SetQuota {
            tenant_id: tenant,
            meter: Meter::MemoryItems,
            limit: 2,
            period: QuotaPeriod::Day,
            now: on(1, 1),
        },
        BillingCommand::SetQuota {
            tenant_id: tenant,
            meter: Meter::ToolInvocations,
            limit: 100,
            period: QuotaPeriod::Month,
            now: on(1, 1),
        },
        usage(tenant, Meter::MemoryItems, 1, "m1", on(1, 1)),
        usage(tenant, Meter::MemoryItems, 2, "m2", on(1, 1)),
        usage(tenant, Meter::ToolInvocations, 3, "t1", on(1, 2)),
        usage_priced(
            tenant,
            (Meter::ToolInvocations, 1),
            "t2",
            PriceBook {
                version: 2,
                prices: [(Meter::ToolInvocations, 2_000)].into(),
            },
            on(1, 31),
        ),
        usage(tenant, Meter::LlmInputTokens, 1_000, "l1", on(2, 1)),
        usage(tenant, Meter::MemoryItems, 1, "m3", on(2, 1)),
        BillingCommand::RemoveQuota {
            tenant_id: tenant,
            meter: Meter::ToolInvocations,
            now: on(2, 1),
        },
        BillingCommand::CloseBillingPeriod {
            tenant_id: tenant,
            period: "2025-01".to_owned(),
            invoice_id: INVOICE,
            now: on(2, 2),
        },
    ];
    for command in commands {
        bill(&accounts, tenant, command).await;
    }
    i64::try_from(account_events(&env.pool, tenant).await.len()).unwrap()
}

type Ledger = Vec<(i64, String, i64, i64, Option<String>)>;

/// Every row the Postgres models hold for `tenant`.
async fn pg_rows(
    pool: &PgPool,
    tenant: Uuid,
) -> (serde_json::Value, Vec<(String, String, i64, i64)>, Ledger) {
    let account: serde_json::Value = sqlx::query_scalar(
        "SELECT jsonb_build_object('balance', balance_micros, 'quotas', quotas, 'version', version)
           FROM billing_account WHERE id = $1",
    )
    .bind(tenant)
    .fetch_one(pool)
    .await
    .unwrap();
    let usage = sqlx::query_as(
        "SELECT day::text, meter, quantity, amount_micros FROM billing_usage_daily
          WHERE tenant_id = $1 ORDER BY day, meter",
    )
    .bind(tenant)
    .fetch_all(pool)
    .await
    .unwrap();
    let ledger = sqlx::query_as(
        "SELECT sequence, kind, amount_micros, balance_after_micros, meter FROM billing_ledger
          WHERE tenant_id = $1 ORDER BY sequence",
    )
    .bind(tenant)
    .fetch_all(pool)
    .await
    .unwrap();
    (account, usage, ledger)
}

/// Applies every published event to both models, then once more from a lost checkpoint.
async fn project_twice(env: &TestEnv, last: u64) -> (BillingProjection, BillingRedisProjection) {
    let pg = Arc::new(BillingProjection::new(env.pool.clone(), BillingModel));
    let redis = Arc::new(BillingRedisProjection::billing(
        env.redis().await,
        env.redis_prefix.clone(),
    ));
    let count = usize::try_from(last).unwrap();
    let pg_batch =
        delivered(&fetch_exactly(&runner(pg.clone(), env).consumer().await.unwrap(), count).await);
    let redis_batch = delivered(
        &fetch_exactly(&runner(redis.clone(), env).consumer().await.unwrap(), count).await,
    );
    assert_eq!(pg.apply(&pg_batch).await.unwrap(), count);
    assert_eq!(redis.apply(&redis_batch).await.unwrap(), count);
    // Redelivered with the checkpoints lost: the rows' and the hash's versions hold.
    forget_checkpoint(&env.pool, BILLING_PROJECTION).await;
    let mut conn = env.redis().await;
    redis::cmd("DEL")
        .arg(format!(
            "{}:checkpoint:{BILLING_REDIS_PROJECTION}",
            env.redis_prefix
        ))
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    assert_eq!(pg.apply(&pg_batch).await.unwrap(), count, "offered again");
    assert_eq!(redis.apply(&redis_batch).await.unwrap(), 0);
    assert_eq!(
        checkpoint::read(&env.pool, BILLING_PROJECTION)
            .await
            .unwrap(),
        last
    );
    (
        Arc::into_inner(pg).unwrap(),
        Arc::into_inner(redis).unwrap(),
    )
}

#[tokio::test]
async fn billing_read_models_follow_the_account_once_each() {
    let env = TestEnv::new().await;
    let mut publisher = Publisher::new(&env).await;
    let (tenant, other) = (Uuid::now_v7(), Uuid::now_v7());
    let events = a_billed_month(&env, tenant).await;
    let accounts = accounts(&env);
    bill(
        &accounts,
        other,
        usage(other, Meter::MemoryItems, 7, "o1", on(1, 1)),
    )
    .await;
    let last = publisher.publish_all().await;

    let (_, redis) = project_twice(&env, last).await;

    let (account, usage, ledger) = pg_rows(&env.pool, tenant).await;
    let balance = 10_000 - 300 - 3_000 - 2_000 - 3_000 - 100;
    assert_eq!(
        account,
        serde_json::json!({
            "balance": balance,
            "quotas": {"memory_items": {"limit": 2, "period": "day"}},
            "version": events,
        })
    );
    let row = |day: &str, meter: &str, quantity, amount| {
        (day.to_owned(), meter.to_owned(), quantity, amount)
    };
    assert_eq!(
        usage,
        [
            row("2025-01-01", "memory_items", 3, 300),
            row("2025-01-02", "tool_invocations", 3, 3_000),
            row("2025-01-31", "tool_invocations", 1, 2_000),
            row("2025-02-01", "llm_input_tokens", 1_000, 3_000),
            row("2025-02-01", "memory_items", 1, 100),
        ]
    );
    let changes: Vec<(String, i64, i64)> = ledger
        .iter()
        .map(|(_, kind, amount, after, _)| (kind.clone(), *amount, *after))
        .collect();
    assert_eq!(
        changes,
        [
            ("credit".to_owned(), 10_000, 10_000),
            ("usage".to_owned(), -100, 9_900),
            ("usage".to_owned(), -200, 9_700),
            ("usage".to_owned(), -3_000, 6_700),
            ("usage".to_owned(), -2_000, 4_700),
            ("usage".to_owned(), -3_000, 1_700),
            ("usage".to_owned(), -100, balance),
        ]
    );
    assert!(
        ledger.windows(2).all(|pair| pair[0].0 < pair[1].0),
        "in account order"
    );

    let hash: HashMap<String, String> = redis.account_fields(tenant).await.unwrap();
    let mut fields: Vec<(&str, &str)> =
        hash.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    fields.sort_unstable();
    let tenant_text = tenant.to_string();
    let events_text = events.to_string();
    let balance_text = balance.to_string();
    assert_eq!(
        fields,
        [
            ("balance_micros", balance_text.as_str()),
            ("quota:memory_items:limit", "2"),
            ("quota:memory_items:period", "day"),
            ("tenant_id", tenant_text.as_str()),
            // January's counters went with February's first usage of each meter; the
            // tool counters stay until tools are used in February.
            ("used:llm_input_tokens:2025-02", "1000"),
            ("used:llm_input_tokens:2025-02-01", "1000"),
            ("used:memory_items:2025-02", "1"),
            ("used:memory_items:2025-02-01", "1"),
            ("used:tool_invocations:2025-01", "4"),
            ("used:tool_invocations:2025-01-02", "3"),
            ("used:tool_invocations:2025-01-31", "1"),
            ("version", events_text.as_str()),
        ]
    );
    let (_, other_usage, _) = pg_rows(&env.pool, other).await;
    assert_eq!(other_usage, [row("2025-01-01", "memory_items", 7, 700)]);
    env.cleanup().await;
}

#[tokio::test]
async fn an_invoice_recomputed_from_the_stored_usage_equals_the_stored_one() {
    let env = TestEnv::new().await;
    let mut publisher = Publisher::new(&env).await;
    let tenant = Uuid::now_v7();
    a_billed_month(&env, tenant).await;
    let last = publisher.publish_all().await;
    project_twice(&env, last).await;

    let usages = recorded_usages(&env.pool, tenant).await;
    let recomputed = invoice_lines(&usages, "2025-01");
    assert_eq!(
        recomputed,
        [
            InvoiceLine {
                meter: Meter::ToolInvocations,
                quantity: 4,
                amount_micros: 3_000 + 2_000,
            },
            InvoiceLine {
                meter: Meter::MemoryItems,
                quantity: 3,
                amount_micros: 300,
            },
        ],
        "each usage at its own price"
    );
    let issued = account_events(&env.pool, tenant)
        .await
        .into_iter()
        .find_map(|event| match event {
            BillingEvent::InvoiceIssued(issued) => Some(issued),
            _ => None,
        })
        .unwrap();
    assert_eq!(issued.lines, recomputed, "the stored event");
    assert_eq!(issued.total_micros, invoice_total(&recomputed));
    let stored = projections::billing::invoice(&env.pool, tenant, INVOICE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.lines.0, recomputed, "the read model");
    assert_eq!(stored.total_micros, 5_300);
    assert_eq!(stored.period, "2025-01");
    env.cleanup().await;
}
