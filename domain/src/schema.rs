//! The console's schema across upgrades: a newer console applies its
//! migrations at start, all of them in **one transaction** under an
//! advisory lock (two console processes never migrate at once: the second
//! waits, then finds nothing left to do). A migration that fails rolls the
//! whole upgrade back: the database stays exactly as the previous version
//! left it, and that version still runs on it. An older console refuses a
//! database a newer one migrated, rather than write to tables it does not
//! know.
//!
//! The schema's version is its newest migration's (`YYYYMMDDNNNNNN`).

use std::collections::HashMap;

use sqlx::migrate::{Migrate, MigrateError, Migrator};
use sqlx::{Connection, PgPool};

/// Why the console would not run on its database.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// A newer console migrated the database.
    #[error(
        "the database's schema is {database}, newer than this console's ({console}): a newer version of the \
         console migrated it. Install that version again (or a later one); this one would not know its tables."
    )]
    Newer { database: i64, console: i64 },
    /// An applied migration's text differs from this console's copy.
    #[error(
        "migration {version} applied to the database differs from this console's copy: the database was \
         migrated by another build. Nothing was changed."
    )]
    Changed { version: i64 },
    /// A migration left half-applied (by a tool outside the console).
    #[error(
        "migration {version} is marked as failed half-way in the database; repair it by hand. Nothing was changed."
    )]
    Dirty { version: i64 },
    /// A migration of this upgrade failed: everything was rolled back.
    #[error(
        "the upgrade failed at migration {version} ({description}): {reason}. Every migration of this upgrade was \
         rolled back: the database is as it was (schema {left_at}), and the previous version of the console runs on it."
    )]
    Failed {
        version: i64,
        description: String,
        reason: String,
        left_at: i64,
    },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<MigrateError> for SchemaError {
    fn from(error: MigrateError) -> Self {
        match error {
            MigrateError::Execute(error) => Self::Database(error),
            other => Self::Database(sqlx::Error::Migrate(Box::new(other))),
        }
    }
}

/// What an upgrade did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    /// The schema found (0: an empty database).
    pub from: i64,
    /// The schema now.
    pub to: i64,
    /// The migrations applied, oldest first.
    pub applied: Vec<i64>,
}

/// The schema version `migrator` brings a database to.
pub fn version_of(migrator: &Migrator) -> i64 {
    migrator.iter().map(|m| m.version).max().unwrap_or(0)
}

/// The schema version of the database (0 when nothing was migrated).
pub async fn database_version(pool: &PgPool) -> Result<i64, SchemaError> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    if !exists {
        return Ok(0);
    }
    Ok(
        sqlx::query_scalar::<_, Option<i64>>("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await?
            .unwrap_or(0),
    )
}

/// How many tables the database holds outside PostgreSQL's own catalogs
/// (0: an empty database, where a console's state may be restored).
pub async fn table_count(pool: &PgPool) -> Result<i64, SchemaError> {
    Ok(sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
    )
    .fetch_one(pool)
    .await?)
}

/// Brings `pool`'s database to `migrator`'s schema: every pending migration
/// in one transaction, under the migration lock. Refuses a database a newer
/// console migrated, or one whose applied migrations differ from ours.
pub async fn upgrade(pool: &PgPool, migrator: &Migrator) -> Result<Upgrade, SchemaError> {
    let mut connection = pool.acquire().await?;
    connection.lock().await?;
    let outcome = upgrade_locked(&mut connection, migrator).await;
    // Released with the connection anyway if this fails.
    connection.unlock().await?;
    outcome
}

async fn upgrade_locked(
    connection: &mut sqlx::pool::PoolConnection<sqlx::Postgres>,
    migrator: &Migrator,
) -> Result<Upgrade, SchemaError> {
    connection.ensure_migrations_table().await?;
    if let Some(version) = connection.dirty_version().await? {
        return Err(SchemaError::Dirty { version });
    }
    let applied: HashMap<i64, Vec<u8>> = connection
        .list_applied_migrations()
        .await?
        .into_iter()
        .map(|m| (m.version, m.checksum.into_owned()))
        .collect();
    let console = version_of(migrator);
    let from = applied.keys().copied().max().unwrap_or(0);
    if from > console || applied.keys().any(|v| !migrator.iter().any(|m| m.version == *v)) {
        return Err(SchemaError::Newer {
            database: from,
            console,
        });
    }
    let mut pending = Vec::new();
    for migration in migrator.iter().filter(|m| !m.migration_type.is_down_migration()) {
        match applied.get(&migration.version) {
            Some(checksum) if checksum.as_slice() != &*migration.checksum => {
                return Err(SchemaError::Changed {
                    version: migration.version,
                })
            }
            Some(_) => {}
            None => pending.push(migration),
        }
    }
    let mut tx = connection.begin().await?;
    let mut done = Vec::with_capacity(pending.len());
    for migration in pending {
        // Each in a savepoint of the one transaction.
        if let Err(error) = (*tx).apply(migration).await {
            drop(tx);
            tracing::error!(version = migration.version, %error, "a migration failed; the upgrade is rolled back");
            return Err(SchemaError::Failed {
                version: migration.version,
                description: migration.description.to_string(),
                reason: reason_of(&error),
                left_at: from,
            });
        }
        done.push(migration.version);
    }
    tx.commit().await?;
    Ok(Upgrade {
        from,
        to: done.last().copied().unwrap_or(from),
        applied: done,
    })
}

/// What PostgreSQL said, without sqlx's wrapping.
fn reason_of(error: &MigrateError) -> String {
    match error {
        MigrateError::Execute(sqlx::Error::Database(database)) => database.message().to_owned(),
        MigrateError::ExecuteMigration(sqlx::Error::Database(database), _) => database.message().to_owned(),
        other => other.to_string(),
    }
}
