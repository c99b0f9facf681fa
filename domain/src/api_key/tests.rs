//! Given / when / then tests of the API key aggregate.

use chrono::TimeZone;
use cqrs_es::test::TestFramework;

use super::*;

type KeyTest = TestFramework<ApiKey>;

const TENANT: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_0001);
const OTHER_TENANT: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_0002);
const KEY: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_00b1);
const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
}

fn issue(scopes: Vec<Scope>, expires_at: Option<DateTime<Utc>>) -> ApiKeyCommand {
    ApiKeyCommand::IssueApiKey {
        tenant_id: TENANT,
        key_id: KEY,
        name: "ci".to_owned(),
        scopes,
        key_hash: HASH.to_owned(),
        expires_at,
        now: at(0),
    }
}

fn issued(expires_at: Option<DateTime<Utc>>) -> ApiKeyEvent {
    ApiKeyEvent::ApiKeyIssued(ApiKeyIssued {
        key_id: KEY,
        tenant_id: TENANT,
        name: "ci".to_owned(),
        scopes: vec![Scope::AgentsRead],
        key_hash: HASH.to_owned(),
        expires_at,
        issued_at: at(0),
    })
}

fn revoke(tenant_id: Uuid, minutes: i64) -> ApiKeyCommand {
    ApiKeyCommand::RevokeApiKey {
        tenant_id,
        reason: Some("leaked".to_owned()),
        now: at(minutes),
    }
}

fn revoked(minutes: i64) -> ApiKeyEvent {
    ApiKeyEvent::ApiKeyRevoked(ApiKeyRevoked {
        reason: Some("leaked".to_owned()),
        revoked_at: at(minutes),
    })
}

fn expire(expires_at: DateTime<Utc>, minutes: i64) -> ApiKeyCommand {
    ApiKeyCommand::ExpireApiKey {
        tenant_id: TENANT,
        expires_at,
        now: at(minutes),
    }
}

#[test]
fn issues_a_key_with_its_scopes_and_hash() {
    KeyTest::with(())
        .given_no_previous_events()
        .when(issue(vec![Scope::AgentsRead], Some(at(60))))
        .then_expect_events(vec![issued(Some(at(60)))]);
}

#[test]
fn rejects_issuing_a_key_twice() {
    KeyTest::with(())
        .given(vec![issued(None)])
        .when(issue(vec![Scope::AgentsRead], None))
        .then_expect_error(ApiKeyError::AlreadyExists);
}

#[test]
fn rejects_a_key_without_scopes_with_duplicate_scopes_or_a_past_expiry() {
    KeyTest::with(())
        .given_no_previous_events()
        .when(issue(vec![], Some(at(0))))
        .then_expect_error(ApiKeyError::Invalid(vec![
            FieldError::new("scopes", "must name at least one scope"),
            FieldError::new("expires_at", "must be in the future"),
        ]));
    KeyTest::with(())
        .given_no_previous_events()
        .when(issue(vec![Scope::Admin, Scope::Admin], None))
        .then_expect_error(ApiKeyError::Invalid(vec![FieldError::new(
            "scopes",
            "must not contain duplicates",
        )]));
}

#[test]
fn rejects_a_hash_that_is_not_a_hex_sha256_and_a_blank_name() {
    KeyTest::with(())
        .given_no_previous_events()
        .when(ApiKeyCommand::IssueApiKey {
            tenant_id: TENANT,
            key_id: KEY,
            name: " ".to_owned(),
            scopes: vec![Scope::AgentsRead],
            key_hash: "secret".to_owned(),
            expires_at: None,
            now: at(0),
        })
        .then_expect_error(ApiKeyError::Invalid(vec![
            FieldError::new("name", "must not be empty"),
            FieldError::new("key_hash", "must be 64 lowercase hex digits"),
        ]));
}

#[test]
fn revokes_an_active_key() {
    KeyTest::with(())
        .given(vec![issued(None)])
        .when(revoke(TENANT, 5))
        .then_expect_events(vec![revoked(5)]);
}

#[test]
fn revokes_an_expired_key() {
    KeyTest::with(())
        .given(vec![issued(Some(at(1)))])
        .when(revoke(TENANT, 5))
        .then_expect_events(vec![revoked(5)]);
}

#[test]
fn rejects_revoking_a_revoked_key() {
    KeyTest::with(())
        .given(vec![issued(None), revoked(1)])
        .when(revoke(TENANT, 5))
        .then_expect_error(ApiKeyError::InvalidTransition {
            action: "revoke",
            status: ApiKeyStatus::Revoked,
        });
}

#[test]
fn rejects_revoking_another_tenants_key_as_not_found() {
    KeyTest::with(())
        .given(vec![issued(None)])
        .when(revoke(OTHER_TENANT, 5))
        .then_expect_error(ApiKeyError::NotFound);
    KeyTest::with(())
        .given_no_previous_events()
        .when(revoke(TENANT, 5))
        .then_expect_error(ApiKeyError::NotFound);
}

#[test]
fn rejects_a_revocation_reason_of_501_characters() {
    KeyTest::with(())
        .given(vec![issued(None)])
        .when(ApiKeyCommand::RevokeApiKey {
            tenant_id: TENANT,
            reason: Some("r".repeat(501)),
            now: at(5),
        })
        .then_expect_error(ApiKeyError::Invalid(vec![FieldError::new(
            "reason",
            "must be at most 500 characters",
        )]));
}

#[test]
fn expires_an_active_key_at_the_given_time() {
    KeyTest::with(())
        .given(vec![issued(None)])
        .when(expire(at(5), 5))
        .then_expect_events(vec![ApiKeyEvent::ApiKeyExpirySet(ApiKeyExpirySet {
            expires_at: at(5),
            set_at: at(5),
        })]);
}

#[test]
fn rejects_expiring_an_expired_or_revoked_key() {
    KeyTest::with(())
        .given(vec![issued(Some(at(1)))])
        .when(expire(at(5), 5))
        .then_expect_error(ApiKeyError::InvalidTransition {
            action: "expire",
            status: ApiKeyStatus::Expired,
        });
    KeyTest::with(())
        .given(vec![issued(None), revoked(1)])
        .when(expire(at(5), 5))
        .then_expect_error(ApiKeyError::InvalidTransition {
            action: "expire",
            status: ApiKeyStatus::Revoked,
        });
}

#[test]
fn a_key_is_active_until_it_expires_or_is_revoked() {
    let mut key = ApiKey::default();
    assert_eq!(key.status_at(at(0)), None);
    key.apply(issued(Some(at(10))));
    assert_eq!(key.status_at(at(9)), Some(ApiKeyStatus::Active));
    assert_eq!(key.status_at(at(10)), Some(ApiKeyStatus::Expired));
    key.apply(revoked(11));
    assert_eq!(key.status_at(at(0)), Some(ApiKeyStatus::Revoked));
    assert_eq!(key.scopes(), &[Scope::AgentsRead]);
}
