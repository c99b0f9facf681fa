//! Standard Webhooks signatures (symmetric, `v1`): HMAC-SHA256 over
//! `{webhook-id}.{webhook-timestamp}.{body}`, base64-encoded, sent as `v1,<signature>` in
//! `webhook-signature`. Secrets are shown as `whsec_` + base64 of the key bytes.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// How a secret is shown, so that it is recognisable (and the right scheme is chosen).
pub const SECRET_PREFIX: &str = "whsec_";
/// Random key bytes per secret; the specification asks for 24 to 64.
pub const SECRET_BYTES: usize = 32;
/// The header carrying the message id (the event id: the same on every retry).
pub const ID_HEADER: &str = "webhook-id";
/// The header carrying the attempt's time, in Unix seconds.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// The header carrying the signatures, space-delimited.
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// A subscription's signing key.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(Vec<u8>);

// The key must never reach a log line.
impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(..)")
    }
}

impl SigningSecret {
    /// A new random key from the thread's CSPRNG (seeded from the operating system).
    pub fn generate() -> Self {
        let mut key = vec![0; SECRET_BYTES];
        rand::rng().fill_bytes(&mut key);
        Self(key)
    }

    /// The key whose bytes are `material` (as stored in `data_keys`).
    pub fn from_material(material: Vec<u8>) -> Self {
        Self(material)
    }

    /// A key as shown to a tenant (`whsec_<base64>`; the prefix may be left out).
    pub fn parse(text: &str) -> Option<Self> {
        let encoded = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
        STANDARD
            .decode(encoded)
            .ok()
            .filter(|key| !key.is_empty())
            .map(Self)
    }

    /// The key bytes, to store.
    pub fn material(&self) -> &[u8] {
        &self.0
    }

    /// The key as shown to the tenant, once: `whsec_<base64>`.
    pub fn encoded(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// The `webhook-signature` value for a message: `v1,<base64 HMAC-SHA256>`.
    pub fn sign(&self, message_id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC accepts keys of any length");
        mac.update(message_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproduces_the_reference_libraries_published_signature() {
        // The vector the Standard Webhooks reference libraries test their signing with.
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            secret.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_generated_secret_is_random_prefixed_and_reads_back() {
        let (a, b) = (SigningSecret::generate(), SigningSecret::generate());
        assert_ne!(a, b);
        assert_eq!(a.material().len(), SECRET_BYTES);
        assert!(a.encoded().starts_with("whsec_"));
        assert_eq!(SigningSecret::parse(&a.encoded()), Some(a.clone()));
        assert_eq!(format!("{a:?}"), "SigningSecret(..)");
    }

    #[test]
    fn every_part_of_the_message_changes_the_signature() {
        let secret = SigningSecret::generate();
        let signature = secret.sign("id", 1, b"{}");
        assert_ne!(secret.sign("id2", 1, b"{}"), signature);
        assert_ne!(secret.sign("id", 2, b"{}"), signature);
        assert_ne!(secret.sign("id", 1, b"{ }"), signature);
        assert_ne!(SigningSecret::generate().sign("id", 1, b"{}"), signature);
    }

    #[test]
    fn garbage_is_not_a_secret() {
        assert_eq!(SigningSecret::parse("whsec_!!!"), None);
        assert_eq!(SigningSecret::parse("whsec_"), None);
    }
}
