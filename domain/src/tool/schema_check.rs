//! JSON Schema checks behind a trait: the checks are pure, but the library doing them is not
//! something the domain may depend on, so the caller supplies it as the aggregates' services.

use std::fmt;
use std::io;
use std::sync::Arc;

use serde_json::Value;

use crate::FieldError;
use crate::rules::NUL_MESSAGE;

#[cfg(test)]
pub(crate) mod library;

/// Largest serialized size of a tool's input or output schema, in bytes.
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;

/// Checks JSON Schemas, and values against them, without side effects.
pub trait JsonSchemaCheck: Send + Sync {
    /// Problems that make `schema` not a valid JSON Schema (empty when valid).
    fn schema_errors(&self, schema: &Value) -> Vec<String>;
    /// Each way `instance` fails `schema`. `field` is the JSON pointer of the failing value
    /// inside `instance` (`""` for the instance itself, `/city` for its `city` property); the
    /// aggregate prefixes it with the command's field, giving `arguments/city`.
    fn instance_errors(&self, schema: &Value, instance: &Value) -> Vec<FieldError>;
}

/// The services the tool and tool-invocation aggregates take: a shared schema checker.
pub type SchemaChecker = Arc<dyn JsonSchemaCheck>;

/// How an implementation words a schema problem: the library's message, followed by where
/// in the schema it is (a JSON pointer) unless that is the root.
pub fn schema_problem(path: &str, message: &impl fmt::Display) -> String {
    if path.is_empty() {
        message.to_string()
    } else {
        format!("{message} (at {path})")
    }
}

/// The one failure an implementation reports for a value whose schema does not compile.
pub fn uncompilable_schema(message: &impl fmt::Display) -> FieldError {
    FieldError::new(
        "",
        format!("cannot be checked: the schema does not compile: {message}"),
    )
}

/// Checks that `schema` is a JSON object of at most [`MAX_SCHEMA_BYTES`] that is a valid
/// JSON Schema, reporting each problem on `field`.
pub(crate) fn check_schema(
    errors: &mut Vec<FieldError>,
    field: &str,
    schema: &Value,
    checker: &dyn JsonSchemaCheck,
) {
    if !schema.is_object() {
        errors.push(FieldError::new(field, "must be a JSON object"));
        return;
    }
    if serialized_len_exceeds(schema, MAX_SCHEMA_BYTES) {
        errors.push(FieldError::new(
            field,
            format!("must be at most {MAX_SCHEMA_BYTES} bytes when serialized"),
        ));
        // Checking a schema that will be rejected anyway only costs time.
        return;
    }
    if holds_nul(schema) {
        errors.push(FieldError::new(field, NUL_MESSAGE));
    }
    for problem in checker.schema_errors(schema) {
        errors.push(FieldError::new(
            field,
            format!("must be a valid JSON Schema: {problem}"),
        ));
    }
}

/// Checks `instance` against `schema`, one error per failure, each on `field` followed by
/// the pointer of the failing value.
pub(crate) fn check_instance(
    errors: &mut Vec<FieldError>,
    field: &str,
    schema: &Value,
    instance: &Value,
    checker: &dyn JsonSchemaCheck,
) {
    check_storable(errors, field, instance);
    for failure in checker.instance_errors(schema, instance) {
        errors.push(FieldError::new(
            format!("{field}{}", failure.field),
            failure.message,
        ));
    }
}

/// Checks that Postgres can store `value`: no string or key in it holds NUL.
pub(crate) fn check_storable(errors: &mut Vec<FieldError>, field: &str, value: &Value) {
    if holds_nul(value) {
        errors.push(FieldError::new(field, NUL_MESSAGE));
    }
}

/// Whether any string or key in `value` holds NUL, which Postgres cannot store in jsonb.
fn holds_nul(value: &Value) -> bool {
    // An explicit stack, so a deeply nested value cannot overflow the call stack.
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        match value {
            Value::String(text) if text.contains('\0') => return true,
            Value::Array(items) => pending.extend(items),
            Value::Object(entries) => {
                if entries.keys().any(|key| key.contains('\0')) {
                    return true;
                }
                pending.extend(entries.values());
            }
            _ => {}
        }
    }
    false
}

/// Whether `value` serialized as compact JSON takes more than `max` bytes; stops counting
/// as soon as it does.
fn serialized_len_exceeds(value: &Value, max: usize) -> bool {
    let mut counter = ByteCounter { written: 0, max };
    serde_json::to_writer(&mut counter, value).is_err()
}

/// Counts bytes written and fails once they pass `max`.
struct ByteCounter {
    written: usize,
    max: usize,
}

impl io::Write for ByteCounter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.written = self.written.saturating_add(bytes.len());
        if self.written > self.max {
            Err(io::Error::other("too large"))
        } else {
            Ok(bytes.len())
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
