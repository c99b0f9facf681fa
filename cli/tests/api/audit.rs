//! Audit reads on the query API: the tenant's history as NDJSON in commit order with a
//! resumable cursor and filters, one request's events across aggregates, and state as it
//! was; never another tenant's; scope `audit:read` (or `admin`); bad input named.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Reply, TestApp, agent_body, bearer, spawn_app};

/// The NDJSON lines of a 200 reply.
fn lines(reply: &Reply) -> Vec<Value> {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.header("content-type"), Some("application/x-ndjson"));
    reply
        .text
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object a line"))
        .collect()
}

fn ids(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["id"].as_str().expect("event id").to_owned())
        .collect()
}

/// Issues a key with `scopes`; its secret.
async fn key_with(app: &TestApp, scopes: &[&str]) -> String {
    let reply = app
        .post(
            "/v1/api-keys",
            &json!({"name": "auditor", "scopes": scopes}),
            &[],
        )
        .await;
    reply.accepted(StatusCode::CREATED);
    reply.body["api_key"].as_str().expect("secret").to_owned()
}

/// The tenant's event ids in commit order, straight from the store.
async fn commit_order(app: &TestApp, tenant: Uuid) -> Vec<String> {
    sqlx::query_scalar::<_, Uuid>(
        "SELECT event_id FROM events WHERE tenant_id = $1 ORDER BY transaction_id, position",
    )
    .bind(tenant)
    .fetch_all(&app.env.pool)
    .await
    .unwrap()
    .iter()
    .map(Uuid::to_string)
    .collect()
}

/// Waits until the history shows every event the store holds for `app`'s tenant: it reads
/// only below the oldest running transaction of the server, like the relay.
pub async fn settled(app: &TestApp) -> Vec<Value> {
    let expected = commit_order(app, app.tenant_id).await;
    crate::helpers::eventually("the history to show every event", async || {
        let all = lines(&app.get("/v1/audit/events", &[]).await);
        (ids(&all) == expected).then_some(all)
    })
    .await
}

/// An agent created, renamed and paused; its id.
async fn a_busy_agent(app: &TestApp, name: &str) -> Uuid {
    let created = app.an_agent(name).await;
    app.command_ok(created.id, "config", &json!({"description": "renamed"}))
        .await;
    app.command_ok(created.id, "pause", &json!({"reason": "audit"}))
        .await;
    created.id
}

#[tokio::test]
async fn the_history_streams_the_tenants_events_in_commit_order_and_resumes_at_the_cursor() {
    let app = spawn_app().await;
    for n in 0..3 {
        a_busy_agent(&app, &format!("agent {n}")).await;
    }
    let expected = commit_order(&app, app.tenant_id).await;
    assert_eq!(expected.len(), 2 + 9, "tenant, first key, three agents");

    // The whole history, as CloudEvents with their cursor, in commit order,
    let all = settled(&app).await;
    assert_eq!(ids(&all), expected);
    assert_eq!(all[0]["type"], "agentos.tenant.TenantCreated.v1");
    assert!(
        all.iter()
            .all(|r| r["tenantid"] == app.tenant_id.to_string())
    );
    // each with its link in the hash chain once the relay has chained it,
    let chained = crate::helpers::eventually("the relay to chain the events", async || {
        let all = lines(&app.get("/v1/audit/events", &[]).await);
        all.iter().all(|r| r["chainindex"].is_i64()).then_some(all)
    })
    .await;
    assert!(
        chained
            .iter()
            .all(|r| r["chainhash"].as_str().is_some_and(|h| h.len() == 64))
    );

    // and page by page with the cursor: no gap, no duplicate.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/v1/audit/events?limit=4&cursor={cursor}"),
            None => "/v1/audit/events?limit=4".to_owned(),
        };
        let page = lines(&app.get(&path, &[]).await);
        assert!(page.len() <= 4);
        let Some(last) = page.last() else { break };
        cursor = Some(last["cursor"].as_str().expect("cursor").to_owned());
        paged.extend(page);
    }
    assert_eq!(ids(&paged), expected);

    app.stop().await;
}

