//! A small migration runner: numbered SQL files per backend, each applied once, in
//! order, inside a transaction that holds the migration lock.

use sqlx::AssertSqlSafe;

use crate::{Backend, Result, Store, now_ms};

struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "directory",
        sql: include_str!("../migrations/sqlite/0001_directory.sql"),
    },
    Migration {
        version: 2,
        name: "outbox",
        sql: include_str!("../migrations/sqlite/0002_outbox.sql"),
    },
    Migration {
        version: 3,
        name: "meetings",
        sql: include_str!("../migrations/sqlite/0003_meetings.sql"),
    },
    Migration {
        version: 4,
        name: "web",
        sql: include_str!("../migrations/sqlite/0004_web.sql"),
    },
    Migration {
        version: 5,
        name: "phone_pin_throttle",
        sql: include_str!("../migrations/sqlite/0005_phone_pin_throttle.sql"),
    },
];

const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "directory",
        sql: include_str!("../migrations/postgres/0001_directory.sql"),
    },
    Migration {
        version: 2,
        name: "outbox",
        sql: include_str!("../migrations/postgres/0002_outbox.sql"),
    },
    Migration {
        version: 3,
        name: "meetings",
        sql: include_str!("../migrations/postgres/0003_meetings.sql"),
    },
    Migration {
        version: 4,
        name: "web",
        sql: include_str!("../migrations/postgres/0004_web.sql"),
    },
    Migration {
        version: 5,
        name: "phone_pin_throttle",
        sql: include_str!("../migrations/postgres/0005_phone_pin_throttle.sql"),
    },
];

pub(crate) async fn run(store: &Store) -> Result<()> {
    let migrations = match store.backend() {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    };
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, \
         applied_at_ms BIGINT NOT NULL)",
    )
    .execute(store.pool())
    .await
    .or_else(ignore_concurrent_create)?;
    for migration in migrations {
        let mut tx = store.begin_write().await?;
        if store.backend() == Backend::Postgres {
            // Serialises migrations across processes starting at once.
            sqlx::query("SELECT pg_advisory_xact_lock(7260010001)")
                .execute(&mut *tx)
                .await?;
        }
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                .bind(migration.version)
                .fetch_optional(&mut *tx)
                .await?;
        if applied.is_some() {
            tx.rollback().await?;
            continue;
        }
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applying migration"
        );
        sqlx::raw_sql(AssertSqlSafe(migration.sql))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES ($1, $2, $3)",
        )
        .bind(migration.version)
        .bind(migration.name)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    Ok(())
}

/// Two PostgreSQL sessions running `CREATE TABLE IF NOT EXISTS` at once can still
/// collide on the catalogue; the table exists either way.
fn ignore_concurrent_create(e: sqlx::Error) -> Result<sqlx::any::AnyQueryResult> {
    match &e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
            Ok(Default::default())
        }
        _ => Err(e.into()),
    }
}
