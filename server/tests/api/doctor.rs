//! `ocpizza-console doctor` (issue 14, item 5): on a correct install every
//! line passes (the staging host reached with its pinned key, its clock
//! read); with the master key made readable by others, that line fails
//! with its fix, and what needs the key is skipped rather than guessed.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

use sqlx::PgPool;

use crate::backups::register_staging;
use crate::helpers::*;

fn doctor(database: &str, data_dir: &std::path::Path) -> Output {
    let mut database_url = url::Url::parse(&std::env::var("DATABASE_URL").unwrap()).unwrap();
    database_url.set_path(database);
    Command::new(env!("CARGO_BIN_EXE_ocpizza-console"))
        .arg("doctor")
        .arg("--data-dir")
        .arg(data_dir)
        .env("DATABASE_URL", database_url.as_str())
        .env_remove("CONSOLE_MASTER_KEY")
        .env_remove("CONSOLE_PUBLIC_URL")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn doctor_passes_a_correct_install_and_names_the_fix_for_a_key_others_may_read(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let admin = app.admin().await;
    register_staging(&app, &admin).await;
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    let dir = TempDataDir::new();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let key = dir.path().join("master.key");
    std::fs::write(&key, format!("{}\n", app.master_key)).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();

    let healthy = doctor(&database, dir.path());
    let report = String::from_utf8_lossy(&healthy.stdout).into_owned();
    assert!(
        healthy.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&healthy.stderr)
    );
    for line in [
        "ok    data directory: ",
        "ok    master key: ",
        "ok    public URL: none, listening on 127.0.0.1:",
        "ok    database: PostgreSQL answers",
        "ok    schema: ",
        "ok    clock: database: within ",
        "ok    secrets: the master key opens all ",
        "ok    host staging: reached with its pinned key; clock within ",
        "every check passed",
    ] {
        assert!(report.contains(line), "{line}\n{report}");
    }
    assert!(!report.contains("FAIL"), "{report}");

    // Readable by others: that line fails with its fix; nothing that needs
    // the key is attempted.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let sick = doctor(&database, dir.path());
    let report = String::from_utf8_lossy(&sick.stdout).into_owned();
    assert!(!sick.status.success(), "{report}");
    assert!(
        report.contains(&format!(
            "FAIL  master key: {} has mode 0644: other users may read the key that opens every secret\n      fix: chmod 600 {}",
            key.display(),
            key.display()
        )),
        "{report}"
    );
    assert!(report.contains("skip  secrets: no usable master key"), "{report}");
    assert!(report.contains("1 check(s) failed"), "{report}");
}
