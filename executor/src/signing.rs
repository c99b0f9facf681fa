//! Signatures of the requests sent to `http` tools, so a tool can tell AgentOS sent them:
//! `X-AgentOS-Signature: v1=<hex HMAC-SHA256 over "<timestamp>.<body>">`, with the unix
//! seconds in `X-AgentOS-Timestamp` (a tool should refuse old timestamps against replays).

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-AgentOS-Signature";
/// Header carrying the signing time, in unix seconds.
pub const TIMESTAMP_HEADER: &str = "X-AgentOS-Timestamp";
/// The signature scheme's prefix in [`SIGNATURE_HEADER`].
pub const SCHEME: &str = "v1=";

/// Signs request bodies with the platform's signing secret.
#[derive(Clone)]
pub struct Signer {
    secret: SecretString,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

impl Signer {
    /// A signer with `secret`.
    pub fn new(secret: SecretString) -> Self {
        Self { secret }
    }

    /// The [`SIGNATURE_HEADER`] value for `body` sent at `timestamp`.
    pub fn sign(&self, timestamp: u64, body: &[u8]) -> String {
        let mac = mac(self.secret.expose_secret().as_bytes(), timestamp, body);
        format!("{SCHEME}{}", hex::encode(mac.finalize().into_bytes()))
    }
}

/// Whether `signature` (a [`SIGNATURE_HEADER`] value) signs `body` at `timestamp` with
/// `secret`, compared in constant time: what a tool written in Rust checks.
pub fn verify(secret: &[u8], timestamp: u64, body: &[u8], signature: &str) -> bool {
    let Some(bytes) = signature
        .strip_prefix(SCHEME)
        .and_then(|hex_text| hex::decode(hex_text).ok())
    else {
        return false;
    };
    mac(secret, timestamp, body).verify_slice(&bytes).is_ok()
}

fn mac(secret: &[u8], timestamp: u64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_known_hmac_sha256() {
        // echo -n '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret
        let signer = Signer::new(SecretString::from("secret"));
        assert_eq!(
            signer.sign(1_700_000_000, br#"{"a":1}"#),
            "v1=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686"
        );
    }

    #[test]
    fn verifies_its_own_signatures_only() {
        let signer = Signer::new(SecretString::from("secret"));
        let signature = signer.sign(42, b"body");
        assert!(verify(b"secret", 42, b"body", &signature));
        assert!(!verify(b"other", 42, b"body", &signature));
        assert!(!verify(b"secret", 43, b"body", &signature));
        assert!(!verify(b"secret", 42, b"body!", &signature));
        assert!(!verify(b"secret", 42, b"body", "v2=00"));
        assert!(!verify(b"secret", 42, b"body", "v1=zz"));
    }
}
