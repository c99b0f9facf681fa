//! Which characters each text field may hold. NUL is refused everywhere (no stored text can
//! hold it); identifiers refuse every control character; free text keeps tab and line breaks.

use std::collections::BTreeMap;

use super::{AgentError, FieldError, assert_accepted, assert_rejected, when_created_with, with};

const NUL: &str = "must not contain NUL characters";
const CONTROL: &str = "must not contain control characters";
const CONTROL_BUT_LAYOUT: &str =
    "must not contain control characters other than tab and line breaks";

fn metadata(key: &str, value: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(key.to_owned(), value.to_owned())])
}

// --- name ---

#[test]
fn rejects_a_name_holding_nul() {
    assert_rejected(with(|c| c.name = "Support\0bot".to_owned()), "name", NUL);
}

#[test]
fn rejects_a_name_holding_a_bell_character() {
    assert_rejected(
        with(|c| c.name = "Support\u{7}bot".to_owned()),
        "name",
        CONTROL,
    );
}

#[test]
fn rejects_a_name_holding_a_line_break() {
    assert_rejected(
        with(|c| c.name = "Support\nbot".to_owned()),
        "name",
        CONTROL,
    );
}

#[test]
fn rejects_a_name_holding_delete_or_a_c1_control() {
    assert_rejected(
        with(|c| c.name = "Support\u{7f}".to_owned()),
        "name",
        CONTROL,
    );
    assert_rejected(
        with(|c| c.name = "Support\u{85}".to_owned()),
        "name",
        CONTROL,
    );
}

#[test]
fn reports_nul_rather_than_control_characters_when_a_name_holds_both() {
    assert_rejected(with(|c| c.name = "a\u{7}b\0c".to_owned()), "name", NUL);
}

#[test]
fn accepts_a_name_of_visible_unicode_with_inner_spaces() {
    assert_accepted(with(|c| c.name = "Bot für Rechnungen 🧾".to_owned()));
}

// --- description ---

#[test]
fn rejects_a_description_holding_nul() {
    assert_rejected(
        with(|c| c.description = "a\0b".to_owned()),
        "description",
        NUL,
    );
}

#[test]
fn rejects_a_description_holding_a_bell_character() {
    assert_rejected(
        with(|c| c.description = "a\u{7}b".to_owned()),
        "description",
        CONTROL_BUT_LAYOUT,
    );
}

#[test]
fn accepts_a_description_laid_out_with_tabs_and_line_breaks() {
    assert_accepted(with(|c| {
        c.description = "Line one\r\nLine two\n\tindented".to_owned()
    }));
}

// --- model.provider ---

#[test]
fn rejects_a_provider_holding_nul() {
    assert_rejected(
        with(|c| c.model.provider = "open\0ai".to_owned()),
        "model.provider",
        NUL,
    );
}

#[test]
fn rejects_a_provider_holding_a_bell_character() {
    assert_rejected(
        with(|c| c.model.provider = "open\u{7}ai".to_owned()),
        "model.provider",
        CONTROL,
    );
}

#[test]
fn rejects_a_provider_holding_a_tab() {
    assert_rejected(
        with(|c| c.model.provider = "open\tai".to_owned()),
        "model.provider",
        CONTROL,
    );
}

// --- model.name ---

#[test]
fn rejects_a_model_name_holding_nul() {
    assert_rejected(
        with(|c| c.model.name = "claude\0".to_owned()),
        "model.name",
        NUL,
    );
}

#[test]
fn rejects_a_model_name_holding_a_bell_character() {
    assert_rejected(
        with(|c| c.model.name = "claude\u{7}".to_owned()),
        "model.name",
        CONTROL,
    );
}

// --- system_prompt ---

#[test]
fn rejects_a_system_prompt_holding_nul() {
    assert_rejected(
        with(|c| c.system_prompt = "Be helpful.\0".to_owned()),
        "system_prompt",
        NUL,
    );
}

#[test]
fn rejects_a_system_prompt_holding_an_escape_character() {
    assert_rejected(
        with(|c| c.system_prompt = "Be \u{1b}[1mbold".to_owned()),
        "system_prompt",
        CONTROL_BUT_LAYOUT,
    );
}

#[test]
fn accepts_a_system_prompt_laid_out_with_tabs_and_line_breaks() {
    assert_accepted(with(|c| {
        c.system_prompt = "You are helpful.\n\nRules:\r\n\t- be brief".to_owned()
    }));
}

// --- metadata keys ---

#[test]
fn rejects_a_metadata_key_holding_nul_on_the_map() {
    assert_rejected(
        with(|c| c.metadata = metadata("te\0am", "billing")),
        "metadata",
        "keys must not contain NUL characters",
    );
}

#[test]
fn rejects_a_metadata_key_holding_a_bell_character_on_the_map() {
    assert_rejected(
        with(|c| c.metadata = metadata("te\u{7}am", "billing")),
        "metadata",
        "keys must not contain control characters",
    );
}

#[test]
fn rejects_a_metadata_key_holding_a_line_break_on_the_map() {
    assert_rejected(
        with(|c| c.metadata = metadata("te\nam", "billing")),
        "metadata",
        "keys must not contain control characters",
    );
}

#[test]
fn reports_nul_once_when_any_of_several_metadata_keys_holds_it() {
    assert_rejected(
        with(|c| {
            c.metadata = BTreeMap::from([
                ("a\u{7}".to_owned(), "v".to_owned()),
                ("b\0".to_owned(), "v".to_owned()),
                ("c\0".to_owned(), "v".to_owned()),
            ])
        }),
        "metadata",
        "keys must not contain NUL characters",
    );
}

// --- metadata values ---

#[test]
fn rejects_a_metadata_value_holding_nul_on_its_own_path() {
    assert_rejected(
        with(|c| c.metadata = metadata("team", "bill\0ing")),
        "metadata.team",
        NUL,
    );
}

#[test]
fn rejects_a_metadata_value_holding_a_bell_character_on_its_own_path() {
    assert_rejected(
        with(|c| c.metadata = metadata("team", "bill\u{7}ing")),
        "metadata.team",
        CONTROL_BUT_LAYOUT,
    );
}

#[test]
fn accepts_a_metadata_value_laid_out_with_tabs_and_line_breaks() {
    assert_accepted(with(|c| {
        c.metadata = metadata("notes", "one\r\ntwo\tthree")
    }));
}

// --- all text fields together ---

#[test]
fn reports_nul_in_every_text_field_at_once() {
    let config = with(|c| {
        c.name = "\0".to_owned();
        c.description = "\0".to_owned();
        c.model.provider = "\0".to_owned();
        c.model.name = "\0".to_owned();
        c.system_prompt = "\0".to_owned();
        c.metadata = metadata("\0", "\0");
    });
    assert_eq!(
        when_created_with(config),
        Err(AgentError::Invalid(vec![
            FieldError::new("name", NUL),
            FieldError::new("description", NUL),
            FieldError::new("model.provider", NUL),
            FieldError::new("model.name", NUL),
            FieldError::new("system_prompt", NUL),
            FieldError::new("metadata", "keys must not contain NUL characters"),
            FieldError::new("metadata.\0", NUL),
        ]))
    );
}
