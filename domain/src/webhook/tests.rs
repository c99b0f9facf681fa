//! Given / when / then tests of the webhook subscription aggregate.

use chrono::TimeZone;
use cqrs_es::DomainEvent;
use cqrs_es::test::TestFramework;

use super::*;

type SubscriptionTest = TestFramework<WebhookSubscription>;

const TENANT: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_0001);
const OTHER_TENANT: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_0002);
const SUBSCRIPTION: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_00d1);
const SECRET_KEY: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_00d2);
const URL: &str = "https://hooks.example.com/agentos?team=billing";

fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
}

fn create(url: &str, event_types: &[&str]) -> WebhookSubscriptionCommand {
    WebhookSubscriptionCommand::CreateWebhookSubscription {
        tenant_id: TENANT,
        subscription_id: SUBSCRIPTION,
        url: url.to_owned(),
        event_types: event_types.iter().map(|&t| t.to_owned()).collect(),
        secret_key_id: SECRET_KEY,
        now: at(0),
    }
}

fn created(event_types: &[&str]) -> WebhookSubscriptionEvent {
    WebhookSubscriptionEvent::WebhookSubscriptionCreated(WebhookSubscriptionCreated {
        subscription_id: SUBSCRIPTION,
        tenant_id: TENANT,
        url: URL.to_owned(),
        event_types: event_types.iter().map(|&t| t.to_owned()).collect(),
        secret_key_id: SECRET_KEY,
        created_at: at(0),
    })
}

fn paused(minutes: i64) -> WebhookSubscriptionEvent {
    WebhookSubscriptionEvent::WebhookSubscriptionPaused(WebhookSubscriptionPaused {
        paused_at: at(minutes),
    })
}

fn failing(minutes: i64) -> WebhookSubscriptionEvent {
    WebhookSubscriptionEvent::WebhookSubscriptionFailing(WebhookSubscriptionFailing {
        consecutive_failures: 5,
        last_error: "HTTP 503".to_owned(),
        failing_since: at(minutes),
    })
}

fn deleted(minutes: i64) -> WebhookSubscriptionEvent {
    WebhookSubscriptionEvent::WebhookSubscriptionDeleted(WebhookSubscriptionDeleted {
        deleted_at: at(minutes),
    })
}

fn pause(tenant_id: Uuid) -> WebhookSubscriptionCommand {
    WebhookSubscriptionCommand::PauseWebhookSubscription {
        tenant_id,
        now: at(10),
    }
}

fn resume(tenant_id: Uuid) -> WebhookSubscriptionCommand {
    WebhookSubscriptionCommand::ResumeWebhookSubscription {
        tenant_id,
        now: at(10),
    }
}

fn delete(tenant_id: Uuid) -> WebhookSubscriptionCommand {
    WebhookSubscriptionCommand::DeleteWebhookSubscription {
        tenant_id,
        now: at(10),
    }
}

fn mark_failing(last_error: &str) -> WebhookSubscriptionCommand {
    WebhookSubscriptionCommand::MarkWebhookSubscriptionFailing {
        tenant_id: TENANT,
        consecutive_failures: 5,
        last_error: last_error.to_owned(),
        now: at(10),
    }
}

fn recover() -> WebhookSubscriptionCommand {
    WebhookSubscriptionCommand::RecoverWebhookSubscription {
        tenant_id: TENANT,
        now: at(10),
    }
}

fn invalid(field: &str, message: &str) -> WebhookSubscriptionError {
    WebhookSubscriptionError::Invalid(vec![FieldError::new(field, message)])
}

fn transition(action: &'static str, status: WebhookSubscriptionStatus) -> WebhookSubscriptionError {
    WebhookSubscriptionError::InvalidTransition { action, status }
}

// --- Create --------------------------------------------------------------------------------

#[test]
fn creates_a_subscription_to_some_event_types() {
    SubscriptionTest::with(())
        .given_no_previous_events()
        .when(create(URL, &["AgentCreated", "AgentPaused"]))
        .then_expect_events(vec![created(&["AgentCreated", "AgentPaused"])]);
}

#[test]
fn creates_a_subscription_to_every_event_type() {
    SubscriptionTest::with(())
        .given_no_previous_events()
        .when(create(URL, &[]))
        .then_expect_events(vec![created(&[])]);
}

#[test]
fn accepts_a_plain_http_url_with_a_port() {
    let url = "http://127.0.0.1:8080/hooks";
    let mut expected = created(&[]);
    if let WebhookSubscriptionEvent::WebhookSubscriptionCreated(event) = &mut expected {
        event.url = url.to_owned();
    }
    SubscriptionTest::with(())
        .given_no_previous_events()
        .when(create(url, &[]))
        .then_expect_events(vec![expected]);
}

