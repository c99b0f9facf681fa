//! Boundary tests of every configuration rule, driven through `CreateAgent`.

use std::collections::BTreeMap;

use cqrs_es::test::TestFramework;
use uuid::Uuid;

use crate::FieldError;
use crate::agent::fixtures::{AGENT, TENANT, at, valid_config};
use crate::agent::{Agent, AgentCommand, AgentConfig, AgentCreated, AgentError, AgentEvent};

mod characters;

fn when_created_with(config: AgentConfig) -> Result<Vec<AgentEvent>, AgentError> {
    TestFramework::<Agent>::with(())
        .given_no_previous_events()
        .when(AgentCommand::CreateAgent {
            tenant_id: TENANT,
            agent_id: AGENT,
            config,
            now: at(0),
        })
        .inspect_result()
}

fn assert_accepted(config: AgentConfig) {
    let expected = AgentEvent::AgentCreated(AgentCreated {
        agent_id: AGENT,
        tenant_id: TENANT,
        config: config.clone(),
        config_version: 1,
        created_at: at(0),
    });
    assert_eq!(when_created_with(config), Ok(vec![expected]));
}

fn assert_rejected(config: AgentConfig, field: &str, message: &str) {
    assert_eq!(
        when_created_with(config),
        Err(AgentError::Invalid(vec![FieldError::new(field, message)]))
    );
}

fn with(change: impl FnOnce(&mut AgentConfig)) -> AgentConfig {
    let mut config = valid_config();
    change(&mut config);
    config
}

fn distinct_tools(count: usize) -> Vec<Uuid> {
    (0..count as u128).map(Uuid::from_u128).collect()
}

fn metadata_entries(count: usize) -> BTreeMap<String, String> {
    (0..count)
        .map(|i| (format!("key{i}"), "v".to_owned()))
        .collect()
}

#[test]
fn accepts_the_sample_config() {
    assert_eq!(valid_config().validate(), Ok(()));
}

// --- name ---

#[test]
fn accepts_a_name_of_100_characters() {
    assert_accepted(with(|c| c.name = "n".repeat(100)));
}

#[test]
fn counts_name_length_in_characters_not_bytes() {
    assert_accepted(with(|c| c.name = "名".repeat(100)));
}

#[test]
fn rejects_a_name_of_101_characters() {
    assert_rejected(
        with(|c| c.name = "n".repeat(101)),
        "name",
        "must be at most 100 characters",
    );
}

#[test]
fn rejects_an_empty_name() {
    assert_rejected(
        with(|c| c.name = String::new()),
        "name",
        "must not be empty",
    );
}

#[test]
fn rejects_a_name_of_only_whitespace() {
    // U+3000 is whitespace but not a control character, so only the blank rule applies.
    assert_rejected(
        with(|c| c.name = " \u{3000} ".to_owned()),
        "name",
        "must not be empty",
    );
}

#[test]
fn reports_a_blank_name_with_a_tab_as_both_empty_and_holding_a_control_character() {
    assert_eq!(
        when_created_with(with(|c| c.name = " \t ".to_owned())),
        Err(AgentError::Invalid(vec![
            FieldError::new("name", "must not be empty"),
            FieldError::new("name", "must not contain control characters"),
        ]))
    );
}

// --- description ---

#[test]
fn accepts_a_description_of_2000_characters() {
    assert_accepted(with(|c| c.description = "d".repeat(2_000)));
}

#[test]
fn accepts_an_empty_description() {
    assert_accepted(with(|c| c.description = String::new()));
}

#[test]
fn rejects_a_description_of_2001_characters() {
    assert_rejected(
        with(|c| c.description = "d".repeat(2_001)),
        "description",
        "must be at most 2000 characters",
    );
}

// --- model.provider ---

#[test]
fn accepts_a_provider_of_64_characters() {
    assert_accepted(with(|c| c.model.provider = "p".repeat(64)));
}

#[test]
fn rejects_a_provider_of_65_characters() {
    assert_rejected(
        with(|c| c.model.provider = "p".repeat(65)),
        "model.provider",
        "must be at most 64 characters",
    );
}

#[test]
fn rejects_an_empty_provider() {
    assert_rejected(
        with(|c| c.model.provider = String::new()),
        "model.provider",
        "must not be empty",
    );
}

// --- model.name ---

#[test]
fn accepts_a_model_name_of_128_characters() {
    assert_accepted(with(|c| c.model.name = "m".repeat(128)));
}

#[test]
fn rejects_a_model_name_of_129_characters() {
    assert_rejected(
        with(|c| c.model.name = "m".repeat(129)),
        "model.name",
        "must be at most 128 characters",
    );
}

#[test]
fn rejects_an_empty_model_name() {
    assert_rejected(
        with(|c| c.model.name = String::new()),
        "model.name",
        "must not be empty",
    );
}

// --- model.temperature ---

#[test]
fn accepts_temperatures_of_0_and_2() {
    assert_accepted(with(|c| c.model.temperature = 0.0));
    assert_accepted(with(|c| c.model.temperature = 2.0));
}

#[test]
fn rejects_a_temperature_of_2_01() {
    assert_rejected(
        with(|c| c.model.temperature = 2.01),
        "model.temperature",
        "must be between 0 and 2",
    );
}

#[test]
fn rejects_a_negative_temperature() {
    assert_rejected(
        with(|c| c.model.temperature = -0.01),
        "model.temperature",
        "must be between 0 and 2",
    );
}

