//! The production [`JsonSchemaCheck`]: the `jsonschema` crate, with compiled validators
//! kept in a small LRU cache. Tool versions never change once published, so a version's
//! schema compiles once per process however many calls check their arguments against it.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use domain::FieldError;
use domain::tool::{JsonSchemaCheck, SchemaChecker, schema_problem, uncompilable_schema};
use jsonschema::{ValidationError, Validator};
use lru::LruCache;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// How many compiled schemas a checker keeps by default.
pub const DEFAULT_CACHED_SCHEMAS: usize = 256;

/// Checks schemas and values with the `jsonschema` crate, compiling each schema once.
///
/// The cache is keyed by a SHA-256 of the schema's serialized form rather than by
/// (tool, version): the aggregates hand the checker a schema, not its origin, and a
/// published version's schema is immutable, so the two keys name the same thing.
pub struct CachedSchemaCheck {
    validators: Mutex<LruCache<[u8; 32], Arc<Validator>>>,
}

impl std::fmt::Debug for CachedSchemaCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedSchemaCheck").finish_non_exhaustive()
    }
}

impl CachedSchemaCheck {
    /// A checker keeping up to `capacity` compiled schemas (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self {
            validators: Mutex::new(LruCache::new(capacity)),
        }
    }

    /// A checker with the default capacity, as the aggregates' services.
    pub fn shared() -> SchemaChecker {
        Arc::new(Self::new(DEFAULT_CACHED_SCHEMAS))
    }

    /// How many compiled schemas the cache holds.
    pub fn cached(&self) -> usize {
        self.lock().len()
    }

    /// The compiled `schema`, from the cache or compiled now (and then cached).
    fn validator(&self, schema: &Value) -> Result<Arc<Validator>, ValidationError<'static>> {
        let key: [u8; 32] = Sha256::digest(schema.to_string().as_bytes()).into();
        if let Some(validator) = self.lock().get(&key) {
            return Ok(validator.clone());
        }
        // Compiled outside the lock: a large schema must not stall every other check.
        let validator = Arc::new(jsonschema::validator_for(schema)?);
        self.lock().put(key, validator.clone());
        Ok(validator)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<[u8; 32], Arc<Validator>>> {
        // The cache holds no invariant a panicking holder could break: keep using it.
        self.validators
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl JsonSchemaCheck for CachedSchemaCheck {
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
        // compiling finds them. A schema that compiles is about to be published: cache it.
        match self.validator(schema) {
            Ok(_) => Vec::new(),
            Err(error) => vec![schema_problem(
                error.instance_path().as_str(),
                &error.masked(),
            )],
        }
    }

    fn instance_errors(&self, schema: &Value, instance: &Value) -> Vec<FieldError> {
        match self.validator(schema) {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": { "city": { "type": "string", "minLength": 1 } },
            "required": ["city"],
            "additionalProperties": false
        })
    }

    #[test]
    fn reports_each_failure_of_a_value_with_its_pointer() {
        let checker = CachedSchemaCheck::new(4);
        let errors = checker.instance_errors(&schema(), &json!({"city": "", "x": 1}));
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(fields.contains(&"/city"), "{errors:?}");
        assert!(fields.contains(&""), "{errors:?}");
        assert!(
            checker
                .instance_errors(&schema(), &json!({"city": "Oslo"}))
                .is_empty()
        );
    }

    #[test]
    fn compiles_each_schema_once_and_forgets_the_least_recently_used() {
        let checker = CachedSchemaCheck::new(2);
        for _ in 0..3 {
            checker.instance_errors(&schema(), &json!({"city": "Oslo"}));
        }
        assert_eq!(checker.cached(), 1);
        for n in 0..3 {
            checker.instance_errors(&json!({"maximum": n}), &json!(1));
        }
        assert_eq!(checker.cached(), 2);
    }

    #[test]
    fn reports_the_problems_of_an_invalid_schema_where_they_are() {
        let checker = CachedSchemaCheck::new(2);
        let problems = checker.schema_errors(&json!({"properties": {"a": {"type": 3}}}));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("/properties/a/type"), "{problems:?}");
        assert!(checker.schema_errors(&schema()).is_empty());
        let bad_regex = checker.schema_errors(&json!({"pattern": "("}));
        assert_eq!(bad_regex.len(), 1, "{bad_regex:?}");
    }

    #[test]
    fn a_value_checked_against_a_schema_that_does_not_compile_fails_once() {
        let checker = CachedSchemaCheck::new(2);
        let errors = checker.instance_errors(&json!({"$ref": "#/nowhere"}), &json!(1));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].message.starts_with("cannot be checked"));
    }
}
