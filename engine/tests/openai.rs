//! The OpenAI-compatible client against a local server that speaks chat completions: text
//! and tool-call answers, retried 429s and 5xx, refusals, timeouts, keys and models.

use std::time::Duration;

use domain::agent::ModelConfig;
use domain::run::{Message, Role};
use engine::provider::{OpenAiCompatible, OpenAiConfig, ReplyToolCall};
use engine::testing::{Answer, ChatServer};
use engine::{ModelProvider, ModelRequest, ToolSpec};
use secrecy::SecretString;
use serde_json::json;
use uuid::Uuid;

fn request() -> ModelRequest {
    ModelRequest {
        model: ModelConfig {
            provider: "openai".into(),
            name: "agent-model".into(),
            temperature: 0.2,
            max_output_tokens: 64,
        },
        system_prompt: "Be brief.".into(),
        messages: vec![Message::text(Role::User, "Weather in Oslo?")],
        tools: vec![ToolSpec {
            tool_id: Uuid::from_u128(1),
            name: "weather.now".into(),
            function_name: "weather_now".into(),
            description: "The weather now".into(),
            parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
        }],
        turn: 0,
    }
}

/// A client of `server` that retries `retries` times after 10 ms and gives each attempt
/// `timeout`.
fn client(server: &ChatServer, retries: u32, timeout: Duration) -> OpenAiCompatible {
    let mut config = OpenAiConfig::new(server.base_url.clone());
    config.retries = retries;
    config.timeout = timeout;
    config.retry_base = Duration::from_millis(10);
    OpenAiCompatible::new(config).expect("client")
}

#[tokio::test]
async fn a_text_answer_comes_back_with_its_usage() {
    let server = ChatServer::start(vec![Answer::Text("Sunny.".into())]).await;
    let reply = client(&server, 0, Duration::from_secs(5))
        .complete(&request())
        .await
        .expect("an answer");
    assert_eq!(reply.content, "Sunny.");
    assert!(reply.tool_calls.is_empty());
    assert_eq!(
        (reply.usage.input_tokens, reply.usage.output_tokens),
        (20, 5)
    );
    let sent = &server.received()[0].body;
    assert_eq!(sent["model"], "agent-model");
    assert_eq!(
        sent["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert_eq!(
        sent["messages"][1],
        json!({"role": "user", "content": "Weather in Oslo?"})
    );
    assert_eq!(sent["tools"][0]["function"]["name"], "weather_now");
    assert_eq!(sent["max_tokens"], 64);
}

#[tokio::test]
async fn a_tool_call_answer_comes_back_with_parsed_arguments() {
    let server = ChatServer::start(vec![Answer::ToolCall {
        name: "weather_now".into(),
        arguments: json!({"city": "Oslo"}),
    }])
    .await;
    let reply = client(&server, 0, Duration::from_secs(5))
        .complete(&request())
        .await
        .expect("an answer");
    assert_eq!(
        reply.tool_calls,
        [ReplyToolCall {
            id: "call_1".into(),
            name: "weather_now".into(),
            arguments: json!({"city": "Oslo"}),
        }]
    );
}

#[tokio::test]
async fn a_429_and_a_503_are_retried_until_the_server_answers() {
    let server = ChatServer::start(vec![
        Answer::Status(429),
        Answer::Status(503),
        Answer::Text("Finally.".into()),
    ])
    .await;
    let reply = client(&server, 2, Duration::from_secs(5))
        .complete(&request())
        .await
        .expect("an answer after two retries");
    assert_eq!(reply.content, "Finally.");
    assert_eq!(server.received().len(), 3);
}

#[tokio::test]
async fn a_call_fails_once_its_retries_are_spent_and_a_400_is_not_retried() {
    let server = ChatServer::start(vec![Answer::Status(500), Answer::Status(500)]).await;
    let error = client(&server, 1, Duration::from_secs(5))
        .complete(&request())
        .await
        .expect_err("no answer");
    assert!(error.0.contains("500"), "{error}");
    assert_eq!(server.received().len(), 2);

    let server = ChatServer::start(vec![Answer::Status(400)]).await;
    let error = client(&server, 3, Duration::from_secs(5))
        .complete(&request())
        .await
        .expect_err("refused");
    assert!(error.0.contains("400"), "{error}");
    assert_eq!(server.received().len(), 1, "a refusal is not retried");
}

#[tokio::test]
async fn a_server_that_does_not_answer_in_time_fails_the_call_after_its_retries() {
    let server = ChatServer::start(vec![Answer::Hang, Answer::Slow(Duration::from_secs(30))]).await;
    let error = client(&server, 1, Duration::from_millis(200))
        .complete(&request())
        .await
        .expect_err("no answer in time");
    assert!(error.0.contains("did not answer within 200 ms"), "{error}");
    assert_eq!(server.received().len(), 2);
}

#[tokio::test]
async fn the_key_is_sent_as_a_bearer_token_and_a_configured_model_wins() {
    let server = ChatServer::start(vec![Answer::Text("Hi.".into())]).await;
    let mut config = OpenAiConfig::new(server.base_url.clone());
    config.api_key = Some(SecretString::from("sk-test"));
    config.model = Some("override-model".into());
    OpenAiCompatible::new(config)
        .expect("client")
        .complete(&request())
        .await
        .expect("an answer");
    let received = &server.received()[0];
    assert_eq!(received.authorization.as_deref(), Some("Bearer sk-test"));
    assert_eq!(received.body["model"], "override-model");
}