#[test]
fn rejects_a_temperature_that_is_not_a_number() {
    assert_rejected(
        with(|c| c.model.temperature = f64::NAN),
        "model.temperature",
        "must be between 0 and 2",
    );
}

#[test]
fn rejects_an_infinite_temperature() {
    assert_rejected(
        with(|c| c.model.temperature = f64::INFINITY),
        "model.temperature",
        "must be between 0 and 2",
    );
}

// --- model.max_output_tokens ---

#[test]
fn accepts_max_output_tokens_of_1_and_1_000_000() {
    assert_accepted(with(|c| c.model.max_output_tokens = 1));
    assert_accepted(with(|c| c.model.max_output_tokens = 1_000_000));
}

#[test]
fn rejects_max_output_tokens_of_0() {
    assert_rejected(
        with(|c| c.model.max_output_tokens = 0),
        "model.max_output_tokens",
        "must be between 1 and 1000000",
    );
}

#[test]
fn rejects_max_output_tokens_of_1_000_001() {
    assert_rejected(
        with(|c| c.model.max_output_tokens = 1_000_001),
        "model.max_output_tokens",
        "must be between 1 and 1000000",
    );
}

// --- system_prompt ---

#[test]
fn accepts_a_system_prompt_of_100_000_characters() {
    assert_accepted(with(|c| c.system_prompt = "s".repeat(100_000)));
}

#[test]
fn rejects_a_system_prompt_of_100_001_characters() {
    assert_rejected(
        with(|c| c.system_prompt = "s".repeat(100_001)),
        "system_prompt",
        "must be at most 100000 characters",
    );
}

// --- tool_ids ---

#[test]
fn accepts_128_distinct_tools() {
    assert_accepted(with(|c| c.tool_ids = distinct_tools(128)));
}

#[test]
fn rejects_129_tools() {
    assert_rejected(
        with(|c| c.tool_ids = distinct_tools(129)),
        "tool_ids",
        "must contain at most 128 items",
    );
}

#[test]
fn rejects_a_tool_listed_twice() {
    assert_rejected(
        with(|c| c.tool_ids = vec![Uuid::from_u128(7), Uuid::from_u128(8), Uuid::from_u128(7)]),
        "tool_ids",
        "must not contain duplicates",
    );
}

// --- metadata ---

#[test]
fn accepts_64_metadata_entries() {
    assert_accepted(with(|c| c.metadata = metadata_entries(64)));
}

#[test]
fn rejects_65_metadata_entries() {
    assert_rejected(
        with(|c| c.metadata = metadata_entries(65)),
        "metadata",
        "must contain at most 64 entries",
    );
}

#[test]
fn accepts_a_metadata_key_of_64_characters() {
    assert_accepted(with(|c| {
        c.metadata = BTreeMap::from([("k".repeat(64), "v".to_owned())])
    }));
}

#[test]
fn rejects_a_metadata_key_of_65_characters() {
    assert_rejected(
        with(|c| c.metadata = BTreeMap::from([("k".repeat(65), "v".to_owned())])),
        "metadata",
        "keys must be between 1 and 64 characters",
    );
}

#[test]
fn rejects_an_empty_metadata_key() {
    assert_rejected(
        with(|c| c.metadata = BTreeMap::from([(String::new(), "v".to_owned())])),
        "metadata",
        "keys must be between 1 and 64 characters",
    );
}

#[test]
fn accepts_a_metadata_value_of_1024_characters() {
    assert_accepted(with(|c| {
        c.metadata = BTreeMap::from([("team".to_owned(), "v".repeat(1_024))])
    }));
}

#[test]
fn rejects_a_metadata_value_of_1025_characters_on_its_own_path() {
    assert_rejected(
        with(|c| c.metadata = BTreeMap::from([("team".to_owned(), "v".repeat(1_025))])),
        "metadata.team",
        "must be at most 1024 characters",
    );
}

// --- all rules together ---

#[test]
fn reports_every_violation_at_once() {
    let config = AgentConfig {
        name: "n".repeat(101),
        description: "d".repeat(2_001),
        model: super::ModelConfig {
            provider: String::new(),
            name: " ".to_owned(),
            temperature: f64::NAN,
            max_output_tokens: 0,
        },
        system_prompt: "s".repeat(100_001),
        tool_ids: vec![Uuid::nil(), Uuid::nil()],
        metadata: BTreeMap::from([(String::new(), "v".repeat(1_025))]),
    };
    let expected = vec![
        FieldError::new("name", "must be at most 100 characters"),
        FieldError::new("description", "must be at most 2000 characters"),
        FieldError::new("model.provider", "must not be empty"),
        FieldError::new("model.name", "must not be empty"),
        FieldError::new("model.temperature", "must be between 0 and 2"),
        FieldError::new("model.max_output_tokens", "must be between 1 and 1000000"),
        FieldError::new("system_prompt", "must be at most 100000 characters"),
        FieldError::new("tool_ids", "must not contain duplicates"),
        FieldError::new("metadata", "keys must be between 1 and 64 characters"),
        FieldError::new("metadata.", "must be at most 1024 characters"),
    ];
    assert_eq!(config.validate(), Err(expected.clone()));
    assert_eq!(
        when_created_with(config),
        Err(AgentError::Invalid(expected))
    );
}
