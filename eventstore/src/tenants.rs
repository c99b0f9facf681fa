//! Tenants and their API keys. Keys are random, shown once, and stored as SHA-256 hashes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use crate::StoreError;

const KEY_PREFIX: &str = "agos_";

/// A new tenant with its first key; the only time the key is visible.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedKey {
    pub tenant_id: Uuid,
    pub key_id: Uuid,
    pub api_key: String,
}

/// Who a request authenticated as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub tenant_id: Uuid,
    pub key_id: Uuid,
}

/// Creates a tenant named `name` and issues its first API key.
pub async fn create_tenant(pool: &PgPool, name: &str) -> Result<IssuedKey, StoreError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(StoreError::Invalid(
            "tenant name must be 1 to 100 characters".into(),
        ));
    }
    let tenant_id = Uuid::now_v7();
    let mut tx = pool.begin().await?;
    sqlx::query("INSERT INTO tenants (tenant_id, name) VALUES ($1, $2)")
        .bind(tenant_id)
        .bind(name)
        .execute(&mut *tx)
        .await?;
    let issued = insert_key(&mut tx, tenant_id).await?;
    tx.commit().await?;
    Ok(issued)
}

/// Issues another key for an existing tenant.
pub async fn issue_key(pool: &PgPool, tenant_id: Uuid) -> Result<IssuedKey, StoreError> {
    let mut tx = pool.begin().await?;
    let issued = insert_key(&mut tx, tenant_id).await?;
    tx.commit().await?;
    Ok(issued)
}

async fn insert_key(
    tx: &mut sqlx::PgTransaction<'_>,
    tenant_id: Uuid,
) -> Result<IssuedKey, StoreError> {
    let key_id = Uuid::now_v7();
    // Two v4 UUIDs come from the OS's CSPRNG: 244 random bits.
    let mut secret = Vec::with_capacity(32);
    secret.extend_from_slice(Uuid::new_v4().as_bytes());
    secret.extend_from_slice(Uuid::new_v4().as_bytes());
    let api_key = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(secret));
    sqlx::query("INSERT INTO api_keys (key_id, tenant_id, key_hash) VALUES ($1, $2, $3)")
        .bind(key_id)
        .bind(tenant_id)
        .bind(hash_key(&api_key))
        .execute(&mut **tx)
        .await?;
    Ok(IssuedKey {
        tenant_id,
        key_id,
        api_key,
    })
}

/// The tenant and key behind `api_key`, unless it is unknown or revoked.
pub async fn authenticate(pool: &PgPool, api_key: &str) -> Result<Option<Principal>, StoreError> {
    if !api_key.starts_with(KEY_PREFIX) || api_key.len() > 128 {
        return Ok(None);
    }
    let row: Option<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT tenant_id, key_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
    )
    .bind(hash_key(api_key))
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(tenant_id, key_id)| Principal { tenant_id, key_id }))
}

/// Revokes a key; later requests with it are unauthenticated.
pub async fn revoke_key(pool: &PgPool, key_id: Uuid) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL",
    )
    .bind(key_id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

fn hash_key(api_key: &str) -> Vec<u8> {
    Sha256::digest(api_key.as_bytes()).to_vec()
}
