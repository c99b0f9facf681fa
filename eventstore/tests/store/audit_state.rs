//! Point-in-time state: any aggregate folded up to a past version or time with the
//! domain's own `apply`, through a snapshot only when it is not past that point; another
//! tenant's aggregate, or one not created yet, is not found.

use chrono::{Duration, Utc};
use domain::agent::{Agent, AgentCommand};
use domain::billing::{BillingAccount, BillingCommand};
use eventstore::audit::state::REDACTED;
use eventstore::audit::{AggregateStates, StateError};
use eventstore::loader::{AggregateLoader, AsOf, SNAPSHOT_EVERY};
use eventstore::testing::TestEnv;
use eventstore::{CommandBus, RelayWaker};
use uuid::Uuid;

use crate::support::{command_bus, context, given_an_agent, rename_agent};

fn states(env: &TestEnv) -> AggregateStates {
    AggregateStates::new(
        env.pool.clone(),
        AggregateLoader::new(env.pool.clone(), Vec::new()),
    )
}

#[tokio::test]
async fn every_aggregate_type_of_the_domain_can_be_folded() {
    let env = TestEnv::new().await;
    let types: Vec<&str> = states(&env).aggregate_types().collect();
    let mut domain_types: Vec<&str> = domain::catalog::EVENT_TYPES
        .iter()
        .map(|(aggregate_type, _)| *aggregate_type)
        .collect();
    domain_types.sort_unstable();
    assert_eq!(types, domain_types);
    env.cleanup().await;
}

#[tokio::test]
async fn an_agent_reads_as_it_was_at_each_version_and_time() {
    let env = TestEnv::new().await;
    let bus = command_bus(&env);
    let tenant = Uuid::now_v7();
    let states = states(&env);

    // Given an agent created, renamed, then paused, a moment apart,
    let agent_id = given_an_agent(&bus, tenant).await;
    let created = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    bus.execute(
        &agent_id,
        rename_agent(tenant, "Second name"),
        &context(tenant),
    )
    .await
    .unwrap();
    let renamed = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let pause = AgentCommand::PauseAgent {
        tenant_id: tenant,
        reason: None,
        paused_by: "test".to_owned(),
        now: Utc::now(),
    };
    bus.execute(&agent_id, pause, &context(tenant))
        .await
        .unwrap();

    // then each version reads back as the domain folded it then,
    let at = |as_of| states.state(tenant, "agent", &agent_id, as_of);
    let first = at(AsOf::Version(1)).await.unwrap();
    assert_eq!(first.version, 1);
    assert_eq!(first.state["config"]["name"], "Support bot");
    assert_eq!(first.state["status"], "active");
    let second = at(AsOf::Version(2)).await.unwrap();
    assert_eq!(second.state["config"]["name"], "Second name");
    assert_eq!(second.state["config_version"], 2);
    let latest = at(AsOf::Latest).await.unwrap();
    assert_eq!(
        (latest.version, &latest.state["status"]),
        (3, &"paused".into())
    );
    let (folded, _) = bus.load(&agent_id).await.unwrap();
    assert_eq!(latest.state, serde_json::to_value(&folded).unwrap());

    // and so does each moment,
    assert_eq!(at(AsOf::Time(created)).await.unwrap().version, 1);
    assert_eq!(at(AsOf::Time(renamed)).await.unwrap().version, 2);
    assert_eq!(at(AsOf::Time(Utc::now())).await.unwrap().version, 3);
    // while before its creation, past its latest version, or for another tenant, it is not there.
    let before = at(AsOf::Time(first.occurred_at - Duration::seconds(1))).await;
    assert!(matches!(before, Err(StateError::NotFound)), "{before:?}");
    let beyond = at(AsOf::Version(4)).await;
    assert!(
        matches!(beyond, Err(StateError::BeyondLatest { latest: 3 })),
        "{beyond:?}"
    );
    let stranger = states
        .state(Uuid::now_v7(), "agent", &agent_id, AsOf::Latest)
        .await;
    assert!(
        matches!(stranger, Err(StateError::NotFound)),
        "{stranger:?}"
    );
    let unknown = states.state(tenant, "robot", &agent_id, AsOf::Latest).await;
    assert!(
        matches!(unknown, Err(StateError::UnknownType(_))),
        "{unknown:?}"
    );

    env.cleanup().await;
}

