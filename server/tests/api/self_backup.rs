//! `backup-self` then `restore-self` (issue 14, item 4): the console's own
//! state written while it serves, brought back into a new database and a
//! new data directory: the same accounts, the same audit chain (and
//! `verify-audit` passes), the same hosts, whose sealed keys still open and
//! reach the staging host. What would be restored wrongly is refused
//! before anything changes: a key that is not the archive's, a damaged
//! archive, a database that is not empty.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use domain::audit::{Actor, Provenance};
use sqlx::PgPool;

use crate::backups::register_staging;
use crate::helpers::*;

/// The test server's URL for `database`.
fn database_url(database: &str) -> String {
    let mut url = url::Url::parse(&std::env::var("DATABASE_URL").unwrap()).unwrap();
    url.set_path(database);
    url.to_string()
}

/// The console's binary, run with `args` on `database` and `data_dir` (no
/// master key in its environment: it comes from the data directory or the
/// command line).
fn console(args: &[&str], database: &str, data_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ocpizza-console"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("DATABASE_URL", database_url(database))
        .env_remove("CONSOLE_MASTER_KEY")
        .env_remove("CONSOLE_MIGRATION_DATABASE_URL")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn audit_chain(pool: &PgPool) -> Vec<(i64, Vec<u8>)> {
    sqlx::query_as("SELECT id, row_hash FROM audit_log ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap()
}

/// The newest audit row's action, outcome and details.
async fn last_audit_row(pool: &PgPool) -> (String, String, serde_json::Value) {
    sqlx::query_as("SELECT action, outcome, details FROM audit_log ORDER BY id DESC LIMIT 1")
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn usernames(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT username FROM accounts ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_console_backed_up_while_serving_comes_back_whole_on_a_new_database(pool: PgPool) {
    // A console with accounts, a host whose private key is sealed, an audit
    // log, and its checkpoints in its data directory.
    let app = spawn_app(pool.clone()).await;
    let admin = app.admin().await;
    app.operator(&admin).await;
    let host = register_staging(&app, &admin).await;
    app.console.audit.checkpoint().await.unwrap();
    let key_file = app.data_dir.path().join("master.key");
    std::fs::write(&key_file, &app.master_key).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let database = pool.connect_options().get_database().unwrap().to_owned();

    let kept = TempDataDir::new();
    let archive = kept.path().join("console.tar");
    let saved_key = kept.path().join("console.key");
    let archive_text = archive.to_str().unwrap();
    let saved_key_text = saved_key.to_str().unwrap();
    // Nothing else writes to the log meanwhile: this is what the dump holds.
    let chain_at_backup = audit_chain(&pool).await;
    let accounts_at_backup = usernames(&pool).await;
    let backed_up = console(
        &["backup-self", "--output", archive_text, "--key-output", saved_key_text],
        &database,
        app.data_dir.path(),
    );
    assert!(backed_up.status.success(), "{}", said(&backed_up));
    assert!(
        said(&backed_up).contains("WARNING: the master key is in"),
        "{}",
        said(&backed_up)
    );
    assert_eq!(std::fs::metadata(&archive).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(
        std::fs::metadata(&saved_key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(std::fs::read_to_string(&saved_key).unwrap().trim(), app.master_key);
    // In the serving console's log, after what the archive holds.
    let (action, outcome, details) = last_audit_row(&pool).await;
    assert_eq!((action.as_str(), outcome.as_str()), ("console.backup", "success"));
    assert_eq!(details["master_key_written"], true, "{details}");
    assert_eq!(details["via"], "command line", "{details}");
    assert_eq!(audit_chain(&pool).await.len(), chain_at_backup.len() + 1);
    // The console kept serving meanwhile, and keeps logging after.
    app.browser().sign_in(ADMIN, "a wrong password").await;
    assert!(audit_chain(&pool).await.len() > chain_at_backup.len() + 1);

    // A new machine: an empty database, a new data directory.
    let restored_database = format!("restored_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {restored_database}"))
        .execute(&pool)
        .await
        .unwrap();
    let restored_pool = PgPool::connect(&database_url(&restored_database)).await.unwrap();

    // Refused before anything changes: another key, a damaged archive.
    let elsewhere = TempDataDir::new();
    let other_key = kept.path().join("other.key");
    std::fs::write(&other_key, domain::secrets::MasterKey::generate().encode().as_str()).unwrap();
    std::fs::set_permissions(&other_key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let refused = console(
        &[
            "restore-self",
            "--input",
            archive_text,
            "--key",
            other_key.to_str().unwrap(),
        ],
        &restored_database,
        elsewhere.path(),
    );
    assert!(!refused.status.success());
    assert!(
        said(&refused).contains("this master key is not the one the archive's secrets are sealed under"),
        "{}",
        said(&refused)
    );
    let damaged = kept.path().join("damaged.tar");
    let mut bytes = std::fs::read(&archive).unwrap();
    let last = bytes.len() - 2048;
    bytes[last - 100] ^= 0xff;
    std::fs::write(&damaged, bytes).unwrap();
    let refused = console(
        &[
            "restore-self",
            "--input",
            damaged.to_str().unwrap(),
            "--key",
            saved_key_text,
        ],
        &restored_database,
        elsewhere.path(),
    );
    assert!(
        said(&refused).contains("the database dump is missing or damaged"),
        "{}",
        said(&refused)
    );
    assert_eq!(domain::schema::table_count(&restored_pool).await.unwrap(), 0);
    assert!(!elsewhere.path().join("master.key").exists());

    // Restored: what it found is said.
    let new_dir = TempDataDir::new();
    let restored = console(
        &["restore-self", "--input", archive_text, "--key", saved_key_text],
        &restored_database,
        new_dir.path(),
    );
    let report = said(&restored);
    assert!(restored.status.success(), "{report}");
    assert!(
        report.contains(&format!("{} accounts, 1 hosts, ", accounts_at_backup.len())),
        "{report}"
    );
    assert!(
        report.contains(&format!("audit log intact: {} rows verified", chain_at_backup.len())),
        "{report}"
    );
    assert_eq!(usernames(&restored_pool).await, accounts_at_backup);
    // The archive's chain, then the restore's own record.
    let restored_chain = audit_chain(&restored_pool).await;
    assert_eq!(restored_chain[..chain_at_backup.len()], chain_at_backup[..]);
    assert_eq!(restored_chain.len(), chain_at_backup.len() + 1);
    let (action, outcome, details) = last_audit_row(&restored_pool).await;
    assert_eq!((action.as_str(), outcome.as_str()), ("console.restore", "success"));
    assert_eq!(details["audit_rows_verified"], chain_at_backup.len(), "{details}");
    assert!(new_dir.path().join("audit-checkpoints").exists());
    assert_eq!(
        std::fs::read_to_string(new_dir.path().join("master.key"))
            .unwrap()
            .trim(),
        app.master_key
    );

    // verify-audit agrees, from the new data directory (its checkpoints).
    let verified = console(&["verify-audit"], &restored_database, new_dir.path());
    assert!(verified.status.success(), "{}", said(&verified));
    assert!(said(&verified).contains("audit log intact"), "{}", said(&verified));

    // A second restore into the same database is refused, nothing changed.
    let again = console(
        &["restore-self", "--input", archive_text, "--key", saved_key_text],
        &restored_database,
        TempDataDir::new().path(),
    );
    assert!(said(&again).contains("the database already holds"), "{}", said(&again));
    assert_eq!(audit_chain(&restored_pool).await, restored_chain);

    // The restored console signs its staff in and reaches the host with the
    // key it keeps sealed.
    let revived = spawn_app_on(restored_pool.clone(), &app.master_key).await;
    let response = revived.browser().sign_in(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(location(&response), "/");
    let host = revived.console.hosts.get(host.id).await.unwrap();
    let session = revived
        .console
        .hosts
        .connect(&host, &Actor::System, &Provenance::default())
        .await
        .expect("the restored console opens the host's sealed key and reaches it");
    let (code, lines) = session
        .answer(&domain::ssh::RemoteCommand::program("echo").fixed("restored"))
        .await
        .unwrap();
    session.close().await;
    assert_eq!((code, lines), (Some(0), vec!["restored".to_owned()]));
    restored_pool.close().await;
}
