//! Sealing content inside events with a per-resource data key (XChaCha20-Poly1305), so that
//! deleting the key from `data_keys` makes every copy unrecoverable (crypto-shredding) while
//! the events themselves stay untouched for replay and audit.
//!
//! Each seal takes a fresh random 192-bit nonce (safe to pick at random, unlike a 96-bit
//! one) and associated data that binds the ciphertext to where it belongs: a sealed text
//! moved to another memory or revision fails to open instead of reading as that one.

use std::collections::HashMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use domain::memory::SealedContent;
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::{Alongside, StoreError};

/// Why sealed content could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealingError {
    /// The content names another key than the one given.
    #[error("sealed with key {sealed_with}, not {given}")]
    WrongKey { sealed_with: Uuid, given: Uuid },
    /// Stored key material of the wrong length.
    #[error("data key {0} is not 32 bytes")]
    BadKey(Uuid),
    /// The nonce or ciphertext is not base64 of the right length.
    #[error("sealed content is malformed")]
    Malformed,
    /// Authentication failed: tampered, or bound to other associated data.
    #[error("sealed content does not open with its key and associated data")]
    Unauthentic,
}

/// A 256-bit data key and its id. Its material never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct DataKey {
    id: Uuid,
    material: Key,
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataKey({})", self.id)
    }
}

impl DataKey {
    /// A new random key (from the operating system's generator) with a new id.
    pub fn generate() -> Self {
        Self {
            id: Uuid::now_v7(),
            material: XChaCha20Poly1305::generate_key(&mut OsRng),
        }
    }

    /// A key as stored in `data_keys`.
    pub fn from_stored(id: Uuid, material: &[u8]) -> Result<Self, SealingError> {
        if material.len() != 32 {
            return Err(SealingError::BadKey(id));
        }
        Ok(Self {
            id,
            material: *Key::from_slice(material),
        })
    }

    /// The key's id, which sealed content names.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The write that stores this key in the same transaction as the command's events.
    pub fn put(&self) -> Alongside {
        Alongside::PutDataKey {
            key_id: self.id,
            material: self.material.to_vec(),
        }
    }

    /// Encrypts `plaintext`, bound to `associated_data`, under a fresh random nonce.
    pub fn seal(&self, associated_data: &[u8], plaintext: &str) -> SealedContent {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: associated_data,
        };
        // Encryption fails only for inputs past 256 GiB; content is capped far below that.
        let ciphertext = self.cipher().encrypt(&nonce, payload).unwrap_or_default();
        SealedContent {
            key_id: self.id,
            nonce: STANDARD.encode(nonce),
            ciphertext: STANDARD.encode(ciphertext),
        }
    }

    /// Decrypts `sealed`, which must have been sealed with this key and `associated_data`.
    pub fn open(
        &self,
        associated_data: &[u8],
        sealed: &SealedContent,
    ) -> Result<String, SealingError> {
        if sealed.key_id != self.id {
            return Err(SealingError::WrongKey {
                sealed_with: sealed.key_id,
                given: self.id,
            });
        }
        let nonce = STANDARD
            .decode(&sealed.nonce)
            .map_err(|_| SealingError::Malformed)?;
        if nonce.len() != 24 {
            return Err(SealingError::Malformed);
        }
        let ciphertext = STANDARD
            .decode(&sealed.ciphertext)
            .map_err(|_| SealingError::Malformed)?;
        let payload = Payload {
            msg: &ciphertext,
            aad: associated_data,
        };
        let plaintext = self
            .cipher()
            .decrypt(XNonce::from_slice(&nonce), payload)
            .map_err(|_| SealingError::Unauthentic)?;
        String::from_utf8(plaintext).map_err(|_| SealingError::Malformed)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.material)
    }
}

/// What a memory's content is bound to: its id and revision.
pub fn memory_binding(memory_id: Uuid, revision: u32) -> Vec<u8> {
    format!("agentos.memory:{memory_id}:{revision}").into_bytes()
}

/// Data keys found by id; a deleted (forgotten) key is simply absent.
#[derive(Debug, Clone, Default)]
pub struct DataKeys(HashMap<Uuid, DataKey>);

impl DataKeys {
    /// The key `id`, unless it was deleted.
    pub fn get(&self, id: Uuid) -> Option<&DataKey> {
        self.0.get(&id)
    }

    /// Opens `sealed` with its key; `None` when the key is gone, which is what forgetting
    /// means. Content that does not open with a key that exists is an error.
    pub fn open(
        &self,
        associated_data: &[u8],
        sealed: &SealedContent,
    ) -> Result<Option<String>, SealingError> {
        self.get(sealed.key_id)
            .map(|key| key.open(associated_data, sealed))
            .transpose()
    }
}

