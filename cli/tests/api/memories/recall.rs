//! Recall: ranked full-text search, an agent's memory list a page at a time, and the hot
//! list of recent memories.

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use super::item_ids;
use crate::helpers::{eventually, spawn_app};

#[tokio::test]
async fn search_matches_words_and_filters_by_kind_and_tags() {
    let app = spawn_app().await;
    let agent = app.an_agent("support-bot").await;
    let record = |kind: &str, content: &str, tags: serde_json::Value| json!({"kind": kind, "content": content, "tags": tags});
    let email = app
        .record_memory(
            agent.id,
            &record(
                "semantic",
                "Prefers invoices sent by email.",
                json!(["billing", "email"]),
            ),
        )
        .await
        .accepted(StatusCode::CREATED);
    let post = app
        .record_memory(
            agent.id,
            &record(
                "episodic",
                "Asked for an invoice by post on Monday.",
                json!(["billing"]),
            ),
        )
        .await
        .accepted(StatusCode::CREATED);
    let cat = app
        .record_memory(
            agent.id,
            &record("core", "Has a cat called Tom.", json!(["personal"])),
        )
        .await
        .accepted(StatusCode::CREATED);
    let other_agent = app.an_agent("other-bot").await;
    let elsewhere = app
        .record_memory(
            other_agent.id,
            &record("semantic", "Invoices go to the CFO.", json!([])),
        )
        .await
        .accepted(StatusCode::CREATED);
    let base = format!("/v1/agents/{}/memories/search", agent.id);
    let token = cat.token.as_str();
    app.read_after(&format!("/v1/memories/{}", email.id), &email.token)
        .await;
    app.read_after(&format!("/v1/memories/{}", post.id), &post.token)
        .await;
    app.read_after(&format!("/v1/memories/{}", elsewhere.id), &elsewhere.token)
        .await;

    let search = async |query: &str| {
        let reply = app.read_after(&format!("{base}?{query}"), token).await;
        let mut ids = item_ids(&reply);
        ids.sort();
        ids
    };
    let mut both = vec![email.id, post.id];
    both.sort();
    // "invoices" and "invoice" share a stem; only this agent's memories are searched.
    assert_eq!(search("q=invoices").await, both);
    assert_eq!(search("q=invoice&kind=episodic").await, [post.id]);
    assert_eq!(search("q=invoice&tags=billing").await, both);
    assert_eq!(search("q=invoice&tags=billing,email").await, [email.id]);
    assert_eq!(search("q=invoice&tags=personal").await, Vec::<Uuid>::new());
    assert_eq!(search("q=%22by%20email%22").await, [email.id]);
    assert_eq!(search("q=invoice%20-post").await, [email.id]);
    assert_eq!(search("q=cat%20or%20email").await, {
        let mut ids = vec![email.id, cat.id];
        ids.sort();
        ids
    });
    assert_eq!(search("q=invoice&limit=1").await.len(), 1);
    // No match, or a query of stop words only, is an empty list rather than an error.
    assert_eq!(search("q=dinosaurs").await, Vec::<Uuid>::new());
    assert_eq!(search("q=the").await, Vec::<Uuid>::new());

    let reply = app.read_after(&format!("{base}?q=cat"), token).await;
    let hit = &reply.body["items"][0];
    assert_eq!(hit["content"], "Has a cat called Tom.");
    assert_eq!(hit["kind"], "core");
    let score = hit["score"].as_f64().expect("score");
    assert!(score > 0.0 && score <= 1.0, "{score}");

    app.stop().await;
}

#[tokio::test]
async fn search_ranks_the_more_relevant_and_then_the_more_important_first() {
    let app = spawn_app().await;
    let agent = app.an_agent("support-bot").await;
    let record = async |content: &str, importance: f64| {
        app.record_memory(
            agent.id,
            &json!({"kind": "semantic", "content": content, "importance": importance}),
        )
        .await
        .accepted(StatusCode::CREATED)
    };
    // Each pair is recorded better-ranked first, so recency alone would order it the other
    // way round. Same importance: the memory that is more about refunds ranks first.
    let focused = record(
        "Refunds: wants refunds to the card; refunds take five days.",
        0.5,
    )
    .await;
    let passing = record("Mentioned refunds once while ordering shoes.", 0.5).await;
    // Same text: the more important memory ranks first.
    let major = record("Sent a postcard.", 0.9).await;
    let minor = record("Sent a postcard.", 0.1).await;
    let base = format!("/v1/agents/{}/memories/search", agent.id);

    let refunds = app
        .read_after(&format!("{base}?q=refunds"), &minor.token)
        .await;
    assert_eq!(item_ids(&refunds), [focused.id, passing.id]);
    let scores: Vec<f64> = refunds.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| hit["score"].as_f64().unwrap())
        .collect();
    assert!(scores[0] > scores[1], "{scores:?}");
    let postcards = app
        .read_after(&format!("{base}?q=postcard"), &minor.token)
        .await;
    assert_eq!(item_ids(&postcards), [major.id, minor.id]);
    app.stop().await;
}

