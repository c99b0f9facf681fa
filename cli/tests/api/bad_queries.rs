//! The query API names the bad parameter or header in a problem+json, never a 500.

use reqwest::{Method, StatusCode};
use uuid::Uuid;

use cli::Role;

use crate::helpers::{send, spawn_app, spawn_app_with};

#[tokio::test]
async fn list_parameters_out_of_range_are_422s_naming_the_parameter() {
    let app = spawn_app().await;

    for (query, field) in [
        ("status=deleted", "status"),
        ("status=", "status"),
        ("limit=0", "limit"),
        ("limit=500", "limit"),
        ("limit=-3", "limit"),
        ("limit=many", "limit"),
        ("cursor=garbage!", "cursor"),
        ("cursor=AAAA", "cursor"),
        (&format!("name_prefix={}", "n".repeat(101)), "name_prefix"),
    ] {
        let reply = app.get(&format!("/v1/agents?{query}"), &[]).await;
        reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
        assert_eq!(reply.error_fields(), [field], "{query}: {}", reply.text);
        let message = reply.body["errors"][0]["message"].as_str().unwrap_or("");
        assert!(!message.starts_with(field), "{query}: {}", reply.text);
    }
    for query in ["status=active", "limit=1", "limit=200", "name_prefix=bill"] {
        let reply = app.get(&format!("/v1/agents?{query}"), &[]).await;
        assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.text);
    }

    app.stop().await;
}

#[tokio::test]
async fn a_nul_or_control_character_in_a_list_parameter_is_a_422_naming_it() {
    let app = spawn_app().await;

    // Postgres text cannot hold NUL, so none may reach the database as a 500.
    for (query, field) in [
        ("name_prefix=a%00b", "name_prefix"),
        ("name_prefix=%00", "name_prefix"),
        ("name_prefix=a%07b", "name_prefix"),
        ("name_prefix=a%0Ab", "name_prefix"),
        ("status=active%00", "status"),
        ("cursor=%00", "cursor"),
        ("cursor=AAAAAAAAAAAAAAAAAAAAAA%00", "cursor"),
    ] {
        let reply = app.get(&format!("/v1/agents?{query}"), &[]).await;
        reply.assert_invalid(field);
        assert_eq!(reply.error_fields(), [field], "{query}: {}", reply.text);
    }

    app.stop().await;
}

#[tokio::test]
async fn an_unknown_query_parameter_is_a_422_naming_it() {
    let app = spawn_app().await;

    let reply = app.get("/v1/agents?colour=blue", &[]).await;
    reply.assert_invalid("colour");
    let message = reply.body["errors"][0]["message"]
        .as_str()
        .expect("message");
    assert!(message.starts_with("unknown field `colour`"), "{message}");
    let reply = app.get("/v1/agents?limit=1&limit=2", &[]).await;
    reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert!(reply.detail().contains("`limit`"), "{}", reply.text);

    app.stop().await;
}

#[tokio::test]
async fn a_garbage_consistency_token_is_a_422() {
    let app = spawn_app().await;
    let agent = app.an_agent("tokened").await;
    let path = format!("/v1/agents/{}", agent.id);
    let foreign = eventstore::ConsistencyToken {
        aggregate_type: "invoice".into(),
        aggregate_id: agent.id.to_string(),
        version: 1,
    }
    .encode();
    let nameless = eventstore::ConsistencyToken {
        aggregate_type: "agent".into(),
        aggregate_id: "not-a-uuid".into(),
        version: 1,
    }
    .encode();

    for token in [
        "garbage",
        "djE6YWdlbnQ",
        foreign.as_str(),
        nameless.as_str(),
    ] {
        for path in [path.as_str(), "/v1/agents"] {
            let reply = app.get(path, &[("x-consistency-token", token)]).await;
            reply.assert_invalid("X-Consistency-Token");
        }
    }

    app.stop().await;
}

#[tokio::test]
async fn an_unknown_agent_is_a_404() {
    let app = spawn_app().await;
    let agent = app.an_agent("known").await;
    app.read_agent(agent.id, &agent.token).await;

    let unknown = Uuid::now_v7();
    for path in [
        format!("/v1/agents/{unknown}"),
        format!("/v1/agents/{unknown}/status"),
    ] {
        app.get(&path, &[])
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not-found");
    }
    app.get("/v1/agents/not-a-uuid", &[])
        .await
        .assert_invalid("id");
    send(app.query(Method::GET, "/v1/nothing"))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");

    app.stop().await;
}

#[tokio::test]
async fn reads_without_a_valid_api_key_are_401s() {
    let app = spawn_app().await;
    let agent = app.an_agent("guarded").await;

    for path in [
        "/v1/agents".to_owned(),
        format!("/v1/agents/{}", agent.id),
        format!("/v1/agents/{}/status", agent.id),
    ] {
        let reply = send(app.client.get(format!("{}{path}", app.query_url))).await;
        reply.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
        let reply = app
            .get(&path, &[("authorization", "Bearer agos_revoked")])
            .await;
        reply.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    }

    app.stop().await;
}

#[tokio::test]
async fn a_query_api_started_before_any_projector_answers_reads() {
    let app = spawn_app_with(300, &[Role::QueryApi]).await;

    let list = app.get("/v1/agents", &[]).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert_eq!(list.body["items"], serde_json::json!([]));
    app.get(&format!("/v1/agents/{}", Uuid::now_v7()), &[])
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");

    app.stop().await;
}