#[tokio::test]
async fn a_snapshot_past_the_point_is_not_used() {
    let env = TestEnv::new().await;
    let bus = command_bus(&env);
    let tenant = Uuid::now_v7();
    let agent_id = given_an_agent(&bus, tenant).await;

    // Given 150 events, so a snapshot at 100 exists,
    for n in 2..=150u64 {
        bus.execute(
            &agent_id,
            rename_agent(tenant, &format!("Name {n}")),
            &context(tenant),
        )
        .await
        .unwrap();
    }
    let snapshots: i64 = sqlx::query_scalar("SELECT count(*) FROM snapshots")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(snapshots, 1);

    // then the state at 50 is folded from the start, and the state at 120 equals a full fold.
    let loader = AggregateLoader::new(env.pool.clone(), Vec::new());
    let (at_fifty, version) = loader
        .load_as_of::<Agent>(&agent_id, AsOf::Version(50))
        .await
        .unwrap();
    assert_eq!(version, 50);
    assert_eq!(at_fifty.config().unwrap().name, "Name 50");
    let (through_snapshot, _) = loader
        .load_as_of::<Agent>(&agent_id, AsOf::Version(SNAPSHOT_EVERY + 20))
        .await
        .unwrap();
    sqlx::query("DELETE FROM snapshots")
        .execute(&env.pool)
        .await
        .unwrap();
    let (folded, _) = loader
        .load_as_of::<Agent>(&agent_id, AsOf::Version(SNAPSHOT_EVERY + 20))
        .await
        .unwrap();
    assert_eq!(through_snapshot, folded);
    assert_eq!(folded.config().unwrap().name, "Name 120");

    env.cleanup().await;
}

#[tokio::test]
async fn a_billing_account_and_an_api_key_fold_too_with_the_key_hash_redacted() {
    let env = TestEnv::new().await;
    let states = states(&env);

    // A tenant (and its first key) from the operator command,
    let issued = eventstore::tenants::create_tenant(&env.pool, "acme")
        .await
        .unwrap();
    let tenant = issued.tenant_id;
    let key = states
        .state(tenant, "api_key", &issued.key_id.to_string(), AsOf::Latest)
        .await
        .unwrap();
    assert_eq!(key.state["key_hash"], REDACTED);
    assert_eq!(key.state["scopes"], serde_json::json!(["admin"]));
    let tenant_state = states
        .state(tenant, "tenant", &tenant.to_string(), AsOf::Latest)
        .await
        .unwrap();
    assert_eq!(tenant_state.state["name"], "acme");

    // and a billing account credited twice reads back at each balance.
    let bills = CommandBus::<BillingAccount>::new(env.pool.clone(), (), RelayWaker::default());
    for amount in [5_000_000, 2_000_000] {
        let grant = BillingCommand::GrantCredits {
            tenant_id: tenant,
            amount_micros: amount,
            reason: None,
            now: Utc::now(),
        };
        bills
            .execute(&tenant.to_string(), grant, &context(tenant))
            .await
            .unwrap();
    }
    let account_id = tenant.to_string();
    let account = |as_of| states.state(tenant, "billing_account", &account_id, as_of);
    let latest = account(AsOf::Latest).await.unwrap();
    assert_eq!(latest.state["balance_micros"], 7_000_000);
    let earlier = account(AsOf::Version(latest.version - 1)).await.unwrap();
    assert_eq!(earlier.state["balance_micros"], 5_000_000);

    env.cleanup().await;
}
