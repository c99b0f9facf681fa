//! The field rules, checked through `RecordMemory`; `ReviseMemory` shares them.

use super::*;
use crate::memory::fixtures::RUN;

const FREE_TEXT_CONTROL: &str =
    "must not contain control characters other than tab and line breaks";
const CONTROL: &str = "must not contain control characters";
const NUL: &str = "must not contain NUL characters";

fn with_content(content: String) -> Recording {
    Recording {
        content,
        ..Recording::valid()
    }
}

fn with_tags(tags: Vec<&str>) -> Recording {
    Recording {
        tags: tags.into_iter().map(str::to_owned).collect(),
        ..Recording::valid()
    }
}

fn with_importance(importance: f64) -> Recording {
    Recording {
        importance,
        ..Recording::valid()
    }
}

fn with_source(run_id: Option<Uuid>, step: Option<u32>, tool_call_id: Option<&str>) -> Recording {
    Recording {
        source: MemorySource {
            run_id,
            step,
            tool_call_id: tool_call_id.map(str::to_owned),
        },
        ..Recording::valid()
    }
}

fn with_sealed(sealed: SealedContent) -> Recording {
    Recording {
        sealed,
        ..Recording::valid()
    }
}

fn one(field: &str, message: &str) -> Vec<FieldError> {
    vec![FieldError::new(field, message)]
}

// --- content -----------------------------------------------------------------------------

#[test]
fn accepts_content_of_20000_characters() {
    with_content("é".repeat(20_000)).expect_accepted();
}

#[test]
fn rejects_content_of_20001_characters() {
    with_content("x".repeat(20_001))
        .expect_rejected_with(one("content", "must be at most 20000 characters"));
}

#[test]
fn rejects_empty_content() {
    with_content(String::new()).expect_rejected_with(one("content", "must not be empty"));
}

#[test]
fn rejects_content_of_only_whitespace() {
    with_content(" \n\t ".to_owned()).expect_rejected_with(one("content", "must not be empty"));
}

#[test]
fn accepts_content_laid_out_with_tabs_and_line_breaks() {
    with_content("Preferences:\r\n\t- invoices by email".to_owned()).expect_accepted();
}

#[test]
fn rejects_content_holding_nul() {
    with_content("invoices\0email".to_owned()).expect_rejected_with(one("content", NUL));
}

#[test]
fn rejects_content_holding_a_bell_character() {
    with_content("invoices\u{7}".to_owned())
        .expect_rejected_with(one("content", FREE_TEXT_CONTROL));
}

// --- sealed content ----------------------------------------------------------------------

#[test]
fn rejects_a_nil_sealing_key() {
    with_sealed(SealedContent {
        key_id: Uuid::nil(),
        ..sealed(1)
    })
    .expect_rejected_with(one("sealed.key_id", "must not be nil"));
}

#[test]
fn rejects_an_empty_nonce_and_ciphertext() {
    with_sealed(SealedContent {
        nonce: String::new(),
        ciphertext: String::new(),
        ..sealed(1)
    })
    .expect_rejected_with(vec![
        FieldError::new("sealed.nonce", "must not be empty"),
        FieldError::new("sealed.ciphertext", "must not be empty"),
    ]);
}

#[test]
fn rejects_a_ciphertext_holding_nul() {
    with_sealed(SealedContent {
        ciphertext: "c2Vh\0bGVk".to_owned(),
        ..sealed(1)
    })
    .expect_rejected_with(one("sealed.ciphertext", NUL));
}

#[test]
fn rejects_a_nonce_holding_a_line_break() {
    with_sealed(SealedContent {
        nonce: "bm9u\nY2U=".to_owned(),
        ..sealed(1)
    })
    .expect_rejected_with(one("sealed.nonce", CONTROL));
}

// --- tags --------------------------------------------------------------------------------

