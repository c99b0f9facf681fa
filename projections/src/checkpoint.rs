//! Postgres projection checkpoints: the last JetStream stream sequence applied.

use sqlx::{PgConnection, PgPool};

use crate::ProjectionError;

/// Creates `projection_checkpoints` and the row for `projection` if missing.
pub async fn ensure(pool: &PgPool, projection: &str) -> Result<(), ProjectionError> {
    let mut tx = pool.begin().await?;
    // Concurrent CREATE TABLE IF NOT EXISTS can still collide in the catalog.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('agentos.projections.ddl', 0))")
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS projection_checkpoints (
             projection      text        PRIMARY KEY,
             stream_sequence bigint      NOT NULL,
             updated_at      timestamptz NOT NULL DEFAULT now())",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO projection_checkpoints (projection, stream_sequence) VALUES ($1, 0)
         ON CONFLICT (projection) DO NOTHING",
    )
    .bind(projection)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The checkpoint, read without locking.
pub async fn read(pool: &PgPool, projection: &str) -> Result<u64, ProjectionError> {
    let sequence: Option<i64> = sqlx::query_scalar(
        "SELECT stream_sequence FROM projection_checkpoints WHERE projection = $1",
    )
    .bind(projection)
    .fetch_optional(pool)
    .await?;
    Ok(sequence.map_or(0, |s| u64::try_from(s).unwrap_or_default()))
}

/// The checkpoint, locked until the transaction ends (writers of the read model and the
/// rebuild swap serialize here).
pub async fn lock(conn: &mut PgConnection, projection: &str) -> Result<u64, ProjectionError> {
    let sequence: i64 = sqlx::query_scalar(
        "SELECT stream_sequence FROM projection_checkpoints WHERE projection = $1 FOR UPDATE",
    )
    .bind(projection)
    .fetch_one(conn)
    .await?;
    Ok(u64::try_from(sequence).unwrap_or_default())
}

/// Moves the checkpoint to `sequence`.
pub async fn save(
    conn: &mut PgConnection,
    projection: &str,
    sequence: u64,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "UPDATE projection_checkpoints SET stream_sequence = $2, updated_at = now()
          WHERE projection = $1",
    )
    .bind(projection)
    .bind(i64::try_from(sequence).unwrap_or(i64::MAX))
    .execute(conn)
    .await?;
    Ok(())
}
