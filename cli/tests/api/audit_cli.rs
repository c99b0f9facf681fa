//! The `agentos replay` and `agentos audit` commands, run as the real binary against the
//! store a running platform writes.

use std::process::{Command, Output};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, eventually, spawn_app};

/// Runs `agentos <args>` against `app`'s database and namespace.
async fn agentos(app: &TestApp, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_agentos"));
    command
        .args(args)
        .env("DATABASE_URL", &app.env.database_url)
        .env("NATS_URL", eventstore::testing::nats_url())
        .env("AGENTOS_NAMESPACE", app.env.namespace.as_str())
        .env_remove("AGENTOS_AUDIT_SIGNING_KEY")
        .env_remove("AGENTOS_AUDIT_PUBLIC_KEY");
    for (name, value) in extra_env {
        command.env(name, value);
    }
    tokio::task::spawn_blocking(move || command.output().expect("run agentos"))
        .await
        .expect("join")
}

fn stdout_lines(output: &Output) -> Vec<Value> {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect()
}

fn without_chain(records: Vec<Value>) -> Vec<Value> {
    records
        .into_iter()
        .map(|mut record| {
            let fields = record.as_object_mut().expect("object");
            fields.remove("chainindex");
            fields.remove("chainhash");
            record
        })
        .collect()
}

/// Waits until the relay has chained every event of the store.
async fn all_chained(app: &TestApp) {
    eventually("the relay to chain every event", async || {
        let (events, chained): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM audit_chain)",
        )
        .fetch_one(&app.env.pool)
        .await
        .ok()?;
        (events == chained).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_prints_the_same_history_as_the_api_and_filters_alike() {
    let app = spawn_app().await;
    let agent = app.an_agent("replayed").await;
    app.command_ok(agent.id, "pause", &json!({})).await;
    app.another_tenant("globex").await;
    let tenant = app.tenant_id.to_string();
    crate::audit::settled(&app).await;
    all_chained(&app).await;

    let printed = stdout_lines(&agentos(&app, &["replay", "--tenant", &tenant], &[]).await);
    let served = app.get("/v1/audit/events", &[]).await;
    let served: Vec<Value> = served
        .text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(without_chain(printed.clone()), without_chain(served));
    assert_eq!(printed.len(), 4);

    let paused = stdout_lines(
        &agentos(
            &app,
            &[
                "replay",
                "--aggregate-type",
                "agent",
                "--event-type",
                "AgentPaused",
            ],
            &[],
        )
        .await,
    );
    assert_eq!(paused.len(), 1);
    assert_eq!(paused[0]["aggregateid"], agent.id.to_string());
    // Every tenant's events without --tenant, and resuming after a cursor.
    let everything = stdout_lines(&agentos(&app, &["replay"], &[]).await);
    assert_eq!(everything.len(), 6);
    let cursor = everything[3]["cursor"].as_str().unwrap();
    let rest = stdout_lines(&agentos(&app, &["replay", "--after", cursor], &[]).await);
    assert_eq!(without_chain(rest), without_chain(everything[4..].to_vec()));

    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_into_agents_rebuilds_the_projection_and_refuses_filters() {
    let app = spawn_app().await;
    let agent = app.an_agent("rebuilt").await;
    app.read_agent(agent.id, &agent.token).await;

    let output = agentos(&app, &["replay", "--into", "agents"], &[]).await;
    let report = stdout_lines(&output);
    assert_eq!(report[0]["projection"], "agents");
    assert_eq!(report[0]["events"], 1, "the one agent event");
    // Not a terminal: no progress bar on stderr.
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read = app.get(&format!("/v1/agents/{}", agent.id), &[]).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["name"], "rebuilt");

    let filtered = agentos(
        &app,
        &["replay", "--into", "agents", "--aggregate-type", "agent"],
        &[],
    )
    .await;
    assert_eq!(filtered.status.code(), Some(2));
    let unknown = agentos(&app, &["replay", "--into", "robots"], &[]).await;
    assert_eq!(unknown.status.code(), Some(2));
    let bad_time = agentos(&app, &["replay", "--from", "yesterday"], &[]).await;
    assert_eq!(bad_time.status.code(), Some(2));

    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_passes_an_untouched_store_and_names_the_place_of_an_edit() {
    let app = spawn_app().await;
    for name in ["one", "two", "three"] {
        app.an_agent(name).await;
    }
    all_chained(&app).await;

    // A checkpoint signed on demand, then a clean verification,
    let signed = stdout_lines(&agentos(&app, &["audit", "checkpoint"], &[]).await);
    assert_eq!(signed[0]["chain_index"], 5);
    let clean = stdout_lines(&agentos(&app, &["audit", "verify"], &[]).await);
    assert_eq!(clean[0]["verified"], 5);
    assert_eq!(clean[0]["checkpoints"], 1);
    assert_eq!(clean[0]["mismatch"], Value::Null);

    // then an edit in SQL makes it fail, naming the place,
    let (event_id, position): (uuid::Uuid, i64) =
        sqlx::query_as("SELECT event_id, position FROM audit_chain WHERE chain_index = 4")
            .fetch_one(&app.env.pool)
            .await
            .unwrap();
    sqlx::query(
        "UPDATE events SET payload = jsonb_set(payload, '{AgentCreated,config,name}', '\"forged\"')
          WHERE event_id = $1",
    )
    .bind(event_id)
    .execute(&app.env.pool)
    .await
    .unwrap();
    let tampered = agentos(&app, &["audit", "verify"], &[]).await;
    assert_eq!(tampered.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&tampered.stdout).unwrap();
    assert_eq!(report["mismatch"]["problem"], "hash");
    assert_eq!(report["mismatch"]["chain_index"], 4);
    assert_eq!(report["mismatch"]["position"], position);
    let message = String::from_utf8_lossy(&tampered.stderr);
    assert!(message.contains("chain index 4"), "{message}");
    assert!(
        message.contains(&format!("position {position}")),
        "{message}"
    );
    // while verifying only past it (trusting the stored hash before) passes.
    let after = agentos(&app, &["audit", "verify", "--from", "5"], &[]).await;
    assert!(
        after.status.success(),
        "{}",
        String::from_utf8_lossy(&after.stderr)
    );

    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_checks_checkpoints_against_the_public_key_it_is_given() {
    let app = spawn_app().await;
    app.an_agent("signed").await;
    all_chained(&app).await;
    let own_key = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
    let signing = [("AGENTOS_AUDIT_SIGNING_KEY", own_key)];

    let public_key = agentos(&app, &["audit", "public-key"], &signing).await;
    assert!(public_key.status.success());
    let public_key = String::from_utf8_lossy(&public_key.stdout)
        .trim()
        .to_owned();
    assert_eq!(public_key.len(), 44);
    assert!(
        agentos(&app, &["audit", "checkpoint"], &signing)
            .await
            .status
            .success()
    );

    // An auditor with the printed key verifies; one with the development key does not.
    let with_key = agentos(&app, &["audit", "verify", "--public-key", &public_key], &[]).await;
    assert!(
        with_key.status.success(),
        "{}",
        String::from_utf8_lossy(&with_key.stderr)
    );
    let with_default = agentos(&app, &["audit", "verify"], &[]).await;
    assert_eq!(with_default.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&with_default.stdout).unwrap();
    assert_eq!(report["mismatch"]["problem"], "checkpoint_signature");
    let bad_key = agentos(
        &app,
        &["audit", "public-key"],
        &[("AGENTOS_AUDIT_SIGNING_KEY", "short")],
    )
    .await;
    assert!(!bad_key.status.success());

    app.stop().await;
}
