//! Upgrades (issue 14, item 3): a newer console migrates the previous
//! schema with its data in place; a migration that fails rolls the whole
//! upgrade back; two consoles starting at once migrate once; an older
//! console refuses a newer schema; `--version` names the schema.

use std::process::{Command, Output};

use domain::schema::{upgrade, version_of, SchemaError};
use domain::secrets::{MasterKey, SecretBox};
use sqlx::migrate::Migrator;
use sqlx::PgPool;

use crate::helpers::*;

const MIGRATIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations");

/// The console's migrations without the `skip_newest` newest ones, plus
/// `extra` files: what a previous (or a broken) version would apply.
async fn migrations(skip_newest: usize, extra: &[(&str, &str)]) -> (TempDataDir, Migrator) {
    let dir = TempDataDir::new();
    let mut names: Vec<String> = std::fs::read_dir(MIGRATIONS)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".sql"))
        .collect();
    names.sort();
    names.truncate(names.len() - skip_newest);
    for name in &names {
        std::fs::copy(format!("{MIGRATIONS}/{name}"), dir.path().join(name)).unwrap();
    }
    for (name, sql) in extra {
        std::fs::write(dir.path().join(name), sql).unwrap();
    }
    let migrator = Migrator::new(dir.path()).await.unwrap();
    (dir, migrator)
}

/// Every table of the database with its row count, sorted.
async fn tables(pool: &PgPool) -> Vec<(String, i64)> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut counted = Vec::new();
    for name in names {
        let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM \"{name}\""))
            .fetch_one(pool)
            .await
            .unwrap();
        counted.push((name, count));
    }
    counted
}

#[sqlx::test(migrations = false)]
async fn an_upgrade_from_the_previous_schema_keeps_every_row(pool: PgPool) {
    let (_dir, previous) = migrations(1, &[]).await;
    let first = upgrade(&pool, &previous).await.unwrap();
    assert_eq!((first.from, first.to), (0, version_of(&previous)));

    // The previous version's data: an admin (and its audit records), a
    // sealed secret.
    let key = MasterKey::generate();
    let console = domain::Console::new(pool.clone(), SecretBox::new(key));
    console
        .setup
        .create_admin_from_cli(ADMIN, ADMIN_PASSWORD)
        .await
        .unwrap();
    let mut tx = pool.begin().await.unwrap();
    let secret = console
        .secrets
        .put(&mut tx, "upgrade-test", b"kept sealed")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let before = tables(&pool).await;

    let upgraded = upgrade(&pool, &domain::MIGRATOR).await.unwrap();
    assert_eq!(upgraded.from, version_of(&previous));
    assert_eq!(upgraded.to, version_of(&domain::MIGRATOR));
    assert_eq!(upgraded.applied, [version_of(&domain::MIGRATOR)]);
    let after = tables(&pool).await;
    for (table, rows) in &before {
        let now = after.iter().find(|(t, _)| t == table).map(|(_, n)| *n);
        let expected = if table == "_sqlx_migrations" { rows + 1 } else { *rows };
        assert_eq!(now, Some(expected), "{table}");
    }
    assert!(matches!(
        console.audit.verify().await.unwrap(),
        domain::audit::ChainStatus::Intact { rows } if rows > 0
    ));
    assert_eq!(&*console.secrets.get(secret).await.unwrap(), b"kept sealed");
    assert!(console
        .sign_in(ADMIN, ADMIN_PASSWORD, &Default::default())
        .await
        .is_ok());
    // Nothing left to do the second time.
    assert!(upgrade(&pool, &domain::MIGRATOR).await.unwrap().applied.is_empty());
}

#[sqlx::test(migrations = false)]
async fn a_failing_migration_rolls_the_whole_upgrade_back(pool: PgPool) {
    let (_dir, previous) = migrations(1, &[]).await;
    upgrade(&pool, &previous).await.unwrap();
    let before = tables(&pool).await;

    // This version's real migration, then one that fails: both pending.
    let failing_sql = "CREATE TABLE upgrade_canary (id int);\nSELECT 1 / 0;\n";
    let (_broken, broken) = migrations(0, &[("29991231000001_fails.sql", failing_sql)]).await;
    let error = upgrade(&pool, &broken).await.unwrap_err();
    match &error {
        SchemaError::Failed {
            version,
            reason,
            left_at,
            ..
        } => {
            assert_eq!(*version, 29991231000001);
            assert!(reason.contains("division by zero"), "{reason}");
            assert_eq!(*left_at, version_of(&previous));
        }
        other => panic!("{other:?}"),
    }
    assert!(error.to_string().contains("rolled back"), "{error}");
    assert_eq!(tables(&pool).await, before, "the database is as it was");
    assert_eq!(
        domain::schema::database_version(&pool).await.unwrap(),
        version_of(&previous)
    );
}

/// `ocpizza-console <args>` on the test's own database.
fn console(pool_database: &str, args: &[&str]) -> std::process::Child {
    let mut database_url = url::Url::parse(&std::env::var("DATABASE_URL").unwrap()).unwrap();
    database_url.set_path(pool_database);
    Command::new(env!("CARGO_BIN_EXE_ocpizza-console"))
        .args(args)
        .env("DATABASE_URL", database_url.as_str())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[sqlx::test(migrations = false)]
async fn two_consoles_migrate_once_and_an_older_one_refuses_a_newer_schema(pool: PgPool) {
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    let version = console(&name, &["--version"]).wait_with_output().unwrap();
    let schema = version_of(&domain::MIGRATOR);
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("ocpizza-console {} (schema {schema})", env!("CARGO_PKG_VERSION"))
    );

    // Two at once on an empty database: one migrates, the other waits for
    // its lock and finds nothing to do.
    let both = [console(&name, &["migrate"]), console(&name, &["migrate"])];
    for child in both {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", text(&output));
    }
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(applied, domain::MIGRATOR.iter().count() as i64);

    // A newer console migrated it: this one refuses, saying why, and
    // changes nothing.
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (29991231000001, 'from a newer console', true, '\\x00', 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let before = tables(&pool).await;
    let refused = console(&name, &["migrate"]).wait_with_output().unwrap();
    assert!(!refused.status.success());
    let said = text(&refused);
    assert!(
        said.contains(&format!(
            "the database's schema is 29991231000001, newer than this console's ({schema})"
        )),
        "{said}"
    );
    assert_eq!(tables(&pool).await, before);
}