#[tokio::test]
async fn an_agents_memories_list_a_page_at_a_time_with_forgotten_ones_without_content() {
    let app = spawn_app().await;
    let agent = app.an_agent("support-bot").await;
    let mut ids = Vec::new();
    for (i, kind) in ["core", "semantic", "episodic", "semantic", "semantic"]
        .iter()
        .enumerate()
    {
        let body = json!({"kind": kind, "content": format!("fact {i}")});
        ids.push(
            app.record_memory(agent.id, &body)
                .await
                .accepted(StatusCode::CREATED),
        );
    }
    let forgotten = app
        .memory_command(ids[1].id, "forget", &json!({}))
        .await
        .accepted(StatusCode::OK);
    app.read_after(&format!("/v1/memories/{}", ids[4].id), &ids[4].token)
        .await;
    let path = format!("/v1/agents/{}/memories", agent.id);

    let first = app
        .read_after(&format!("{path}?limit=2"), &forgotten.token)
        .await;
    assert_eq!(item_ids(&first), [ids[0].id, ids[1].id]);
    assert_eq!(first.body["items"][1]["status"], "forgotten");
    assert_eq!(first.body["items"][1]["content"], json!(null));
    let cursor = first.body["next_cursor"].as_str().expect("a next page");
    let second = app
        .get(&format!("{path}?limit=2&cursor={cursor}"), &[])
        .await;
    assert_eq!(item_ids(&second), [ids[2].id, ids[3].id]);
    let cursor = second.body["next_cursor"].as_str().expect("a last page");
    let last = app
        .get(&format!("{path}?limit=2&cursor={cursor}"), &[])
        .await;
    assert_eq!(item_ids(&last), [ids[4].id]);
    assert_eq!(last.body["next_cursor"], json!(null));

    let semantic = app.get(&format!("{path}?kind=semantic"), &[]).await;
    assert_eq!(item_ids(&semantic), [ids[1].id, ids[3].id, ids[4].id]);
    let empty = app.an_agent("new-bot").await;
    let none = app
        .get(&format!("/v1/agents/{}/memories", empty.id), &[])
        .await;
    assert_eq!(none.status, StatusCode::OK, "{}", none.text);
    assert_eq!(item_ids(&none), Vec::<Uuid>::new());

    app.stop().await;
}

#[tokio::test]
async fn recent_memories_come_from_the_hot_model_latest_first() {
    let app = spawn_app().await;
    let agent = app.an_agent("support-bot").await;
    let first = app.a_memory(agent.id, "first").await;
    let second = app.a_memory(agent.id, "second").await;
    let third = app.a_memory(agent.id, "third").await;
    // A revision makes a memory recent again.
    app.memory_command(first.id, "revise", &json!({"content": "first, revised"}))
        .await
        .accepted(StatusCode::OK);
    let path = format!("/v1/agents/{}/memories/recent", agent.id);

    let expected = [first.id, third.id, second.id];
    let reply = eventually("the hot model to have every write", async || {
        let reply = app.get(&path, &[]).await;
        (item_ids(&reply) == expected).then_some(reply)
    })
    .await;
    let top = &reply.body["items"][0];
    assert_eq!(top["content"], "first, revised");
    assert_eq!(top["revision"], 2);
    assert_eq!(top["kind"], "semantic");
    assert_eq!(top["importance"], 0.5);
    let two = app.get(&format!("{path}?limit=2"), &[]).await;
    assert_eq!(item_ids(&two), [first.id, third.id]);

    app.memory_command(third.id, "forget", &json!({}))
        .await
        .accepted(StatusCode::OK);
    eventually("the forgotten memory to leave the hot model", async || {
        (item_ids(&app.get(&path, &[]).await) == [first.id, second.id]).then_some(())
    })
    .await;

    app.stop().await;
}
