//! The command API turns every bad request into a problem+json naming what is wrong,
//! never a 500.

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{agent_body, send, spawn_app};

#[tokio::test]
async fn malformed_json_is_a_400() {
    let app = spawn_app().await;

    let trailing = format!("{} trailing", agent_body("trailing"));
    for body in [r#"{"name": "#, "not json", "", trailing.as_str()] {
        let reply = send(
            app.command(Method::POST, "/v1/agents")
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_owned()),
        )
        .await;
        reply.assert_problem(StatusCode::BAD_REQUEST, "malformed-json");
    }

    app.stop().await;
}

#[tokio::test]
async fn a_field_of_the_wrong_type_is_a_422_naming_its_path() {
    let app = spawn_app().await;

    let mut body = agent_body("typed");
    body["model"]["temperature"] = json!("hot");
    app.create_agent(&body)
        .await
        .assert_invalid("model.temperature");

    let mut body = agent_body("typed");
    body["tool_ids"] = json!(["not-a-uuid"]);
    let reply = app.create_agent(&body).await;
    reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert!(
        reply.error_fields()[0].starts_with("tool_ids"),
        "{}",
        reply.text
    );

    app.stop().await;
}

#[tokio::test]
async fn an_unknown_field_is_a_422_naming_it() {
    let app = spawn_app().await;

    let mut body = agent_body("strict");
    body["colour"] = json!("blue");
    let reply = app.create_agent(&body).await;
    reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert!(reply.detail().contains("`colour`"), "{}", reply.text);
    assert_eq!(reply.error_fields().len(), 1);

    let mut body = agent_body("strict");
    body["model"]["top_p"] = json!(0.9);
    let reply = app.create_agent(&body).await;
    reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert!(reply.detail().contains("`top_p`"), "{}", reply.text);

    app.stop().await;
}

#[tokio::test]
async fn a_missing_required_field_is_a_422_naming_it() {
    let app = spawn_app().await;

    let mut body = agent_body("incomplete");
    body.as_object_mut().expect("object").remove("model");
    let reply = app.create_agent(&body).await;
    reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert!(reply.detail().contains("`model`"), "{}", reply.text);

    let mut body = agent_body("incomplete");
    body["model"]
        .as_object_mut()
        .expect("object")
        .remove("provider");
    let reply = app.create_agent(&body).await;
    reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert!(reply.detail().contains("`provider`"), "{}", reply.text);

    app.stop().await;
}

#[tokio::test]
async fn values_that_break_a_rule_are_422s_naming_the_field() {
    let app = spawn_app().await;

    for (name, field) in [
        (String::new(), "name"),
        ("   ".to_owned(), "name"),
        ("x".repeat(101), "name"),
    ] {
        app.create_agent(&json!({"name": name, "model": {"provider": "p", "name": "m"}}))
            .await
            .assert_invalid(field);
    }
    let mut body = agent_body("too-hot");
    body["model"]["temperature"] = json!(2.5);
    app.create_agent(&body)
        .await
        .assert_invalid("model.temperature");
    let accepted = app
        .create_agent(&json!({"name": "é".repeat(100), "model": {"provider": "p", "name": "m"}}))
        .await;
    assert_eq!(
        accepted.status,
        StatusCode::CREATED,
        "100 characters is fine"
    );

    let reply = app
        .create_agent(
            &json!({"name": "", "model": {"provider": "", "name": "m", "temperature": -1}}),
        )
        .await;
    reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(
        reply.error_fields(),
        ["name", "model.provider", "model.temperature"],
        "every violation is reported"
    );

    app.stop().await;
}