#[test]
fn rejects_creating_a_subscription_twice() {
    SubscriptionTest::with(())
        .given(vec![created(&[])])
        .when(create(URL, &[]))
        .then_expect_error(WebhookSubscriptionError::AlreadyExists);
}

#[test]
fn rejects_urls_that_are_not_http_endpoints() {
    let cases = [
        ("", "must not be empty"),
        ("ftp://example.com/x", "must be an http or https URL"),
        ("example.com/hooks", "must be an http or https URL"),
        ("https://", "must name a host"),
        ("https://:443/x", "must name a host"),
        (
            "https://user:pw@example.com/x",
            "must not contain credentials",
        ),
        (
            "https://example.com/a b",
            "must not contain spaces or control characters",
        ),
        (
            "https://example.com/\u{7}",
            "must not contain spaces or control characters",
        ),
    ];
    for (url, message) in cases {
        SubscriptionTest::with(())
            .given_no_previous_events()
            .when(create(url, &[]))
            .then_expect_error(invalid("url", message));
    }
}

#[test]
fn rejects_a_url_longer_than_2048_characters() {
    let url = format!("https://example.com/{}", "a".repeat(2048));
    SubscriptionTest::with(())
        .given_no_previous_events()
        .when(create(&url, &[]))
        .then_expect_error(invalid("url", "must be at most 2048 characters"));
}

#[test]
fn rejects_unknown_and_repeated_event_types_naming_each_entry() {
    SubscriptionTest::with(())
        .given_no_previous_events()
        .when(create(
            URL,
            &["AgentCreated", "AgentExploded", "AgentCreated"],
        ))
        .then_expect_error(WebhookSubscriptionError::Invalid(vec![
            FieldError::new(
                "event_types[1]",
                "must be a known event type, such as AgentCreated",
            ),
            FieldError::new("event_types[2]", "must not repeat an event type"),
        ]));
}

// --- Pause, resume, delete ---------------------------------------------------------------

#[test]
fn pauses_an_active_subscription() {
    SubscriptionTest::with(())
        .given(vec![created(&[])])
        .when(pause(TENANT))
        .then_expect_events(vec![paused(10)]);
}

#[test]
fn pauses_a_failing_subscription() {
    SubscriptionTest::with(())
        .given(vec![created(&[]), failing(1)])
        .when(pause(TENANT))
        .then_expect_events(vec![paused(10)]);
}

#[test]
fn resumes_a_paused_subscription() {
    SubscriptionTest::with(())
        .given(vec![created(&[]), paused(1)])
        .when(resume(TENANT))
        .then_expect_events(vec![WebhookSubscriptionEvent::WebhookSubscriptionResumed(
            WebhookSubscriptionResumed { resumed_at: at(10) },
        )]);
}

#[test]
fn rejects_resuming_an_active_subscription() {
    SubscriptionTest::with(())
        .given(vec![created(&[])])
        .when(resume(TENANT))
        .then_expect_error(transition("resume", WebhookSubscriptionStatus::Active));
}

#[test]
fn rejects_pausing_a_paused_subscription() {
    SubscriptionTest::with(())
        .given(vec![created(&[]), paused(1)])
        .when(pause(TENANT))
        .then_expect_error(transition("pause", WebhookSubscriptionStatus::Paused));
}

#[test]
fn deletes_a_subscription_in_any_status() {
    for history in [
        vec![created(&[])],
        vec![created(&[]), paused(1)],
        vec![created(&[]), failing(1)],
    ] {
        SubscriptionTest::with(())
            .given(history)
            .when(delete(TENANT))
            .then_expect_events(vec![deleted(10)]);
    }
}

#[test]
fn a_deleted_subscription_is_not_found_by_any_command() {
    for command in [pause(TENANT), resume(TENANT), delete(TENANT), recover()] {
        SubscriptionTest::with(())
            .given(vec![created(&[]), deleted(1)])
            .when(command)
            .then_expect_error(WebhookSubscriptionError::NotFound);
    }
}

#[test]
fn another_tenants_subscription_is_not_found() {
    for command in [
        pause(OTHER_TENANT),
        resume(OTHER_TENANT),
        delete(OTHER_TENANT),
    ] {
        SubscriptionTest::with(())
            .given(vec![created(&[])])
            .when(command)
            .then_expect_error(WebhookSubscriptionError::NotFound);
    }
}

#[test]
fn a_subscription_never_created_is_not_found() {
    SubscriptionTest::with(())
        .given_no_previous_events()
        .when(pause(TENANT))
        .then_expect_error(WebhookSubscriptionError::NotFound);
}

// --- Failing and recovering ----------------------------------------------------------------