/// The data keys among `ids` that still exist.
pub async fn find_data_keys<'e>(
    executor: impl PgExecutor<'e>,
    ids: &[Uuid],
) -> Result<DataKeys, StoreError> {
    if ids.is_empty() {
        return Ok(DataKeys::default());
    }
    let rows: Vec<(Uuid, Vec<u8>)> =
        sqlx::query_as("SELECT key_id, material FROM data_keys WHERE key_id = ANY($1)")
            .bind(ids)
            .fetch_all(executor)
            .await?;
    let keys = rows
        .into_iter()
        .map(|(id, material)| {
            DataKey::from_stored(id, &material)
                .map(|key| (id, key))
                .map_err(|err| StoreError::Invalid(err.to_string()))
        })
        .collect::<Result<_, _>>()?;
    Ok(DataKeys(keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAINTEXT: &str = "Prefers invoices sent by email.";

    #[test]
    fn opens_what_it_sealed_with_the_same_binding() {
        let key = DataKey::generate();
        let binding = memory_binding(Uuid::now_v7(), 1);
        let sealed = key.seal(&binding, PLAINTEXT);
        assert_eq!(sealed.key_id, key.id());
        assert!(!sealed.ciphertext.contains("invoices"));
        assert_eq!(key.open(&binding, &sealed).unwrap(), PLAINTEXT);
    }

    #[test]
    fn every_seal_takes_a_fresh_nonce() {
        let key = DataKey::generate();
        let binding = memory_binding(Uuid::now_v7(), 1);
        let (first, second) = (key.seal(&binding, PLAINTEXT), key.seal(&binding, PLAINTEXT));
        assert_ne!(first.nonce, second.nonce);
        assert_ne!(first.ciphertext, second.ciphertext);
    }

    #[test]
    fn refuses_content_bound_to_another_memory_or_revision() {
        let key = DataKey::generate();
        let memory = Uuid::now_v7();
        let sealed = key.seal(&memory_binding(memory, 1), PLAINTEXT);
        for binding in [memory_binding(memory, 2), memory_binding(Uuid::now_v7(), 1)] {
            assert_eq!(key.open(&binding, &sealed), Err(SealingError::Unauthentic));
        }
    }

    #[test]
    fn refuses_another_key_and_tampered_content() {
        let key = DataKey::generate();
        let binding = memory_binding(Uuid::now_v7(), 1);
        let sealed = key.seal(&binding, PLAINTEXT);
        let stranger = DataKey::generate();
        assert!(matches!(
            stranger.open(&binding, &sealed),
            Err(SealingError::WrongKey { .. })
        ));
        // Same id, other material: what a restored wrong backup would look like.
        let impostor = DataKey::from_stored(key.id(), &[7; 32]).unwrap();
        assert_eq!(
            impostor.open(&binding, &sealed),
            Err(SealingError::Unauthentic)
        );
        let mut tampered = sealed.clone();
        tampered.ciphertext = STANDARD.encode(b"not what was sealed at all, no");
        assert_eq!(
            key.open(&binding, &tampered),
            Err(SealingError::Unauthentic)
        );
        let mut garbled = sealed;
        garbled.nonce = "!!".to_owned();
        assert_eq!(key.open(&binding, &garbled), Err(SealingError::Malformed));
    }

    #[test]
    fn stored_material_round_trips_and_must_be_32_bytes() {
        let key = DataKey::generate();
        let Alongside::PutDataKey { key_id, material } = key.put() else {
            panic!("put stores the key");
        };
        assert_eq!(DataKey::from_stored(key_id, &material).unwrap(), key);
        assert_eq!(
            DataKey::from_stored(key_id, &material[..31]),
            Err(SealingError::BadKey(key_id))
        );
    }

    #[test]
    fn key_material_never_prints() {
        let key = DataKey::generate();
        let printed = format!("{key:?} {:?}", key.put());
        assert!(printed.contains(&key.id().to_string()));
        assert!(!printed.contains("material"));
        let material = format!("{:?}", key.material.as_slice());
        assert!(!printed.contains(&material));
    }

    #[test]
    fn a_deleted_key_opens_to_nothing() {
        let key = DataKey::generate();
        let binding = memory_binding(Uuid::now_v7(), 1);
        let sealed = key.seal(&binding, PLAINTEXT);
        assert_eq!(DataKeys::default().open(&binding, &sealed), Ok(None));
        let keys = DataKeys(HashMap::from([(key.id(), key)]));
        assert_eq!(keys.open(&binding, &sealed), Ok(Some(PLAINTEXT.to_owned())));
    }
}