#[tokio::test]
async fn filters_narrow_the_history() {
    let app = spawn_app().await;
    let first = a_busy_agent(&app, "first").await;
    let second = a_busy_agent(&app, "second").await;
    settled(&app).await;
    let ids_of = async |query: &str| {
        ids(&lines(
            &app.get(&format!("/v1/audit/events?{query}"), &[]).await,
        ))
    };

    assert_eq!(ids_of("aggregate_type=agent").await.len(), 6);
    assert_eq!(ids_of("aggregate_type=api_key").await.len(), 1);
    assert_eq!(ids_of(&format!("aggregate_id={first}")).await.len(), 3);
    let paused = lines(
        &app.get("/v1/audit/events?event_type=AgentPaused", &[])
            .await,
    );
    let paused_agents: Vec<&str> = paused
        .iter()
        .map(|r| r["aggregateid"].as_str().unwrap())
        .collect();
    assert_eq!(paused_agents, [first.to_string(), second.to_string()]);

    // A time range: from the second agent's creation on.
    let created = lines(
        &app.get(
            &format!("/v1/audit/events?aggregate_id={second}&limit=1"),
            &[],
        )
        .await,
    );
    let from = created[0]["time"].as_str().unwrap().to_owned();
    let since = ids_of(&format!("aggregate_type=agent&from={}", urlencode(&from))).await;
    assert_eq!(since.len(), 3);
    let before = ids_of(&format!("aggregate_type=agent&until={}", urlencode(&from))).await;
    assert_eq!(before.len(), 3);

    app.stop().await;
}

fn urlencode(text: &str) -> String {
    text.replace(':', "%3A").replace('+', "%2B")
}

#[tokio::test]
async fn a_correlation_lists_every_event_of_one_request_across_aggregates_in_order() {
    let app = spawn_app().await;
    let correlation = Uuid::now_v7().to_string();
    let header = [("x-correlation-id", correlation.as_str())];

    // Given requests made under one correlation id, touching an agent and an API key,
    let created = app
        .post("/v1/agents", &agent_body("correlated"), &header)
        .await
        .accepted(StatusCode::CREATED);
    app.post(
        &format!("/v1/agents/{}/pause", created.id),
        &json!({}),
        &header,
    )
    .await
    .accepted(StatusCode::OK);
    app.post(
        "/v1/api-keys",
        &json!({"name": "k", "scopes": ["agents:read"]}),
        &header,
    )
    .await
    .accepted(StatusCode::CREATED);
    app.an_agent("unrelated").await;
    settled(&app).await;

    // then the correlation lists exactly those events, in commit order.
    let events = lines(
        &app.get(&format!("/v1/audit/correlations/{correlation}"), &[])
            .await,
    );
    let kinds: Vec<&str> = events.iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "agentos.agent.AgentCreated.v1",
            "agentos.agent.AgentPaused.v2",
            "agentos.api_key.ApiKeyIssued.v1"
        ]
    );
    assert!(
        events
            .iter()
            .all(|r| r["correlationid"] == correlation.as_str())
    );
    let filtered = lines(
        &app.get(
            &format!("/v1/audit/events?correlation_id={correlation}"),
            &[],
        )
        .await,
    );
    assert_eq!(ids(&filtered), ids(&events));

    app.stop().await;
}

#[tokio::test]
async fn a_tenant_never_sees_another_tenants_history_or_state() {
    let app = spawn_app().await;
    let correlation = Uuid::now_v7().to_string();
    let ours = app
        .post(
            "/v1/agents",
            &agent_body("ours"),
            &[("x-correlation-id", correlation.as_str())],
        )
        .await
        .accepted(StatusCode::CREATED);
    let other = app.another_tenant("globex").await;
    let as_other = bearer(&other.api_key);
    let theirs = app
        .post(
            "/v1/agents",
            &agent_body("theirs"),
            &[("authorization", &as_other)],
        )
        .await
        .accepted(StatusCode::CREATED);
    crate::helpers::eventually("their history to show their agent", async || {
        let seen = lines(
            &app.get("/v1/audit/events", &[("authorization", &as_other)])
                .await,
        );
        seen.iter()
            .any(|r| r["aggregateid"] == theirs.id.to_string())
            .then_some(())
    })
    .await;

    let ours_seen = settled(&app).await;
    assert!(
        ours_seen
            .iter()
            .all(|r| r["tenantid"] == app.tenant_id.to_string())
    );
    assert!(!ids(&ours_seen).is_empty());
    let theirs_seen = lines(
        &app.get("/v1/audit/events", &[("authorization", &as_other)])
            .await,
    );
    assert!(
        theirs_seen
            .iter()
            .all(|r| r["tenantid"] == other.tenant_id.to_string())
    );
    assert!(
        theirs_seen
            .iter()
            .any(|r| r["aggregateid"] == theirs.id.to_string())
    );
    assert!(
        !theirs_seen
            .iter()
            .any(|r| r["aggregateid"] == ours.id.to_string())
    );
    // Filtering by the other tenant's aggregate or request finds nothing,
    let by_id = app
        .get(&format!("/v1/audit/events?aggregate_id={}", theirs.id), &[])
        .await;
    assert!(lines(&by_id).is_empty());
    let correlated = app
        .get(
            &format!("/v1/audit/correlations/{correlation}"),
            &[("authorization", &as_other)],
        )
        .await;
    assert!(lines(&correlated).is_empty());
    // and its state at any point is a 404, like the resource itself.
    for path in [
        format!("/v1/agents/{}?as_of_version=1", theirs.id),
        format!("/v1/audit/aggregates/agent/{}", theirs.id),
        format!("/v1/audit/aggregates/tenant/{}", other.tenant_id),
    ] {
        app.get(&path, &[])
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not-found");
    }

    app.stop().await;
}

