//! The shared schema checks, run with the real JSON Schema library.

use serde_json::{Value, json};

use super::library::LibrarySchemaCheck;
use super::*;
use crate::tool::fixtures::input_schema;

fn schema_violations(schema: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    check_schema(&mut errors, "input_schema", schema, &LibrarySchemaCheck);
    errors
}

fn instance_violations(instance: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    check_instance(
        &mut errors,
        "arguments",
        &input_schema(),
        instance,
        &LibrarySchemaCheck,
    );
    errors
}

fn fields(errors: &[FieldError]) -> Vec<&str> {
    errors.iter().map(|error| error.field.as_str()).collect()
}

/// A schema whose compact serialization takes exactly `bytes` bytes.
fn schema_of_bytes(bytes: usize) -> Value {
    let overhead = r#"{"description":""}"#.len();
    json!({ "description": "d".repeat(bytes - overhead) })
}

// --- check_schema ------------------------------------------------------------------------

#[test]
fn accepts_a_valid_object_schema() {
    assert_eq!(schema_violations(&input_schema()), vec![]);
}

#[test]
fn rejects_a_schema_that_is_not_an_object() {
    for schema in [json!(true), json!("string"), json!([]), Value::Null] {
        assert_eq!(
            schema_violations(&schema),
            vec![FieldError::new("input_schema", "must be a JSON object")]
        );
    }
}

#[test]
fn reports_each_problem_of_an_invalid_schema_where_it_is() {
    let errors = schema_violations(&json!({
        "properties": { "a": { "type": 3 }, "b": { "minimum": "x" } }
    }));
    assert_eq!(fields(&errors), ["input_schema", "input_schema"]);
    assert!(
        errors[0]
            .message
            .starts_with("must be a valid JSON Schema: ")
    );
    assert!(errors[0].message.ends_with("(at /properties/a/type)"));
    assert!(errors[1].message.ends_with("(at /properties/b/minimum)"));
}

#[test]
fn rejects_a_schema_the_meta_schema_allows_but_that_does_not_compile() {
    let errors = schema_violations(&json!({ "$ref": "#/definitions/missing" }));
    assert_eq!(fields(&errors), ["input_schema"]);
}

#[test]
fn rejects_a_schema_with_a_pattern_that_is_not_a_regex() {
    let errors = schema_violations(&json!({ "type": "string", "pattern": "(" }));
    assert_eq!(fields(&errors), ["input_schema"]);
    assert!(errors[0].message.ends_with("(at /pattern)"));
}

#[test]
fn rejects_a_schema_naming_a_meta_schema_that_cannot_be_resolved() {
    let errors = schema_violations(&json!({ "$schema": "http://example.com/custom" }));
    assert_eq!(fields(&errors), ["input_schema"]);
}

#[test]
fn accepts_a_schema_of_exactly_64_kib() {
    assert_eq!(
        schema_violations(&schema_of_bytes(MAX_SCHEMA_BYTES)),
        vec![]
    );
}

#[test]
fn rejects_a_schema_one_byte_over_64_kib() {
    assert_eq!(
        schema_violations(&schema_of_bytes(MAX_SCHEMA_BYTES + 1)),
        vec![FieldError::new(
            "input_schema",
            "must be at most 65536 bytes when serialized"
        )]
    );
}

#[test]
fn rejects_a_schema_holding_nul_in_a_key_or_a_string() {
    for schema in [
        json!({ "description": "a\u{0}b" }),
        json!({ "properties": { "a\u{0}": {} } }),
    ] {
        assert_eq!(
            schema_violations(&schema),
            vec![FieldError::new(
                "input_schema",
                "must not contain NUL characters"
            )]
        );
    }
}

// --- check_instance ----------------------------------------------------------------------

#[test]
fn accepts_an_instance_that_matches() {
    assert_eq!(
        instance_violations(&json!({ "city": "Oslo", "days": 3 })),
        vec![]
    );
}

#[test]
fn reports_one_error_per_failure_on_the_failing_path() {
    let errors = instance_violations(&json!({ "city": "", "days": "3" }));
    assert_eq!(
        errors,
        vec![
            FieldError::new("arguments/city", "value is shorter than 1 character"),
            FieldError::new("arguments/days", "value is not of type \"integer\""),
        ]
    );
}

#[test]
fn reports_failures_of_the_whole_instance_on_the_field_itself() {
    assert_eq!(
        instance_violations(&json!([1])),
        vec![FieldError::new(
            "arguments",
            "value is not of type \"object\""
        )]
    );
}

#[test]
fn rejects_an_instance_holding_nul_even_when_it_matches() {
    assert_eq!(
        instance_violations(&json!({ "city": "Os\u{0}lo" })),
        vec![FieldError::new(
            "arguments",
            "must not contain NUL characters"
        )]
    );
}

#[test]
fn finds_nul_however_deeply_it_is_nested() {
    let mut value = json!("\u{0}");
    for _ in 0..1_000 {
        let object = serde_json::Map::from_iter([("a".to_owned(), value)]);
        value = Value::Array(vec![Value::Object(object)]);
    }
    assert!(holds_nul(&value));
}
