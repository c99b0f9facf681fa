//! `agentos audit`: verify the hash chain, sign a checkpoint now, print the public key.

use anyhow::Context;
use eventstore::audit::signing::parse_public_key;
use eventstore::audit::{SignedCheckpoint, VerifyReport, checkpoints, verify};
use sqlx::PgPool;

use crate::Config;

/// Verifies from chain index `from` against the checkpoints signed by one of
/// `public_keys` (base64), or by the configured signing key when none is given.
pub async fn verify_chain(
    pool: &PgPool,
    config: &Config,
    public_keys: &[String],
    from: i64,
) -> anyhow::Result<VerifyReport> {
    let keys = if public_keys.is_empty() {
        vec![config.audit_signer()?.public_key()]
    } else {
        public_keys
            .iter()
            .map(|key| parse_public_key(key).map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<_>>()?
    };
    Ok(verify::verify(pool, &keys, from).await?)
}

/// Signs the chain head now, stores it and publishes it to the audit stream.
pub async fn checkpoint(
    pool: &PgPool,
    config: &Config,
) -> anyhow::Result<Option<SignedCheckpoint>> {
    let nats = async_nats::connect(&config.nats_url)
        .await
        .context("connecting to NATS")?;
    let jetstream = async_nats::jetstream::new(nats);
    let signer = config.audit_signer()?;
    Ok(checkpoints::checkpoint_now(pool, &signer, &jetstream, &config.namespace).await?)
}
