//! The Ed25519 key that signs chain checkpoints.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

/// The seed used when none is configured. It is published in the README, so checkpoints
/// signed with it prove nothing: for development and tests only.
pub const DEVELOPMENT_SIGNING_KEY: &str = "yx40BDVnqw/to4tgFkXOHDL3BxerKHFv37lq0tOfPGA=";

/// Signs checkpoints; never prints its key.
#[derive(Clone)]
pub struct AuditSigner {
    key: SigningKey,
}

impl std::fmt::Debug for AuditSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSigner")
            .field("public_key", &self.public_key_base64())
            .finish()
    }
}

impl AuditSigner {
    /// A signer from a base64 (standard alphabet) 32-byte Ed25519 seed.
    pub fn from_base64_seed(seed: &str) -> Result<Self, String> {
        let bytes = STANDARD
            .decode(seed.trim())
            .map_err(|err| format!("the audit signing key is not base64: {err}"))?;
        let seed: [u8; 32] = bytes.try_into().map_err(|bytes: Vec<u8>| {
            format!(
                "the audit signing key must be a 32-byte seed, not {} bytes",
                bytes.len()
            )
        })?;
        Ok(Self {
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// The development signer (see [`DEVELOPMENT_SIGNING_KEY`]).
    pub fn development() -> Self {
        Self::from_base64_seed(DEVELOPMENT_SIGNING_KEY).unwrap_or_else(|_| Self {
            key: SigningKey::from_bytes(&[0; 32]),
        })
    }

    /// Whether this is the published development key.
    pub fn is_development(&self) -> bool {
        self.key.to_bytes() == Self::development().key.to_bytes()
    }

    /// The key that verifies this signer's signatures.
    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The public key as base64, as `agentos audit public-key` prints it.
    pub fn public_key_base64(&self) -> String {
        STANDARD.encode(self.public_key().as_bytes())
    }

    /// The Ed25519 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

/// A public key from its base64 form.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, String> {
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|err| format!("the public key is not base64: {err}"))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| "an Ed25519 public key has 32 bytes".to_owned())?;
    VerifyingKey::from_bytes(&bytes).map_err(|err| format!("not an Ed25519 public key: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_must_be_32_bytes_of_base64() {
        assert!(AuditSigner::from_base64_seed("not base64!").is_err());
        assert!(AuditSigner::from_base64_seed("AAAA").is_err());
        assert!(AuditSigner::from_base64_seed(DEVELOPMENT_SIGNING_KEY).is_ok());
    }

    #[test]
    fn the_printed_public_key_parses_back_and_the_development_key_is_recognised() {
        let signer = AuditSigner::development();
        assert!(signer.is_development());
        let parsed = parse_public_key(&signer.public_key_base64()).unwrap();
        assert_eq!(parsed, signer.public_key());
        let other = AuditSigner::from_base64_seed(&STANDARD.encode([7u8; 32])).unwrap();
        assert!(!other.is_development());
        assert!(format!("{other:?}").contains(&other.public_key_base64()));
    }
}
