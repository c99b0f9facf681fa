//! Bad memory reads are problem+json naming the parameter, never a 500.

use reqwest::StatusCode;
use uuid::Uuid;

use crate::helpers::spawn_app;

#[tokio::test]
async fn bad_parameters_are_422s_naming_the_parameter() {
    let app = spawn_app().await;
    let agent = app.an_agent("support-bot").await;
    let search = format!("/v1/agents/{}/memories/search", agent.id);
    let list = format!("/v1/agents/{}/memories", agent.id);
    let recent = format!("/v1/agents/{}/memories/recent", agent.id);
    let long_query = "q".repeat(501);
    let many_tags = vec!["t"; 33].join(",");
    let long_tag = "t".repeat(65);

    let cases = [
        (search.clone(), "q"),
        (format!("{search}?q="), "q"),
        (format!("{search}?q=%20%20"), "q"),
        (format!("{search}?q={long_query}"), "q"),
        (format!("{search}?q=a%00b"), "q"),
        (format!("{search}?q=a%07b"), "q"),
        (format!("{search}?q=a%0Ab"), "q"),
        (format!("{search}?q=x&kind=fact"), "kind"),
        (format!("{search}?q=x&kind="), "kind"),
        (format!("{search}?q=x&tags="), "tags"),
        (format!("{search}?q=x&tags=a,,b"), "tags"),
        (format!("{search}?q=x&tags={many_tags}"), "tags"),
        (format!("{search}?q=x&tags={long_tag}"), "tags"),
        (format!("{search}?q=x&tags=a%00"), "tags"),
        (format!("{search}?q=x&limit=0"), "limit"),
        (format!("{search}?q=x&limit=101"), "limit"),
        (format!("{search}?q=x&limit=many"), "limit"),
        (format!("{search}?q=x&colour=blue"), "colour"),
        (format!("{list}?limit=0"), "limit"),
        (format!("{list}?limit=201"), "limit"),
        (format!("{list}?kind=fact"), "kind"),
        (format!("{list}?cursor=garbage!"), "cursor"),
        (format!("{list}?cursor=%00"), "cursor"),
        (format!("{list}?colour=blue"), "colour"),
        (format!("{recent}?limit=0"), "limit"),
        (format!("{recent}?limit=51"), "limit"),
        (format!("{recent}?colour=blue"), "colour"),
    ];
    for (path, field) in cases {
        let reply = app.get(&path, &[]).await;
        reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
        assert_eq!(reply.error_fields(), [field], "{path}: {}", reply.text);
    }
    for path in [
        format!("{search}?q=x&limit=100&kind=core&tags=a,b"),
        format!("{search}?q={}", "q".repeat(500)),
        format!("{list}?limit=200&kind=episodic"),
        format!("{recent}?limit=50"),
    ] {
        let reply = app.get(&path, &[]).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text);
    }

    app.stop().await;
}

#[tokio::test]
async fn a_bad_id_is_a_422_and_an_unknown_one_a_404() {
    let app = spawn_app().await;
    let nobody = Uuid::now_v7();

    for path in [
        "/v1/memories/not-a-uuid",
        "/v1/memories/not-a-uuid/history",
        "/v1/agents/not-a-uuid/memories",
        "/v1/agents/not-a-uuid/memories/search?q=x",
        "/v1/agents/not-a-uuid/memories/recent",
    ] {
        app.get(path, &[]).await.assert_invalid("id");
    }
    for path in [
        format!("/v1/memories/{nobody}"),
        format!("/v1/memories/{nobody}/history"),
        format!("/v1/agents/{nobody}/memories"),
        format!("/v1/agents/{nobody}/memories/search?q=x"),
        format!("/v1/agents/{nobody}/memories/recent"),
    ] {
        app.get(&path, &[])
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not-found");
    }

    app.stop().await;
}
