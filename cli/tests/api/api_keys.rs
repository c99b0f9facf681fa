//! API keys: issued with scopes (the secret shown once), listed without secrets, revoked
//! and expired on both APIs; a missing scope is a 403 naming it; the key cache in Redis
//! is what authentication reads first.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, agent_body, bearer, eventually, spawn_app};

/// Issues a key with `scopes` as the tenant's admin; returns (id, secret).
pub(crate) async fn issue(app: &TestApp, scopes: &[&str]) -> (Uuid, String) {
    let reply = app
        .post(
            "/v1/api-keys",
            &json!({"name": "worker", "scopes": scopes}),
            &[],
        )
        .await;
    let accepted = reply.accepted(StatusCode::CREATED);
    let secret = reply.body["api_key"]
        .as_str()
        .expect("the secret")
        .to_owned();
    assert!(secret.starts_with("agos_"), "{}", reply.text);
    assert_eq!(
        reply.header("location"),
        Some(format!("/v1/api-keys/{}", accepted.id).as_str())
    );
    (accepted.id, secret)
}

/// Waits until `key` is refused with a 401 on both APIs.
async fn until_refused_everywhere(app: &TestApp, key: &str) {
    let auth = bearer(key);
    eventually("both APIs to refuse the key", async || {
        let read = app.get("/v1/agents", &[("authorization", &auth)]).await;
        let write = app
            .post(
                "/v1/agents",
                &agent_body("late"),
                &[("authorization", &auth)],
            )
            .await;
        (read.status == StatusCode::UNAUTHORIZED && write.status == StatusCode::UNAUTHORIZED)
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_key_acts_within_its_scopes_on_both_apis() {
    let app = spawn_app().await;
    let (_, reader) = issue(&app, &["agents:read"]).await;
    let (_, writer) = issue(&app, &["agents:write"]).await;
    let as_reader = bearer(&reader);
    let as_writer = bearer(&writer);

    let created = app
        .post(
            "/v1/agents",
            &agent_body("scoped"),
            &[("authorization", &as_writer)],
        )
        .await
        .accepted(StatusCode::CREATED);
    let read = app
        .get(
            &format!("/v1/agents/{}", created.id),
            &[
                ("authorization", &as_reader),
                ("x-consistency-token", &created.token),
            ],
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);

    let refused = app
        .post(
            "/v1/agents",
            &agent_body("nope"),
            &[("authorization", &as_reader)],
        )
        .await;
    refused.assert_problem(StatusCode::FORBIDDEN, "missing-scope");
    assert!(
        refused.detail().contains("agents:write"),
        "{}",
        refused.text
    );
    assert_eq!(refused.error_fields(), ["scope"]);
    let refused = app
        .get("/v1/agents", &[("authorization", &as_writer)])
        .await;
    refused.assert_problem(StatusCode::FORBIDDEN, "missing-scope");
    assert!(refused.detail().contains("agents:read"), "{}", refused.text);
    // Only admin keys manage keys.
    app.post(
        "/v1/api-keys",
        &json!({"name": "x", "scopes": ["agents:read"]}),
        &[("authorization", &as_writer)],
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "missing-scope");
    app.get("/v1/api-keys", &[("authorization", &as_reader)])
        .await
        .assert_problem(StatusCode::FORBIDDEN, "missing-scope");

    app.stop().await;
}

#[tokio::test]
async fn keys_are_listed_without_secrets_and_only_to_their_tenant() {
    let app = spawn_app().await;
    let (id, secret) = issue(&app, &["agents:read", "memory:read"]).await;
    let reply = app
        .post(
            &format!("/v1/api-keys/{id}/expire"),
            &json!({"expires_at": "2999-01-01T00:00:00Z"}),
            &[],
        )
        .await
        .accepted(StatusCode::OK);

    let list = app
        .get("/v1/api-keys", &[("x-consistency-token", &reply.token)])
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let items = list.body["items"].as_array().expect("items");
    assert_eq!(
        items.len(),
        2,
        "the first key and the new one: {}",
        list.text
    );
    let listed: &Value = items
        .iter()
        .find(|item| item["id"] == id.to_string())
        .expect("the new key is listed");
    assert_eq!(listed["scopes"], json!(["agents:read", "memory:read"]));
    assert_eq!(listed["expires_at"], "2999-01-01T00:00:00Z");
    assert_eq!(listed["version"], 2);
    assert!(!list.text.contains(&secret), "the secret is never listed");
    assert!(!list.text.contains("key_hash"), "nor its hash");

    let other = app.another_tenant("globex").await;
    let as_other = bearer(&other.api_key);
    let theirs = app
        .get("/v1/api-keys", &[("authorization", &as_other)])
        .await;
    let their_ids: Vec<&str> = theirs.body["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|i| i["id"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        !their_ids.contains(&id.to_string().as_str()),
        "{}",
        theirs.text
    );
    app.get(
        &format!("/v1/api-keys/{id}"),
        &[("authorization", &as_other)],
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "not-found");
    for action in ["revoke", "expire"] {
        app.post(
            &format!("/v1/api-keys/{id}/{action}"),
            &json!({}),
            &[("authorization", &as_other)],
        )
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    }

    app.stop().await;
}

#[tokio::test]
async fn a_revoked_key_is_refused_by_both_apis() {
    let app = spawn_app().await;
    let (id, secret) = issue(&app, &["agents:read", "agents:write"]).await;
    let auth = bearer(&secret);
    app.post(
        "/v1/agents",
        &agent_body("before"),
        &[("authorization", &auth)],
    )
    .await
    .accepted(StatusCode::CREATED);

    app.post(
        &format!("/v1/api-keys/{id}/revoke"),
        &json!({"reason": "leaked in a log"}),
        &[],
    )
    .await
    .accepted(StatusCode::OK);
    until_refused_everywhere(&app, &secret).await;
    app.post(&format!("/v1/api-keys/{id}/revoke"), &json!({}), &[])
        .await
        .assert_problem(StatusCode::CONFLICT, "invalid-transition");
    // The admin key that revoked it still works.
    assert_eq!(app.get("/v1/agents", &[]).await.status, StatusCode::OK);

    app.stop().await;
}

#[tokio::test]
async fn an_expired_key_is_refused_by_both_apis() {
    let app = spawn_app().await;
    let (id, secret) = issue(&app, &["agents:read", "agents:write"]).await;
    app.post(&format!("/v1/api-keys/{id}/expire"), &json!({}), &[])
        .await
        .accepted(StatusCode::OK);
    until_refused_everywhere(&app, &secret).await;
    app.post(&format!("/v1/api-keys/{id}/expire"), &json!({}), &[])
        .await
        .assert_problem(StatusCode::CONFLICT, "invalid-transition");

    app.stop().await;
}

#[tokio::test]
async fn bad_key_requests_are_422s_naming_the_field() {
    let app = spawn_app().await;
    for (body, field) in [
        (json!({"name": "k", "scopes": ["agents:fly"]}), "scopes[0]"),
        (json!({"name": "k", "scopes": []}), "scopes"),
        (json!({"name": "", "scopes": ["admin"]}), "name"),
        (
            json!({"name": "k", "scopes": ["admin"], "expires_at": "2001-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            json!({"name": "k", "scopes": ["admin"], "expires_at": "soon"}),
            "expires_at",
        ),
        (json!({"name": "k", "scopes": ["admin"], "owner": "me"}), ""),
    ] {
        let reply = app.post("/v1/api-keys", &body, &[]).await;
        reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
        if !field.is_empty() {
            assert_eq!(
                reply.error_fields().first().map(String::as_str),
                Some(field),
                "{body}"
            );
        }
    }
    app.post("/v1/api-keys/not-a-uuid/revoke", &json!({}), &[])
        .await
        .assert_invalid("id");
    app.post(
        &format!("/v1/api-keys/{}/revoke", Uuid::now_v7()),
        &json!({}),
        &[],
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "not-found");

    app.stop().await;
}

#[tokio::test]
async fn a_replayed_issue_returns_the_same_key_without_its_secret() {
    let app = spawn_app().await;
    let body = json!({"name": "ci", "scopes": ["agents:read"]});
    let key = [("idempotency-key", "issue-ci-key")];
    let first = app.post("/v1/api-keys", &body, &key).await;
    let issued = first.accepted(StatusCode::CREATED);
    assert!(first.body["api_key"].is_string());
    let again = app.post("/v1/api-keys", &body, &key).await;
    assert_eq!(again.accepted(StatusCode::CREATED).id, issued.id);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        again.body["api_key"],
        Value::Null,
        "the secret is shown once"
    );

    app.stop().await;
}

#[tokio::test]
async fn authentication_reads_the_key_cache_first() {
    let app = spawn_app().await;
    // A secret the store has never heard of, which the cache alone vouches for: only a
    // request that consults the cache can get through with it.
    let secret = eventstore::tenants::new_secret();
    let hash = eventstore::tenants::hash_key(&secret);
    let key_id = Uuid::now_v7();
    let prefix = &app.env.redis_prefix;
    let mut redis = app.env.redis().await;
    redis::pipe()
        .set(
            eventstore::tenants::cache_lookup_key(prefix, &hash),
            key_id.to_string(),
        )
        .hset_multiple(
            eventstore::tenants::cache_record_key(prefix, &key_id.to_string()),
            &[
                ("tenant_id", app.tenant_id.to_string()),
                ("key_id", key_id.to_string()),
                ("scopes", "agents:read".to_owned()),
                ("expires_at", String::new()),
                ("revoked", "0".to_owned()),
            ],
        )
        .query_async::<()>(&mut redis)
        .await
        .expect("seed the cache");
    let auth = bearer(&secret);
    let read = app.get("/v1/agents", &[("authorization", &auth)]).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);

    // And the projector fills the cache for real keys.
    let (issued, _) = issue(&app, &["agents:read"]).await;
    let record = eventstore::tenants::cache_record_key(prefix, &issued.to_string());
    eventually("the key cache to hold the new key", async || {
        let fields: std::collections::HashMap<String, String> =
            redis::AsyncCommands::hgetall(&mut redis, &record)
                .await
                .ok()?;
        (fields.get("scopes").map(String::as_str) == Some("agents:read")).then_some(())
    })
    .await;

    app.stop().await;
}
