//! The example subscriber against real events: the relay publishes two tenants' events
//! from a test database into a test stream; the subscriber, a separate process, crashes
//! after an effect and before its ack, is killed mid-stream, restarts, and in the end has
//! handled every event of its tenant exactly once, in order, and nothing of the other.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use domain::agent::{Agent, AgentCommand, AgentConfig, ModelConfig};
use eventstore::relay::ensure_stream;
use eventstore::testing::{TestEnv, nats_url};
use eventstore::{CommandBus, CommandContext, Relay, RelayWaker};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const PATIENCE: Duration = Duration::from_secs(60);

struct World {
    env: TestEnv,
    agents: CommandBus<Agent>,
    acme: Uuid,
    globex: Uuid,
    output: PathBuf,
}

impl World {
    /// Each tenant gets `count` new agents, each created and then paused: two events.
    async fn agents_for_both(&self, count: usize) {
        for n in 0..count {
            for tenant in [self.acme, self.globex] {
                let id = Uuid::now_v7();
                let context = CommandContext::new(tenant, "example-test", Utc::now());
                let create = AgentCommand::CreateAgent {
                    tenant_id: tenant,
                    agent_id: id,
                    config: config(&format!("agent {n}")),
                    now: Utc::now(),
                };
                self.agents
                    .create(&id.to_string(), create, &context, Vec::new())
                    .await
                    .unwrap();
                let pause = AgentCommand::PauseAgent {
                    tenant_id: tenant,
                    paused_by: "example-test".to_owned(),
                    reason: None,
                    now: Utc::now(),
                };
                self.agents
                    .execute(&id.to_string(), pause, &context)
                    .await
                    .unwrap();
            }
        }
    }

    /// The subscriber process for tenant acme, crashing after `crash_after` events.
    fn subscriber(&self, crash_after: Option<u64>) -> Child {
        let mut command = Command::new(env!("CARGO_BIN_EXE_subscriber"));
        command
            .env("NATS_URL", nats_url())
            .env("AGENTOS_NAMESPACE", self.env.namespace.as_str())
            .env("AGENTOS_TENANT_ID", self.acme.to_string())
            .env("SUBSCRIBER_DURABLE", "acme-example")
            .env("SUBSCRIBER_OUTPUT", &self.output)
            // Short, so that the message the crash left unacknowledged comes back soon.
            .env("SUBSCRIBER_ACK_WAIT_MS", "1000")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(n) = crash_after {
            command.env("SUBSCRIBER_CRASH_AFTER", n.to_string());
        }
        command.spawn().expect("start the subscriber")
    }

    /// The ids of acme's events in the store, in commit order.
    async fn acme_event_ids(&self) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT event_id::text FROM events WHERE tenant_id = $1
              ORDER BY transaction_id, position",
        )
        .bind(self.acme)
        .fetch_all(&self.env.pool)
        .await
        .unwrap()
    }
}

fn config(name: &str) -> AgentConfig {
    AgentConfig {
        name: name.to_owned(),
        description: String::new(),
        model: ModelConfig {
            provider: "scripted".to_owned(),
            name: "echo".to_owned(),
            temperature: 0.0,
            max_output_tokens: 256,
        },
        system_prompt: String::new(),
        tool_ids: Vec::new(),
        metadata: Default::default(),
    }
}

/// The effect log's entries.
fn effects(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).expect("an effect is one JSON line"))
        .collect()
}

async fn wait_for_effects(path: &Path, count: usize) {
    let deadline = Instant::now() + PATIENCE;
    while effects(path).len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} effects",
            effects(path).len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_for_exit(mut child: Child) -> Output {
    let deadline = Instant::now() + PATIENCE;
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the subscriber did not exit");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn the_subscriber_handles_every_event_of_its_tenant_once_across_a_crash_and_a_kill() {
    let env = TestEnv::new().await;
    ensure_stream(&env.jetstream, &env.namespace).await.unwrap();
    let relay = Relay::new(
        env.pool.clone(),
        env.jetstream.clone(),
        env.namespace.clone(),
    );
    let stop_relay = CancellationToken::new();
    let relaying = tokio::spawn({
        let stop = stop_relay.clone();
        async move { relay.run(None, stop).await }
    });
    let output = std::env::temp_dir().join(format!("agentos-subscriber-{}.jsonl", env.id));
    let world = World {
        agents: CommandBus::new(env.pool.clone(), (), RelayWaker::default()),
        acme: Uuid::now_v7(),
        globex: Uuid::now_v7(),
        output,
        env,
    };
    world.agents_for_both(10).await;

    // First life: it dies right after its 5th effect, before acknowledging that event.
    let crashed = wait_for_exit(world.subscriber(Some(5))).await;
    assert_eq!(
        crashed.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&crashed.stderr)
    );
    assert_eq!(effects(&world.output).len(), 5);
    let crash_point = effects(&world.output)[4]["sequence"].as_u64().unwrap();

    // Second life: the unacknowledged event comes back first and is only acknowledged;
    // then the process is killed (SIGKILL) in the middle of the stream.
    let second = world.subscriber(None);
    wait_for_effects(&world.output, 12).await;
    let mut second = second;
    second.kill().unwrap();
    let killed = wait_for_exit(second).await;
    assert!(
        stdout(&killed).contains(&format!("{crash_point} already handled")),
        "{}",
        stdout(&killed)
    );

    // More events while it is down, then a third life that catches up and stops cleanly.
    world.agents_for_both(10).await;
    let expected = world.acme_event_ids().await;
    assert_eq!(expected.len(), 40);
    let third = world.subscriber(None);
    wait_for_effects(&world.output, expected.len()).await;
    Command::new("kill")
        .args(["-TERM", &third.id().to_string()])
        .status()
        .unwrap();
    let stopped = wait_for_exit(third).await;
    assert!(
        stopped.status.success(),
        "{}",
        String::from_utf8_lossy(&stopped.stderr)
    );

    // Every event of acme handled once, in the order the store committed them; none of globex.
    let handled = effects(&world.output);
    let ids: Vec<String> = handled
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, expected);
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "no event handled twice");
    let sequences: Vec<u64> = handled
        .iter()
        .map(|e| e["sequence"].as_u64().unwrap())
        .collect();
    assert!(
        sequences.windows(2).all(|w| w[0] < w[1]),
        "in stream order: {sequences:?}"
    );
    assert!(handled.iter().all(|e| {
        e["subject"]
            .as_str()
            .is_some_and(|s| s.starts_with("agent/"))
            && e["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("agentos.agent."))
    }));

    stop_relay.cancel();
    relaying.await.unwrap().unwrap();
    std::fs::remove_file(&world.output).ok();
    world.env.cleanup().await;
}
