//! Every process migrates at start-up, so migrations must tolerate running side by side.

use eventstore::database;
use eventstore::testing::{database_url, with_database};
use futures::future::join_all;
use sqlx::{Connection, Executor, PgConnection};
use uuid::Uuid;

#[tokio::test]
async fn processes_migrating_an_empty_database_at_once_all_succeed() {
    // Given an empty database,
    let name = format!("agentos_migrate_{}", Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&database_url()).await.unwrap();
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let url = with_database(&database_url(), &name);

    // when six processes (pools) start and migrate at the same moment,
    let results = join_all((0..6).map(|_| {
        let url = url.clone();
        async move {
            let pool = database::connect(&url, 2).await?;
            database::migrate(&pool).await?;
            pool.close().await;
            Ok::<_, eventstore::StoreError>(())
        }
    }))
    .await;

    // then every one succeeds and each migration is applied exactly once.
    for result in results {
        result.expect("a concurrent migration failed");
    }
    let pool = database::connect(&url, 1).await.unwrap();
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(applied, [1, 2, 3, 4]);
    let has_events: bool = sqlx::query_scalar("SELECT to_regclass('events') IS NOT NULL")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(has_events);
    pool.close().await;
    admin
        .execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str())
        .await
        .unwrap();
}