#[tokio::test]
async fn audit_reads_need_the_audit_read_scope_or_admin() {
    let app = spawn_app().await;
    let reader = bearer(&key_with(&app, &["agents:read"]).await);
    let auditor = bearer(&key_with(&app, &["audit:read"]).await);
    let correlation = Uuid::now_v7();
    let tenant_state = format!("/v1/audit/aggregates/tenant/{}", app.tenant_id);
    let paths = [
        "/v1/audit/events".to_owned(),
        format!("/v1/audit/correlations/{correlation}"),
        tenant_state.clone(),
    ];
    for path in &paths {
        let refused = app.get(path, &[("authorization", &reader)]).await;
        refused.assert_problem(StatusCode::FORBIDDEN, "missing-scope");
        assert!(refused.detail().contains("audit:read"), "{}", refused.text);
        let anonymous = app.get(path, &[("authorization", "Bearer nope")]).await;
        anonymous.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
        let allowed = app.get(path, &[("authorization", &auditor)]).await;
        assert_eq!(allowed.status, StatusCode::OK, "{path}: {}", allowed.text);
    }

    app.stop().await;
}

#[tokio::test]
async fn bad_audit_parameters_are_422s_naming_the_parameter() {
    let app = spawn_app().await;
    let agent = app.an_agent("subject").await;

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=10001", "limit"),
        ("limit=many", "limit"),
        ("cursor=garbage!", "cursor"),
        ("cursor=AAAA", "cursor"),
        ("aggregate_type=robot", "aggregate_type"),
        ("aggregate_id=a%00b", "aggregate_id"),
        ("event_type=Agent%20Paused", "event_type"),
        ("correlation_id=not-a-uuid", "correlation_id"),
        ("from=yesterday", "from"),
        ("until=2026-13-01T00:00:00Z", "until"),
        (
            "from=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z",
            "until",
        ),
        ("colour=red", "query"),
    ] {
        let reply = app.get(&format!("/v1/audit/events?{query}"), &[]).await;
        reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
        let fields = reply.error_fields();
        assert!(
            fields.len() == 1 && (fields[0] == field || field == "query"),
            "{query}: {}",
            reply.text
        );
    }
    let id = agent.id;
    for (path, field) in [
        ("/v1/audit/correlations/nope".to_owned(), "id"),
        (
            "/v1/audit/correlations/".to_owned() + &Uuid::nil().to_string() + "?limit=0",
            "limit",
        ),
        (format!("/v1/agents/{id}?as_of=soon"), "as_of"),
        (format!("/v1/agents/{id}?as_of_version=0"), "as_of_version"),
        (format!("/v1/agents/{id}?as_of_version=-1"), "as_of_version"),
        (format!("/v1/agents/{id}?as_of_version=9"), "as_of_version"),
        (
            format!("/v1/agents/{id}?as_of_version=1&as_of=2026-01-01T00:00:00Z"),
            "as_of_version",
        ),
        (format!("/v1/audit/aggregates/robot/{id}"), "aggregate_type"),
        ("/v1/audit/aggregates/agent/nope".to_owned(), "id"),
    ] {
        let reply = app.get(&path, &[]).await;
        reply.assert_invalid(field);
    }

    app.stop().await;
}

