//! Backups and restores when things break, each on a database of its own on
//! the staging host's PostgreSQL (so breaking it disturbs no other test),
//! reached through a private sshd that can be killed: the connection cut
//! mid-restore leaves the database exactly as it was; sshd killed
//! mid-backup fails the job and leaves no object; a full storage fails with
//! a clear reason and leaves nothing half-written; a restore that fails
//! offers its safety copy; a backup taken before the master key's rotation
//! still restores after it.

use std::time::Duration;

use domain::backups::{BackupStatus, BackupTrigger};
use domain::hosts::{Host, KeyChoice};
use domain::jobs::{JobFailure, JobStatus};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::backups::{app_database_password, backed_up, finished};
use crate::helpers::*;
use crate::hosts::{private_key, register_on, staging};
use crate::own_sshd::OwnSshd;

/// A database of the test's own on the staging host's PostgreSQL, owned by
/// the app's role, and an app directory whose `.env` names it.
struct OwnDatabase {
    name: String,
    app_dir: TempDataDir,
    /// The app's role on it, over TCP with its password (as the app).
    pool: PgPool,
}

impl OwnDatabase {
    async fn create() -> Self {
        let name = format!("own_{}", uuid::Uuid::new_v4().simple());
        let admin = superuser().await;
        sqlx::query(&format!("CREATE DATABASE {name} OWNER ocpizza"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let app_dir = TempDataDir::new();
        let env = std::fs::read_to_string(format!("{}/.env", staging("STAGING_APP_DIR"))).unwrap();
        let env: String = env
            .lines()
            .map(|line| match line.starts_with("POSTGRES_DATABASE=") {
                true => format!("POSTGRES_DATABASE={name}\n"),
                false => format!("{line}\n"),
            })
            .collect();
        std::fs::write(app_dir.path().join(".env"), env).unwrap();
        let url = format!(
            "postgres://ocpizza:{}@127.0.0.1:{}/{name}",
            app_database_password(),
            staging("STAGING_PG_PORT")
        );
        let pool = PgPoolOptions::new().max_connections(2).connect(&url).await.unwrap();
        Self { name, app_dir, pool }
    }

    /// A table of `rows` rows of hex text (about 70 bytes each) with an index.
    async fn fill(&self, rows: i32) {
        for statement in [
            "CREATE TABLE orders (id int PRIMARY KEY, label text NOT NULL)".to_owned(),
            format!(
                "INSERT INTO orders SELECT i, md5(i::text) || md5((i * 7)::text) FROM generate_series(1, {rows}) i"
            ),
            "CREATE INDEX orders_by_label ON orders (label)".to_owned(),
        ] {
            sqlx::query(&statement).execute(&self.pool).await.unwrap();
        }
    }

    /// The table's rows and a digest of all of them: equal only when the
    /// data is, row for row.
    async fn state(&self) -> (i64, String) {
        sqlx::query_as(
            "SELECT count(*), coalesce(md5(string_agg(id || ':' || label, ',' ORDER BY id)), '') FROM orders",
        )
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }

    async fn drop(self) {
        self.pool.close().await;
        let admin = superuser().await;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
    }
}

/// The staging cluster's superuser, over its socket.
async fn superuser() -> PgPool {
    let options = PgConnectOptions::new()
        .socket(format!("{}/run", staging("STAGING_DIR")))
        .port(staging("STAGING_PG_PORT").parse().unwrap())
        .username("postgres")
        .database("postgres");
    PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap()
}

/// The host on `sshd` whose app uses `database`.
async fn host_on(app: &TestApp, admin: &domain::accounts::Operator, sshd: &OwnSshd, database: &OwnDatabase) -> Host {
    host_controlled_by(app, admin, sshd, database, &staging("STAGING_SERVICE_COMMAND")).await
}

/// Likewise, its services controlled by the program `service_command`.
async fn host_controlled_by(
    app: &TestApp,
    admin: &domain::accounts::Operator,
    sshd: &OwnSshd,
    database: &OwnDatabase,
    service_command: &str,
) -> Host {
    let host = register_on(
        app,
        admin,
        "private",
        sshd.port,
        service_command,
        KeyChoice::paste(private_key()),
    )
    .await;
    // The app lives in its own directory (its `.env` names its database).
    sqlx::query("UPDATE hosts SET app_dir = $2 WHERE id = $1")
        .bind(host.id)
        .bind(database.app_dir.path().to_str().unwrap())
        .execute(&app.pool)
        .await
        .unwrap();
    app.console.hosts.get(host.id).await.unwrap()
}

/// Waits until the job's output has a line containing `text`.
async fn until_output(app: &TestApp, job: i64, text: &str) {
    for _ in 0..600 {
        let lines = app.console.jobs.output_after(job, 0, 10_000).await.unwrap();
        if lines.iter().any(|l| l.line.contains(text)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("job {job} never said {text:?}");
}

/// Every file under the storage's folder for the host `private`.
fn stored_files(app: &TestApp) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(app.data_dir.path().join("backups").join("private"))
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

#[sqlx::test(migrations = "../migrations")]
async fn the_connection_cut_mid_restore_leaves_the_database_exactly_as_it_was(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    let mut sshd = OwnSshd::start();
    let database = OwnDatabase::create().await;
    database.fill(1_000_000).await;
    let host = host_on(&app, &admin, &sshd, &database).await;
    let backups = &app.console.backups;
    let backup = backed_up(&app, &admin, host.id).await;

    sqlx::query("DELETE FROM orders WHERE id % 3 = 0")
        .execute(&database.pool)
        .await
        .unwrap();
    let before = database.state().await;
    let restore = backups
        .restore(&admin, &Default::default(), backup.id, &database.name)
        .await
        .unwrap();
    // Once the safety copy is taken and the dump streams in, the connection goes.
    until_output(&app, restore, "restoring backup").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    sshd.kill();
    let done = finished(&app, restore).await;
    assert_eq!(done.status, JobStatus::Failed, "{done:?}");
    assert_eq!(database.state().await, before, "nothing of the cut restore remains");
    database.drop().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn sshd_killed_mid_backup_fails_the_job_and_leaves_no_object(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let admin = app.admin().await;
    let mut sshd = OwnSshd::start();
    let database = OwnDatabase::create().await;
    database.fill(1_000_000).await;
    let host = host_on(&app, &admin, &sshd, &database).await;
    let job = app
        .console
        .backups
        .back_up_now(&admin, &Default::default(), host.id, None)
        .await
        .unwrap();
    // The catalog row exists once bytes start to flow.
    for _ in 0..400 {
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM backups WHERE job_id = $1")
            .bind(job)
            .fetch_one(&pool)
            .await
            .unwrap();
        if rows > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    sshd.kill();
    let done = finished(&app, job).await;
    assert_eq!(done.status, JobStatus::Failed, "{done:?}");
    let backup = app.console.backups.list(Some(host.id), 1).await.unwrap().remove(0);
    assert_eq!(backup.status, BackupStatus::Failed, "never succeeded: {backup:?}");
    assert!(backup.sha256.is_none() && backup.failure.is_some());
    assert_eq!(
        stored_files(&app),
        Vec::<std::path::PathBuf>::new(),
        "nothing left in storage"
    );
    database.drop().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_full_storage_fails_the_backup_with_its_reason_and_leaves_nothing_half_written(pool: PgPool) {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: mounting a small tmpfs needs root (CI runs as root)");
        return;
    }
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    let sshd = OwnSshd::start();
    let database = OwnDatabase::create().await;
    database.fill(100_000).await;
    let host = host_on(&app, &admin, &sshd, &database).await;
    let full = TempDataDir::new();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(full.path())
        .status()
        .unwrap();
    assert!(mounted.success(), "a 1 MiB tmpfs for the storage");
    let console = app
        .console
        .clone()
        .with_backup_storage(domain::storage::BackupStorage::directory(full.path()));
    let job = console
        .backups
        .back_up_now(&admin, &Default::default(), host.id, None)
        .await
        .unwrap();
    let done = finished(&app, job).await;
    let leftovers: Vec<_> = walk(full.path());
    let _ = std::process::Command::new("umount").arg(full.path()).status();
    assert_eq!(done.status, JobStatus::Failed, "{done:?}");
    assert_eq!(done.failure, Some(JobFailure::StorageFailed));
    let backup = console.backups.list(Some(host.id), 1).await.unwrap().remove(0);
    assert_eq!(
        (backup.status, backup.failure.as_deref()),
        (BackupStatus::Failed, Some("storage-failed"))
    );
    assert!(leftovers.is_empty(), "nothing half-written: {leftovers:?}");
    database.drop().await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.path().is_dir() {
            files.extend(walk(&entry.path()));
        } else {
            files.push(entry.path());
        }
    }
    files
}

#[sqlx::test(migrations = "../migrations")]
async fn a_restore_that_fails_leaves_the_database_as_it_was_and_offers_its_safety_copy(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    let sshd = OwnSshd::start();
    let database = OwnDatabase::create().await;
    database.fill(1000).await;
    let host = host_on(&app, &admin, &sshd, &database).await;
    let backups = &app.console.backups;
    let backup = backed_up(&app, &admin, host.id).await;

    // Since the backup, a view depends on the table: the restore cannot drop
    // it, pg_restore stops, and its one transaction is rolled back.
    sqlx::query("DELETE FROM orders WHERE id > 500")
        .execute(&database.pool)
        .await
        .unwrap();
    sqlx::query("CREATE VIEW recent_orders AS SELECT * FROM orders WHERE id > 400")
        .execute(&database.pool)
        .await
        .unwrap();
    let before = database.state().await;
    let restore = backups
        .restore(&admin, &Default::default(), backup.id, &database.name)
        .await
        .unwrap();
    let done = finished(&app, restore).await;
    assert_eq!(
        (done.status, done.failure),
        (JobStatus::Failed, Some(JobFailure::CommandFailed))
    );
    assert_eq!(database.state().await, before, "the database is as it was");

    let safety = backups.safety_copy_of(restore).await.unwrap().expect("the safety copy");
    assert_eq!(
        (safety.trigger, safety.status),
        (BackupTrigger::PreRestore, BackupStatus::Succeeded)
    );
    let browser = app.browser();
    browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let page = browser.get(&format!("/jobs/{restore}")).await.text().await.unwrap();
    assert!(page.contains("id=\"safety-copy-offer\""), "{page}");
    assert!(page.contains(&format!("/backups/{}/restore", safety.id)));

    // Restoring the safety copy (after the view is gone) brings back exactly
    // what was there before the failed restore.
    sqlx::query("DROP VIEW recent_orders")
        .execute(&database.pool)
        .await
        .unwrap();
    let back = backups
        .restore(&admin, &Default::default(), safety.id, &database.name)
        .await
        .unwrap();
    assert_eq!(finished(&app, back).await.status, JobStatus::Succeeded);
    assert_eq!(database.state().await, before);
    database.drop().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_backup_taken_before_the_master_key_rotation_restores_after_it(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let admin = app.admin().await;
    let sshd = OwnSshd::start();
    let database = OwnDatabase::create().await;
    database.fill(2000).await;
    let host = host_on(&app, &admin, &sshd, &database).await;
    let backup = backed_up(&app, &admin, host.id).await;
    let before = database.state().await;

    // The master key rotates: every secret, the backup key among them, is
    // sealed anew; a console holding only the new key opens them.
    let new_key = domain::secrets::MasterKey::generate();
    let new_key_text = new_key.encode();
    let (resealed, _) = app.console.secrets.rotate(new_key).await.unwrap();
    assert!(resealed >= 2, "the host's key and the backup key, at least");
    let rotated = domain::Console::new(
        pool.clone(),
        domain::secrets::SecretBox::new(domain::secrets::MasterKey::decode(&new_key_text).unwrap()),
    )
    .with_backup_storage(domain::storage::BackupStorage::directory(
        app.data_dir.path().join("backups"),
    ));
    let (stored, unreadable) = rotated.secrets.readability().await.unwrap();
    assert_eq!(
        (stored, unreadable),
        (resealed, 0),
        "the new key alone opens every secret"
    );

    sqlx::query("DELETE FROM orders").execute(&database.pool).await.unwrap();
    let restore = rotated
        .backups
        .restore(&admin, &Default::default(), backup.id, &database.name)
        .await
        .unwrap();
    let done = finished(&app, restore).await;
    assert_eq!(done.status, JobStatus::Succeeded, "{done:?}");
    assert_eq!(
        database.state().await,
        before,
        "the old backup restored with the new key"
    );
    database.drop().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_restore_may_stop_the_site_meanwhile_and_is_for_admins_only_when_so_configured(pool: PgPool) {
    let app = spawn_app_with(pool.clone(), &["--restore-role", "admin"]).await;
    let admin = app.admin().await;
    let operator = app.operator(&admin).await;
    let sshd = OwnSshd::start();
    let database = OwnDatabase::create().await;
    database.fill(500).await;
    // The host's service control writes down what it was asked.
    let calls = sshd.dir.join("calls");
    let program = sshd.dir.join("service");
    std::fs::write(
        &program,
        format!(
            "#!/bin/sh\necho \"$1 $2\" >> {}\necho \"$1 $2 done\"\n",
            calls.display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&program)
        .status()
        .unwrap();
    let host = host_controlled_by(&app, &admin, &sshd, &database, program.to_str().unwrap()).await;
    let backup = backed_up(&app, &operator, host.id).await;

    // Admins only: an operator is refused, audited, and the page offers
    // the operator no restore.
    let admins_only = app
        .console
        .backups
        .clone()
        .with_restore_role(domain::accounts::Role::Admin);
    let request = |typed: &str| domain::backups::RestoreRequest {
        backup_id: backup.id,
        typed_database: typed.into(),
        stop_site: true,
    };
    let refused = admins_only
        .restore_with(&operator, &Default::default(), request(&database.name))
        .await;
    assert!(matches!(refused, Err(domain::DomainError::Forbidden)), "{refused:?}");
    assert_eq!(app.audit_count("backup.restore", "denied").await, 1);
    let browser = app.browser();
    browser.sign_in(OPERATOR, OPERATOR_PASSWORD).await;
    let page = browser.get("/backups").await.text().await.unwrap();
    assert!(page.contains(&format!("data-backup=\"{}\"", backup.id)) && !page.contains("Restaurer…"));

    sqlx::query("DELETE FROM orders").execute(&database.pool).await.unwrap();
    let restore = admins_only
        .restore_with(&admin, &Default::default(), request(&database.name))
        .await
        .unwrap();
    let done = finished(&app, restore).await;
    assert_eq!(done.status, JobStatus::Succeeded, "{done:?}");
    assert_eq!(database.state().await.0, 500, "restored");
    assert_eq!(
        std::fs::read_to_string(&calls).unwrap(),
        "nginx stop\nnginx restart\n",
        "stopped for the restore, started after"
    );
    let lines: Vec<String> = app
        .console
        .jobs
        .output_after(restore, 0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.line)
        .collect();
    let at = |text: &str| {
        lines
            .iter()
            .position(|l| l.contains(text))
            .unwrap_or_else(|| panic!("{text}: {lines:?}"))
    };
    assert!(at("safety backup") < at("nginx stop done"));
    assert!(at("nginx stop done") < at("restoring backup"));
    assert!(at("restoring backup") < at("nginx restart done"));
    database.drop().await;
}
