//! Sample values shared by the memory tests.

use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

use super::{MemoryEvent, MemoryKind, MemoryRecorded, MemoryRevised, MemorySource, SealedContent};

pub(crate) const TENANT: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_0001);
pub(crate) const OTHER_TENANT: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_0002);
pub(crate) const AGENT: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_00a1);
pub(crate) const MEMORY: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_00b1);
pub(crate) const RUN: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_00c1);
pub(crate) const KEY: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_00d1);
pub(crate) const OTHER_KEY: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_00d2);

/// The plaintext of the first revision: 31 characters.
pub(crate) const CONTENT: &str = "Prefers invoices sent by email.";
/// The plaintext of later revisions: 30 characters.
pub(crate) const REVISED_CONTENT: &str = "Prefers invoices sent by post.";

/// A fixed instant `minutes` after a reference time, so tests never read the clock.
pub(crate) fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
}

/// The sealed form of one revision, under the memory's key.
pub(crate) fn sealed(revision: u32) -> SealedContent {
    SealedContent {
        key_id: KEY,
        nonce: format!("bm9uY2Ut{revision}"),
        ciphertext: format!("c2VhbGVk{revision}"),
    }
}

pub(crate) fn valid_tags() -> Vec<String> {
    vec!["billing".to_owned(), "preferences".to_owned()]
}

/// A memory written by a tool call in step 3 of a run.
pub(crate) fn run_source() -> MemorySource {
    MemorySource {
        run_id: Some(RUN),
        step: Some(3),
        tool_call_id: Some("call_1".to_owned()),
    }
}

pub(crate) fn memory_recorded() -> MemoryEvent {
    MemoryEvent::MemoryRecorded(MemoryRecorded {
        memory_id: MEMORY,
        tenant_id: TENANT,
        agent_id: AGENT,
        kind: MemoryKind::Semantic,
        content: sealed(1),
        content_chars: 31,
        tags: valid_tags(),
        importance: 0.5,
        source: run_source(),
        revision: 1,
        recorded_at: at(0),
    })
}

/// `REVISED_CONTENT` at `revision`, keeping the recorded tags and importance, by a person.
pub(crate) fn memory_revised(revision: u32, minutes: i64) -> MemoryEvent {
    MemoryEvent::MemoryRevised(MemoryRevised {
        agent_id: AGENT,
        content: sealed(revision),
        content_chars: 30,
        tags: valid_tags(),
        importance: 0.5,
        source: MemorySource::default(),
        revision,
        revised_at: at(minutes),
    })
}