#[tokio::test]
async fn resources_read_as_they_were_at_a_version_or_a_time() {
    let app = spawn_app().await;
    let created = app.an_agent("first name").await;
    let id = created.id;
    let renamed = app
        .command_ok(id, "config", &json!({"name": "second name"}))
        .await;
    app.command_ok(id, "pause", &json!({})).await;
    app.read_agent(id, &renamed.token).await;

    // By version: the folded state, the version as ETag,
    let first = app
        .get(&format!("/v1/agents/{id}?as_of_version=1"), &[])
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.header("etag"), Some("\"1\""));
    assert_eq!(first.body["version"], 1);
    assert_eq!(first.body["aggregate_type"], "agent");
    assert_eq!(first.body["state"]["config"]["name"], "first name");
    assert_eq!(first.body["state"]["status"], "active");
    // by time: the state after every event that occurred by then,
    let time = first.body["occurred_at"].as_str().unwrap().to_owned();
    let at_creation = app
        .get(&format!("/v1/agents/{id}?as_of={}", urlencode(&time)), &[])
        .await;
    assert_eq!(at_creation.body["version"], 1, "{}", at_creation.text);
    let now = app
        .get(
            &format!(
                "/v1/audit/aggregates/agent/{id}?as_of={}",
                urlencode(&chrono::Utc::now().to_rfc3339())
            ),
            &[],
        )
        .await;
    assert_eq!(now.body["version"], 3, "{}", now.text);
    assert_eq!(now.body["state"]["status"], "paused");
    // before the agent existed there is nothing,
    app.get(&format!("/v1/agents/{id}?as_of=2000-01-01T00:00:00Z"), &[])
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    // and the current read without a point is the read model as before.
    let current = app.get(&format!("/v1/agents/{id}"), &[]).await;
    assert_eq!(current.body["name"], "second name", "{}", current.text);

    // An API key's past state never shows its hash.
    let keys = app.get("/v1/api-keys", &[]).await;
    let key_id = keys.body["items"][0]["id"].as_str().unwrap().to_owned();
    let key = app
        .get(&format!("/v1/api-keys/{key_id}?as_of_version=1"), &[])
        .await;
    assert_eq!(key.status, StatusCode::OK, "{}", key.text);
    assert_eq!(key.body["state"]["key_hash"], "[redacted]");
    assert!(
        !key.text
            .contains(&eventstore::tenants::hash_key(&app.api_key))
    );

    app.stop().await;
}

#[tokio::test]
async fn every_resource_reads_as_it_was_at_a_version() {
    let app = spawn_app().await;
    let agent = app.an_agent("historian").await.id;
    let tool = app
        .a_tool(&crate::tooling::tool_body("weather", "http://127.0.0.1:9/"))
        .await
        .id;
    let memory = app.a_memory(agent, "Oslo is in Norway").await.id;
    let invocation = app
        .an_invocation(
            tool,
            &crate::tooling::invocation_body(agent, json!({"city": "Oslo"}), "past-1"),
        )
        .await;
    let (webhook, _) = crate::webhooks::subscribe(&app, "http://127.0.0.1:9/hook", &[]).await;
    let scripted = app.a_scripted_agent(&[], json!([{"text": "Hello."}])).await;
    let run = app.a_run(scripted, "Hi").await.id;
    app.finished_run(run).await;
    app.post("/v1/billing/credits", &json!({"amount_micros": 1_000}), &[])
        .await
        .accepted(StatusCode::OK);

    let resources = [
        (format!("/v1/runs/{run}"), "run", run),
        (format!("/v1/tools/{tool}"), "tool", tool),
        (format!("/v1/memories/{memory}"), "memory", memory),
        (
            format!("/v1/invocations/{invocation}"),
            "tool_invocation",
            invocation,
        ),
        (
            format!("/v1/webhooks/{}", webhook.id),
            "webhook_subscription",
            webhook.id,
        ),
        (
            "/v1/billing/account".to_owned(),
            "billing_account",
            app.tenant_id,
        ),
    ];
    for (path, aggregate_type, id) in resources {
        let first = app.get(&format!("{path}?as_of_version=1"), &[]).await;
        assert_eq!(first.status, StatusCode::OK, "{path}: {}", first.text);
        assert_eq!(first.header("etag"), Some("\"1\""), "{path}");
        assert_eq!(first.body["aggregate_type"], aggregate_type, "{path}");
        assert_eq!(first.body["aggregate_id"], json!(id), "{path}");
        assert_eq!(first.body["version"], 1, "{path}");
        app.get(&format!("{path}?as_of_version=0"), &[])
            .await
            .assert_invalid("as_of_version");
        app.get(&format!("{path}?as_of=2000-01-01T00:00:00Z"), &[])
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not-found");
        let current = app.get(&path, &[]).await;
        assert_eq!(current.status, StatusCode::OK, "{path}: {}", current.text);
        assert!(current.body.get("aggregate_type").is_none(), "{path}");
    }
    // A finished run's past: queued at first, its whole history now.
    let first = app
        .get(&format!("/v1/runs/{run}?as_of_version=1"), &[])
        .await;
    assert_eq!(first.body["state"]["status"], "queued", "{}", first.text);
    let memory_then = app
        .get(&format!("/v1/memories/{memory}?as_of_version=1"), &[])
        .await;
    assert!(
        !memory_then.text.contains("Oslo is in Norway"),
        "a memory's past content stays sealed: {}",
        memory_then.text
    );
    app.stop().await;
}