#[test]
fn accepts_32_tags() {
    let tags = (0..32).map(|n| format!("tag-{n}")).collect();
    Recording {
        tags,
        ..Recording::valid()
    }
    .expect_accepted();
}

#[test]
fn rejects_33_tags() {
    let tags = (0..33).map(|n| format!("tag-{n}")).collect();
    Recording {
        tags,
        ..Recording::valid()
    }
    .expect_rejected_with(one("tags", "must contain at most 32 items"));
}

#[test]
fn accepts_a_tag_of_64_characters() {
    let tag = "é".repeat(64);
    with_tags(vec!["billing", &tag]).expect_accepted();
}

#[test]
fn rejects_a_tag_of_65_characters_naming_its_position() {
    let tag = "t".repeat(65);
    with_tags(vec!["billing", &tag])
        .expect_rejected_with(one("tags[1]", "must be at most 64 characters"));
}

#[test]
fn rejects_an_empty_tag() {
    with_tags(vec![""]).expect_rejected_with(one("tags[0]", "must not be empty"));
}

#[test]
fn rejects_a_tag_of_only_spaces() {
    with_tags(vec!["billing", "   "]).expect_rejected_with(one("tags[1]", "must not be empty"));
}

#[test]
fn rejects_a_tag_holding_a_tab() {
    with_tags(vec!["bill\ting"]).expect_rejected_with(one("tags[0]", CONTROL));
}

#[test]
fn rejects_a_tag_holding_nul() {
    with_tags(vec!["bill\0ing"]).expect_rejected_with(one("tags[0]", NUL));
}

#[test]
fn rejects_duplicate_tags() {
    with_tags(vec!["billing", "vip", "billing"])
        .expect_rejected_with(one("tags", "must not contain duplicates"));
}

#[test]
fn treats_tags_differing_in_case_as_distinct() {
    with_tags(vec!["billing", "Billing"]).expect_accepted();
}

// --- importance --------------------------------------------------------------------------

#[test]
fn accepts_importance_at_both_ends_of_the_range() {
    with_importance(0.0).expect_accepted();
    with_importance(1.0).expect_accepted();
}

#[test]
fn rejects_importance_outside_the_range() {
    for importance in [-0.01, 1.01] {
        with_importance(importance)
            .expect_rejected_with(one("importance", "must be between 0 and 1"));
    }
}

#[test]
fn rejects_importance_that_is_not_finite() {
    for importance in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        with_importance(importance)
            .expect_rejected_with(one("importance", "must be between 0 and 1"));
    }
}

// --- source ------------------------------------------------------------------------------

#[test]
fn accepts_a_source_naming_only_a_run() {
    with_source(Some(RUN), None, None).expect_accepted();
}

#[test]
fn rejects_a_step_without_a_run() {
    with_source(None, Some(3), None)
        .expect_rejected_with(one("source.step", "requires source.run_id"));
}

#[test]
fn rejects_a_tool_call_without_a_run() {
    with_source(None, None, Some("call_1"))
        .expect_rejected_with(one("source.tool_call_id", "requires source.run_id"));
}

#[test]
fn accepts_a_tool_call_id_of_128_characters() {
    let id = "c".repeat(128);
    with_source(Some(RUN), Some(1), Some(&id)).expect_accepted();
}

#[test]
fn rejects_a_tool_call_id_of_129_characters() {
    let id = "c".repeat(129);
    with_source(Some(RUN), Some(1), Some(&id))
        .expect_rejected_with(one("source.tool_call_id", "must be at most 128 characters"));
}

#[test]
fn rejects_an_empty_tool_call_id() {
    with_source(Some(RUN), Some(1), Some(""))
        .expect_rejected_with(one("source.tool_call_id", "must not be empty"));
}

#[test]
fn rejects_a_tool_call_id_holding_a_line_break() {
    with_source(Some(RUN), Some(1), Some("call\n1"))
        .expect_rejected_with(one("source.tool_call_id", CONTROL));
}
