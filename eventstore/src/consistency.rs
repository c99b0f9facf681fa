//! Consistency tokens: what a command's response hands the client so that a later read
//! can wait until the read models include that write.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// "Aggregate `aggregate_id` of type `aggregate_type` has reached `version`."
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyToken {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub version: u64,
}

impl ConsistencyToken {
    /// The opaque text form sent to clients.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "v1:{}:{}:{}",
            self.aggregate_type, self.aggregate_id, self.version
        ))
    }

    /// Parses a token produced by [`ConsistencyToken::encode`].
    pub fn decode(token: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let mut parts = text.splitn(4, ':');
        if parts.next()? != "v1" {
            return None;
        }
        let aggregate_type = parts.next()?.to_owned();
        let aggregate_id = parts.next()?.to_owned();
        let version = parts.next()?.parse().ok()?;
        (!aggregate_type.is_empty() && !aggregate_id.is_empty()).then_some(Self {
            aggregate_type,
            aggregate_id,
            version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let token = ConsistencyToken {
            aggregate_type: "agent".into(),
            aggregate_id: "0193".into(),
            version: 4,
        };
        assert_eq!(ConsistencyToken::decode(&token.encode()), Some(token));
        assert_eq!(ConsistencyToken::decode("not a token"), None);
        assert_eq!(
            ConsistencyToken::decode(&URL_SAFE_NO_PAD.encode("v1:a:b:x")),
            None
        );
    }
}