#[tokio::test]
async fn a_nul_character_in_any_text_field_is_a_422_naming_it_and_appends_nothing() {
    let app = spawn_app().await;
    let agent = app.an_agent("nul-free").await;
    // Postgres refuses NUL in text and jsonb, so letting one through would be a 500.
    let nul = "a\u{0}b";

    let mut cases = Vec::new();
    for (pointer, field) in [
        ("/name", "name"),
        ("/description", "description"),
        ("/model/provider", "model.provider"),
        ("/model/name", "model.name"),
        ("/system_prompt", "system_prompt"),
    ] {
        let mut body = agent_body("nul");
        *body.pointer_mut(pointer).expect("field in the body") = json!(nul);
        cases.push(("/v1/agents".to_owned(), body, field));
    }
    let mut body = agent_body("nul-key");
    body["metadata"] = json!({});
    body["metadata"][nul] = json!("billing");
    cases.push(("/v1/agents".to_owned(), body, "metadata"));
    let mut body = agent_body("nul-value");
    body["metadata"] = json!({"team": nul});
    cases.push(("/v1/agents".to_owned(), body, "metadata.team"));
    let config = format!("/v1/agents/{}/config", agent.id);
    for (body, field) in [
        (json!({"name": nul}), "name"),
        (json!({"system_prompt": nul}), "system_prompt"),
        (json!({"metadata": {"team": nul}}), "metadata.team"),
    ] {
        cases.push((config.clone(), body, field));
    }
    for action in ["pause", "archive"] {
        let path = format!("/v1/agents/{}/{action}", agent.id);
        cases.push((path, json!({"reason": nul}), "reason"));
    }

    for (path, body, field) in cases {
        assert!(body.to_string().contains("\\u0000"), "sent as JSON \\u0000");
        let reply = app.post(&path, &body, &[]).await;
        reply.assert_invalid(field);
        assert_eq!(reply.error_fields(), [field], "{path}: {}", reply.text);
        let message = reply.body["errors"][0]["message"].as_str().unwrap_or("");
        assert!(message.contains("NUL"), "{path}: {}", reply.text);
    }
    assert_eq!(
        app.event_count().await,
        1,
        "only the first agent was stored"
    );

    app.stop().await;
}

