//! Forgetting is real: the data key is deleted with the event, the stored events keep only
//! ciphertext nobody can open, and no read model, index or cache holds the content.

use std::collections::HashMap;

use domain::memory::{MemoryEvent, SealedContent};
use eventstore::sealing::{DataKey, SealingError, find_data_keys, memory_binding};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::item_ids;
use crate::helpers::{TestApp, eventually, spawn_app};

/// A word that appears in nothing but the memory's content.
const SECRET: &str = "Whiskerfield";

#[tokio::test]
async fn forgetting_shreds_the_content_from_the_store_and_every_read_model() {
    let app = spawn_app().await;
    let agent = app.an_agent("support-bot").await;
    let memory = app
        .a_memory(agent.id, &format!("The customer's cat is called {SECRET}."))
        .await;
    let revised = app
        .memory_command(
            memory.id,
            "revise",
            &json!({"content": format!("The customer's cats are called {SECRET} and Tom.")}),
        )
        .await
        .accepted(StatusCode::OK);
    let recent = format!("/v1/agents/{}/memories/recent", agent.id);
    let search = format!("/v1/agents/{}/memories/search?q={SECRET}", agent.id);

    // Before: every read model serves the content.
    let view = app
        .read_after(&format!("/v1/memories/{}", memory.id), &revised.token)
        .await;
    assert!(view.body["content"].as_str().unwrap().contains(SECRET));
    let history = app
        .read_after(
            &format!("/v1/memories/{}/history", memory.id),
            &revised.token,
        )
        .await;
    assert_eq!(history.body["revisions"].as_array().unwrap().len(), 2);
    assert_eq!(
        item_ids(&app.read_after(&search, &revised.token).await),
        [memory.id]
    );
    eventually("the hot model to serve the revision", async || {
        let reply = app.get(&recent, &[]).await;
        (reply.body["items"][0]["content"].as_str()?.contains("Tom")).then_some(())
    })
    .await;
    let key_id = sealed_revisions(&app.env.pool, memory.id).await[0].1.key_id;
    let stored_keys = find_data_keys(&app.env.pool, &[key_id]).await.unwrap();
    assert!(
        stored_keys.get(key_id).is_some(),
        "the key exists until the forget"
    );

    let forgotten = app
        .memory_command(
            memory.id,
            "forget",
            &json!({"reason": "right to be forgotten"}),
        )
        .await
        .accepted(StatusCode::OK);

    // The key is gone, in the same transaction as the event.
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM data_keys WHERE key_id = $1")
        .bind(key_id)
        .fetch_one(&app.env.pool)
        .await
        .unwrap();
    assert_eq!(keys, 0);
    // The events are untouched: every revision's ciphertext is still there, for replay and
    // audit, but nothing opens it any more.
    let sealed = sealed_revisions(&app.env.pool, memory.id).await;
    assert_eq!(sealed.len(), 2);
    let stored_keys = find_data_keys(&app.env.pool, &[key_id]).await.unwrap();
    for (revision, content) in &sealed {
        assert_eq!(content.key_id, key_id);
        assert!(!content.ciphertext.is_empty());
        let binding = memory_binding(memory.id, *revision);
        assert_eq!(
            stored_keys.open(&binding, content),
            Ok(None),
            "no key, no content"
        );
        let guess = DataKey::from_stored(key_id, &[0; 32]).unwrap();
        assert_eq!(
            guess.open(&binding, content),
            Err(SealingError::Unauthentic)
        );
    }

    // Every read model has dropped the content.
    let view = app
        .read_after(&format!("/v1/memories/{}", memory.id), &forgotten.token)
        .await;
    assert_eq!(view.body["status"], "forgotten");
    assert_eq!(view.body["content"], json!(null));
    let history = app
        .read_after(
            &format!("/v1/memories/{}/history", memory.id),
            &forgotten.token,
        )
        .await;
    let revisions = history.body["revisions"].as_array().unwrap();
    assert_eq!(revisions.len(), 2, "the revisions stay listed");
    assert!(
        revisions.iter().all(|r| r["content"].is_null()),
        "{}",
        history.text
    );
    assert_eq!(history.body["forget_reason"], "right to be forgotten");
    let hits = app.read_after(&search, &forgotten.token).await;
    assert_eq!(item_ids(&hits), Vec::<Uuid>::new());
    eventually("the hot model to drop the memory", async || {
        let reply = app.get(&recent, &[]).await;
        (reply.status == StatusCode::OK && item_ids(&reply).is_empty()).then_some(())
    })
    .await;

    // Not a trace anywhere: no row of any table, no Redis value.
    assert_eq!(
        tables_mentioning(&app.env.pool, SECRET).await,
        Vec::<String>::new()
    );
    eventually("no Redis value to hold the content", async || {
        redis_mentions(&app, SECRET).await.is_empty().then_some(())
    })
    .await;

    app.stop().await;
}

/// Each stored revision's number and sealed content, oldest first.
async fn sealed_revisions(pool: &PgPool, memory_id: Uuid) -> Vec<(u32, SealedContent)> {
    let payloads: Vec<String> = sqlx::query_scalar(
        "SELECT payload::text FROM events
          WHERE aggregate_type = 'memory' AND aggregate_id = $1 ORDER BY sequence",
    )
    .bind(memory_id.to_string())
    .fetch_all(pool)
    .await
    .unwrap();
    payloads
        .iter()
        .filter_map(|payload| {
            assert!(
                !payload.contains(SECRET),
                "plaintext in an event: {payload}"
            );
            match serde_json::from_str(payload).unwrap() {
                MemoryEvent::MemoryRecorded(e) => Some((e.revision, e.content)),
                MemoryEvent::MemoryRevised(e) => Some((e.revision, e.content)),
                MemoryEvent::MemoryForgotten(_) => None,
            }
        })
        .collect()
}

/// The tables with a row whose text (every column, search vectors included) holds `word`,
/// case-insensitively.
async fn tables_mentioning(pool: &PgPool, word: &str) -> Vec<String> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut found = Vec::new();
    for table in tables {
        // Full-text vectors hold lower-cased stems ("whiskerfield"), hence ILIKE.
        let hit: bool = sqlx::query_scalar(&format!(
            "SELECT EXISTS (SELECT 1 FROM \"{table}\" AS t WHERE t::text ILIKE $1)"
        ))
        .bind(format!("%{word}%"))
        .fetch_one(pool)
        .await
        .unwrap();
        if hit {
            found.push(table);
        }
    }
    found
}

/// The Redis keys of the test's prefix with a value that holds `word`.
async fn redis_mentions(app: &TestApp, word: &str) -> Vec<String> {
    let mut redis = app.env.redis().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", app.env.redis_prefix))
        .query_async(&mut redis)
        .await
        .unwrap();
    let mut found = Vec::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut redis)
            .await
            .unwrap();
        let text = match kind.as_str() {
            "hash" => {
                let fields: HashMap<String, String> = redis::cmd("HGETALL")
                    .arg(&key)
                    .query_async(&mut redis)
                    .await
                    .unwrap();
                fields.into_values().collect::<Vec<_>>().join(" ")
            }
            "string" => redis::cmd("GET")
                .arg(&key)
                .query_async(&mut redis)
                .await
                .unwrap(),
            _ => {
                let members: Vec<String> = redis::cmd("ZRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(-1)
                    .query_async(&mut redis)
                    .await
                    .unwrap_or_default();
                members.join(" ")
            }
        };
        if text.to_lowercase().contains(&word.to_lowercase()) {
            found.push(key);
        }
    }
    found
}
