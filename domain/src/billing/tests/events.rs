//! The events' JSON form, type names and times.

use cqrs_es::DomainEvent;
use serde_json::json;

use super::*;
use crate::billing::fixtures::{CAUSE, RUN, TENANT, granted, opened, quota_set, used};

fn one_of_each() -> Vec<BillingEvent> {
    vec![
        opened(),
        granted(5_000, 5_000),
        used(Meter::LlmInputTokens, 10, "u1", 4_970, at(3)),
        BillingEvent::QuotaExceeded(QuotaExceeded {
            meter: Meter::LlmInputTokens,
            period: QuotaPeriod::Day,
            period_key: "2025-01-15".to_owned(),
            limit: 5,
            used: 10,
            exceeded_at: at(3),
        }),
        quota_set(Meter::LlmInputTokens, 5, QuotaPeriod::Day),
        BillingEvent::QuotaRemoved(QuotaRemoved {
            meter: Meter::LlmInputTokens,
            removed_at: at(4),
        }),
        BillingEvent::InvoiceIssued(InvoiceIssued {
            invoice_id: fixtures::INVOICE,
            period: "2025-01".to_owned(),
            lines: vec![InvoiceLine {
                meter: Meter::LlmInputTokens,
                quantity: 10,
                amount_micros: 30,
            }],
            total_micros: 30,
            issued_at: at(5),
        }),
    ]
}

#[test]
fn every_event_round_trips_through_json() {
    for event in one_of_each() {
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(serde_json::from_str::<BillingEvent>(&json).unwrap(), event);
    }
}

#[test]
fn every_event_is_tagged_by_its_type_name_at_version_one() {
    let events = one_of_each();
    let types: Vec<String> = events.iter().map(DomainEvent::event_type).collect();
    assert_eq!(types, BillingEvent::TYPES);
    for event in events {
        let value = serde_json::to_value(&event).unwrap();
        let object = value.as_object().unwrap();
        assert_eq!(object.len(), 1);
        assert!(object.contains_key(&event.event_type()));
        assert_eq!(event.event_version(), "1");
    }
}

#[test]
fn occurred_at_is_the_time_the_event_states() {
    let times: Vec<_> = one_of_each()
        .iter()
        .map(BillingEvent::occurred_at)
        .collect();
    assert_eq!(times, vec![at(0), at(1), at(3), at(3), at(2), at(4), at(5)]);
}

#[test]
fn usage_recorded_serializes_with_an_external_tag_and_snake_case_meter() {
    let value = serde_json::to_value(used(Meter::LlmInputTokens, 10, "u1", 4_970, at(3))).unwrap();
    assert_eq!(
        value,
        json!({
            "UsageRecorded": {
                "meter": "llm_input_tokens",
                "quantity": 10,
                "unit_price_micros": 3,
                "amount_micros": 30,
                "price_book_version": 1,
                "idempotency_key": "u1",
                "source": {
                    "event_id": CAUSE,
                    "aggregate_type": "run",
                    "aggregate_id": RUN.to_string(),
                    "run_id": RUN
                },
                "day": "2025-01-15",
                "month": "2025-01",
                "balance_after_micros": 4970,
                "recorded_at": "2025-01-15T12:03:00Z"
            }
        })
    );
}

#[test]
fn billing_account_opened_names_the_tenant() {
    assert_eq!(
        serde_json::to_value(opened()).unwrap(),
        json!({
            "BillingAccountOpened": {
                "tenant_id": TENANT,
                "opened_at": "2025-01-15T12:00:00Z"
            }
        })
    );
}