#[tokio::test]
async fn identifiers_refuse_control_characters_but_free_text_keeps_its_line_breaks() {
    let app = spawn_app().await;

    for (pointer, field) in [("/name", "name"), ("/model/provider", "model.provider")] {
        let mut body = agent_body("bell");
        *body.pointer_mut(pointer).expect("field in the body") = json!("ding\u{7}");
        app.create_agent(&body).await.assert_invalid(field);
    }
    let mut body = agent_body("bell");
    body["metadata"] = json!({"line\nbreak": "v"});
    app.create_agent(&body).await.assert_invalid("metadata");
    assert_eq!(app.event_count().await, 0);

    let mut body = agent_body("laid out");
    body["description"] = json!("Line one\r\nLine two");
    body["system_prompt"] = json!("Rules:\n\t- be brief");
    body["metadata"] = json!({"notes": "one\ntwo"});
    let created = app.create_agent(&body).await.accepted(StatusCode::CREATED);
    let reason = json!({"reason": "Budget review:\n\twait for finance"});
    let paused = app.command_ok(created.id, "pause", &reason).await;
    let read = app.read_agent(created.id, &paused.token).await;
    assert_eq!(
        read.body["description"], "Line one\r\nLine two",
        "{}",
        read.text
    );
    assert_eq!(read.body["system_prompt"], "Rules:\n\t- be brief");
    assert_eq!(read.body["metadata"]["notes"], "one\ntwo");
    assert_eq!(read.body["status"], "paused");

    app.stop().await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_415() {
    let app = spawn_app().await;
    let body = agent_body("untyped").to_string();

    let reply = send(app.command(Method::POST, "/v1/agents").body(body.clone())).await;
    reply.assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
    let reply = send(
        app.command(Method::POST, "/v1/agents")
            .header(CONTENT_TYPE, "text/plain")
            .body(body),
    )
    .await;
    reply.assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");

    app.stop().await;
}

#[tokio::test]
async fn a_request_without_a_valid_api_key_is_a_401_with_a_challenge() {
    let app = spawn_app().await;
    let url = format!("{}/v1/agents", app.command_url);
    let body = agent_body("anonymous").to_string();

    let unauthenticated = app
        .client
        .post(&url)
        .header(CONTENT_TYPE, "application/json")
        .body(body.clone());
    let reply = send(unauthenticated).await;
    reply.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"));

    for authorization in [
        "Bearer agos_not-a-real-key",
        "Bearer something-else",
        "Basic YWxhZGRpbjpvcGVuc2VzYW1l",
        "Bearer ",
    ] {
        let reply = app
            .post(
                "/v1/agents",
                &agent_body("forged"),
                &[("authorization", authorization)],
            )
            .await;
        reply.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    }
    assert_eq!(app.event_count().await, 0);

    // The scheme name is case-insensitive.
    let lowercase = format!("bearer {}", app.api_key);
    let reply = app
        .post(
            "/v1/agents",
            &agent_body("casual"),
            &[("authorization", &lowercase)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);

    app.stop().await;
}

#[tokio::test]
async fn an_id_that_is_not_a_uuid_is_a_422_naming_id() {
    let app = spawn_app().await;

    for action in ["pause", "resume", "archive", "config"] {
        app.post(&format!("/v1/agents/not-a-uuid/{action}"), &json!({}), &[])
            .await
            .assert_invalid("id");
    }

    app.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_are_problems() {
    let app = spawn_app().await;

    let reply = send(app.command(Method::GET, "/v1/nothing")).await;
    reply.assert_problem(StatusCode::NOT_FOUND, "not-found");
    let reply = app.post("/v2/agents", &agent_body("lost"), &[]).await;
    reply.assert_problem(StatusCode::NOT_FOUND, "not-found");
    let reply = send(app.command(Method::GET, "/v1/agents")).await;
    reply.assert_problem(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed");
    let path = format!("/v1/agents/{}/pause", Uuid::now_v7());
    let reply = send(app.command(Method::DELETE, &path)).await;
    reply.assert_problem(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed");
    let reply = send(app.query(Method::POST, "/v1/agents")).await;
    reply.assert_problem(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed");

    app.stop().await;
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_a_413() {
    let app = spawn_app().await;
    let mut body = agent_body("huge");
    body["system_prompt"] = json!("x".repeat(1024 * 1024));

    let reply = app.create_agent(&body).await;
    reply.assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "body");
    assert_eq!(app.event_count().await, 0);

    app.stop().await;
}

#[tokio::test]
async fn malformed_correlation_ids_and_if_match_headers_are_422s() {
    let app = spawn_app().await;
    let agent = app.an_agent("headers").await;

    let reply = app
        .post(
            "/v1/agents",
            &agent_body("correlated"),
            &[("x-correlation-id", "not-a-uuid")],
        )
        .await;
    reply.assert_invalid("X-Correlation-Id");
    let reply = app.get("/v1/agents", &[("x-correlation-id", "42")]).await;
    reply.assert_invalid("X-Correlation-Id");

    for if_match in ["\"two\"", "yesterday", "\"-1\""] {
        let reply = app
            .post(
                &format!("/v1/agents/{}/pause", agent.id),
                &json!({}),
                &[("if-match", if_match)],
            )
            .await;
        reply.assert_invalid("If-Match");
    }
    assert_eq!(app.event_count().await, 1);

    app.stop().await;
}

#[tokio::test]
async fn a_config_update_that_changes_nothing_is_a_422() {
    let app = spawn_app().await;
    let agent = app.an_agent("unchanged").await;

    let reply = app
        .post(&format!("/v1/agents/{}/config", agent.id), &json!({}), &[])
        .await;
    reply.assert_invalid("body");
    let reply = app
        .post(
            &format!("/v1/agents/{}/config", agent.id),
            &json!({"name": ""}),
            &[],
        )
        .await;
    reply.assert_invalid("name");
    assert_eq!(app.event_count().await, 1);

    app.stop().await;
}

#[tokio::test]
async fn pausing_a_paused_agent_is_a_409_invalid_transition() {
    let app = spawn_app().await;
    let agent = app.an_agent("sleepy").await;
    app.command_ok(agent.id, "pause", &json!({})).await;

    let path = format!("/v1/agents/{}/pause", agent.id);
    let reply = app.post(&path, &json!({}), &[]).await;
    reply.assert_problem(StatusCode::CONFLICT, "invalid-transition");
    assert!(reply.detail().contains("paused"), "{}", reply.text);
    let path = format!("/v1/agents/{}/resume", agent.id);
    app.post(&path, &json!({}), &[])
        .await
        .accepted(StatusCode::OK);
    app.post(&path, &json!({}), &[])
        .await
        .assert_problem(StatusCode::CONFLICT, "invalid-transition");

    app.stop().await;
}

#[tokio::test]
async fn an_archived_agent_accepts_no_more_commands() {
    let app = spawn_app().await;
    let agent = app.an_agent("retired").await;
    app.command_ok(agent.id, "archive", &json!({})).await;

    for (action, body) in [
        ("pause", json!({})),
        ("resume", json!({})),
        ("config", json!({"name": "revived"})),
        ("archive", json!({})),
    ] {
        let path = format!("/v1/agents/{}/{action}", agent.id);
        let reply = app.post(&path, &body, &[]).await;
        reply.assert_problem(StatusCode::CONFLICT, "invalid-transition");
        assert!(reply.detail().contains("archived"), "{}", reply.text);
    }
    assert_eq!(app.event_count().await, 2);

    app.stop().await;
}

#[tokio::test]
async fn commands_on_an_unknown_agent_are_404s() {
    let app = spawn_app().await;

    for (action, body) in [
        ("pause", json!({})),
        ("resume", json!({})),
        ("config", json!({"name": "ghost"})),
        ("archive", json!({})),
    ] {
        let path = format!("/v1/agents/{}/{action}", Uuid::now_v7());
        let reply = app.post(&path, &body, &[]).await;
        reply.assert_problem(StatusCode::NOT_FOUND, "not-found");
    }
    assert_eq!(app.event_count().await, 0);

    app.stop().await;
}
