//! The state `apply` rebuilds, the snapshot invocations take, and the status type.

use cqrs_es::Aggregate;

use super::*;
use crate::tool::fixtures::{OTHER_TENANT, tool_registered, version_one};

fn replay(events: Vec<ToolEvent>) -> Tool {
    let mut tool = Tool::default();
    for event in events {
        tool.apply(event);
    }
    tool
}

fn version_two() -> ToolVersion {
    ToolVersion {
        version: 2,
        description: "Second".to_owned(),
        output_schema: None,
        published_at: at(2),
        ..version_one()
    }
}

// --- State rebuilt by apply --------------------------------------------------------------

#[test]
fn a_new_tool_does_not_exist() {
    let tool = Tool::default();
    assert!(!tool.exists());
    assert_eq!(tool.id(), None);
    assert_eq!(tool.tenant_id(), None);
    assert_eq!(tool.name(), None);
    assert_eq!(tool.status(), None);
    assert_eq!(tool.versions(), []);
    assert_eq!(tool.latest(), None);
}

#[test]
fn a_registered_tool_is_active_with_its_first_version() {
    let tool = replay(vec![tool_registered()]);
    assert!(tool.exists());
    assert_eq!(tool.id(), Some(TOOL));
    assert_eq!(tool.tenant_id(), Some(TENANT));
    assert_eq!(tool.name(), Some(TOOL_NAME));
    assert_eq!(tool.status(), Some(ToolStatus::Active));
    assert_eq!(tool.versions(), [version_one()]);
    assert_eq!(tool.latest(), Some(&version_one()));
    assert_eq!(tool.registered_at(), Some(at(0)));
    assert_eq!(tool.updated_at(), Some(at(0)));
}

#[test]
fn every_published_version_stays_readable() {
    let tool = replay(vec![tool_registered(), version_published(version_two())]);
    assert_eq!(tool.versions(), [version_one(), version_two()]);
    assert_eq!(tool.version(1), Some(&version_one()));
    assert_eq!(tool.version(2), Some(&version_two()));
    assert_eq!(tool.version(3), None);
    assert_eq!(tool.latest(), Some(&version_two()));
    assert_eq!(tool.registered_at(), Some(at(0)));
    assert_eq!(tool.updated_at(), Some(at(2)));
}

#[test]
fn publishing_to_a_deprecated_tool_keeps_it_deprecated() {
    let tool = replay(vec![
        tool_registered(),
        deprecated(1),
        version_published(version_two()),
    ]);
    assert_eq!(tool.status(), Some(ToolStatus::Deprecated));
    assert_eq!(tool.latest(), Some(&version_two()));
}

#[test]
fn replaying_the_lifecycle_tracks_status_and_time() {
    let tool = replay(vec![tool_registered(), deprecated(1), disabled(4)]);
    assert_eq!(tool.status(), Some(ToolStatus::Disabled));
    assert_eq!(tool.updated_at(), Some(at(4)));
}

#[test]
fn applying_events_out_of_order_never_panics() {
    let tool = replay(vec![
        disabled(0),
        version_published(version_two()),
        deprecated(3),
    ]);
    // Without a ToolRegistered the tool still does not exist, so every command is NotFound.
    assert!(!tool.exists());
    assert_eq!(tool.snapshot(TENANT, None), None);
}

#[test]
fn the_aggregate_type_is_tool() {
    assert_eq!(Tool::TYPE, "tool");
    assert_eq!(Tool::TYPE, TOOL_AGGREGATE_TYPE);
}

#[test]
fn a_tool_round_trips_through_json() {
    let tool = replay(vec![
        tool_registered(),
        version_published(version_two()),
        deprecated(3),
    ]);
    let json = serde_json::to_string(&tool).unwrap();
    assert_eq!(serde_json::from_str::<Tool>(&json).unwrap(), tool);
}

// --- Snapshot ----------------------------------------------------------------------------

#[test]
fn a_snapshot_takes_the_latest_version_by_default() {
    let tool = replay(vec![
        tool_registered(),
        version_published(version_two()),
        deprecated(3),
    ]);
    assert_eq!(
        tool.snapshot(TENANT, None),
        Some(ToolSnapshot {
            tool_id: TOOL,
            name: TOOL_NAME.to_owned(),
            status: ToolStatus::Deprecated,
            version: version_two(),
        })
    );
}

#[test]
fn a_snapshot_takes_the_version_asked_for() {
    let tool = replay(vec![tool_registered(), version_published(version_two())]);
    let snapshot = tool.snapshot(TENANT, Some(1)).unwrap();
    assert_eq!(snapshot.version, version_one());
    assert_eq!(snapshot.status, ToolStatus::Active);
}

#[test]
fn there_is_no_snapshot_of_a_missing_version_a_missing_tool_or_another_tenants_tool() {
    let tool = replay(vec![tool_registered()]);
    assert_eq!(tool.snapshot(TENANT, Some(2)), None);
    assert_eq!(tool.snapshot(OTHER_TENANT, None), None);
    assert_eq!(Tool::default().snapshot(TENANT, None), None);
}

// --- ToolStatus --------------------------------------------------------------------------

#[test]
fn statuses_print_and_serialize_as_snake_case_words() {
    for (status, word) in [
        (ToolStatus::Active, "active"),
        (ToolStatus::Deprecated, "deprecated"),
        (ToolStatus::Disabled, "disabled"),
    ] {
        assert_eq!(status.as_str(), word);
        assert_eq!(status.to_string(), word);
        assert_eq!(serde_json::to_value(status).unwrap(), word);
        assert_eq!(
            serde_json::from_value::<ToolStatus>(word.into()).unwrap(),
            status
        );
    }
}
