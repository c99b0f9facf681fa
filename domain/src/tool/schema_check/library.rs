//! A [`JsonSchemaCheck`] backed by the `jsonschema` crate, used by the domain's tests. The
//! production twin (with a validator cache) is `eventstore::json_schema`; both word their
//! findings through [`schema_problem`] and [`uncompilable_schema`].

use serde_json::Value;

use super::{JsonSchemaCheck, schema_problem, uncompilable_schema};
use crate::FieldError;

/// Checks schemas against their draft's meta-schema and values against compiled schemas.
/// Messages are masked: they name the failing rule, never echo the value.
pub(crate) struct LibrarySchemaCheck;

impl JsonSchemaCheck for LibrarySchemaCheck {
    fn schema_errors(&self, schema: &Value) -> Vec<String> {
        // An unknown `$schema` cannot be resolved without network access: that is a problem.
        let meta = match jsonschema::meta::validator_for(schema) {
            Ok(meta) => meta,
            Err(error) => return vec![error.masked().to_string()],
        };
        let problems: Vec<String> = meta
            .iter_errors(schema)
            .map(|error| schema_problem(error.instance_path().as_str(), &error.masked()))
            .collect();
        if !problems.is_empty() {
            return problems;
        }
        // The meta-schema misses some problems (a bad regex, a `$ref` that resolves nowhere);
        // compiling finds them.
        match jsonschema::validator_for(schema) {
            Ok(_) => Vec::new(),
            Err(error) => vec![schema_problem(
                error.instance_path().as_str(),
                &error.masked(),
            )],
        }
    }

    fn instance_errors(&self, schema: &Value, instance: &Value) -> Vec<FieldError> {
        match jsonschema::validator_for(schema) {
            Ok(validator) => validator
                .iter_errors(instance)
                .map(|error| {
                    FieldError::new(error.instance_path().as_str(), error.masked().to_string())
                })
                .collect(),
            Err(error) => vec![uncompilable_schema(&error.masked())],
        }
    }
}