#[test]
fn marks_an_active_subscription_failing_with_its_last_error() {
    SubscriptionTest::with(())
        .given(vec![created(&[])])
        .when(mark_failing("HTTP 503"))
        .then_expect_events(vec![WebhookSubscriptionEvent::WebhookSubscriptionFailing(
            WebhookSubscriptionFailing {
                consecutive_failures: 5,
                last_error: "HTTP 503".to_owned(),
                failing_since: at(10),
            },
        )]);
}

#[test]
fn rejects_marking_a_failing_or_paused_subscription_failing() {
    SubscriptionTest::with(())
        .given(vec![created(&[]), failing(1)])
        .when(mark_failing("HTTP 503"))
        .then_expect_error(transition(
            "mark failing",
            WebhookSubscriptionStatus::Failing,
        ));
    SubscriptionTest::with(())
        .given(vec![created(&[]), paused(1)])
        .when(mark_failing("HTTP 503"))
        .then_expect_error(transition(
            "mark failing",
            WebhookSubscriptionStatus::Paused,
        ));
}

#[test]
fn rejects_a_last_error_that_is_blank_or_longer_than_500_characters() {
    SubscriptionTest::with(())
        .given(vec![created(&[])])
        .when(mark_failing(" "))
        .then_expect_error(invalid("last_error", "must not be empty"));
    SubscriptionTest::with(())
        .given(vec![created(&[])])
        .when(mark_failing(&"e".repeat(501)))
        .then_expect_error(invalid("last_error", "must be at most 500 characters"));
}

#[test]
fn recovers_a_failing_subscription() {
    SubscriptionTest::with(())
        .given(vec![created(&[]), failing(1)])
        .when(recover())
        .then_expect_events(vec![
            WebhookSubscriptionEvent::WebhookSubscriptionRecovered(WebhookSubscriptionRecovered {
                recovered_at: at(10),
            }),
        ]);
}

#[test]
fn rejects_recovering_an_active_subscription() {
    SubscriptionTest::with(())
        .given(vec![created(&[])])
        .when(recover())
        .then_expect_error(transition("recover", WebhookSubscriptionStatus::Active));
}

// --- State and events ------------------------------------------------------------------------

#[test]
fn the_state_follows_every_event() {
    let mut subscription = WebhookSubscription::default();
    assert_eq!(subscription.status(), None);
    subscription.apply(created(&["AgentCreated"]));
    assert_eq!(subscription.id(), Some(SUBSCRIPTION));
    assert_eq!(subscription.tenant_id(), Some(TENANT));
    assert_eq!(subscription.url(), URL);
    assert_eq!(subscription.event_types(), ["AgentCreated".to_owned()]);
    assert_eq!(subscription.secret_key_id(), Some(SECRET_KEY));
    let steps = [
        (failing(1), WebhookSubscriptionStatus::Failing),
        (paused(2), WebhookSubscriptionStatus::Paused),
        (
            WebhookSubscriptionEvent::WebhookSubscriptionResumed(WebhookSubscriptionResumed {
                resumed_at: at(3),
            }),
            WebhookSubscriptionStatus::Active,
        ),
        (failing(4), WebhookSubscriptionStatus::Failing),
        (
            WebhookSubscriptionEvent::WebhookSubscriptionRecovered(WebhookSubscriptionRecovered {
                recovered_at: at(5),
            }),
            WebhookSubscriptionStatus::Active,
        ),
        (deleted(6), WebhookSubscriptionStatus::Deleted),
    ];
    for (event, status) in steps {
        subscription.apply(event);
        assert_eq!(subscription.status(), Some(status));
    }
}

#[test]
fn every_event_is_tagged_by_its_type_and_round_trips() {
    let events = vec![
        created(&["AgentCreated"]),
        paused(1),
        WebhookSubscriptionEvent::WebhookSubscriptionResumed(WebhookSubscriptionResumed {
            resumed_at: at(2),
        }),
        failing(3),
        WebhookSubscriptionEvent::WebhookSubscriptionRecovered(WebhookSubscriptionRecovered {
            recovered_at: at(4),
        }),
        deleted(5),
    ];
    let types: Vec<String> = events.iter().map(DomainEvent::event_type).collect();
    assert_eq!(types, WebhookSubscriptionEvent::TYPES);
    for (minutes, event) in (0..).zip(events) {
        assert_eq!(event.occurred_at(), at(minutes));
        assert_eq!(event.event_version(), "1");
        let json = serde_json::to_value(&event).unwrap();
        assert!(json.get(event.event_type()).is_some());
        assert_eq!(
            serde_json::from_value::<WebhookSubscriptionEvent>(json).unwrap(),
            event
        );
    }
}
