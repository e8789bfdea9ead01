//! Backups and restores against the real staging host (its PostgreSQL asks
//! for a password over TCP; the app's `.env` holds it): a backup streamed
//! off the host, encrypted and checksummed, restored row for row; a
//! tampered object refused; the host lock shared with the other jobs.

use std::time::Duration;

use domain::backups::{BackupStatus, BackupTrigger};
use domain::hosts::{Host, KeyChoice};
use domain::jobs::{Job, JobFailure, JobStatus};
use domain::DomainError;
use sha2::Digest;
use sqlx::PgPool;

use crate::helpers::*;
use crate::hosts::{private_key, register, staging};

/// The staging app's database is one for every test of this binary: a
/// restore rewrites all of it and the probe tables come and go, and
/// `pg_dump` fails on a table dropped under it (as it would in production,
/// where the job says so). A test that backs it up or changes it holds this
/// turn from start to end, so those tests take turns; the others still run
/// beside them. So do the tests that move the staging app (deploys) or stop
/// its site: a deploy's health gate asks the site.
pub(crate) async fn staging_database_alone() -> StagingTurn {
    static STAGING_DATABASE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    StagingTurn {
        _held: STAGING_DATABASE.lock().await,
    }
}

/// A test's turn on the staging host. When the test fails half-way (with
/// NGINX stopped, gunicorn stopped or restarting on a half-written
/// environment), the staging services are brought back before the next
/// test takes its turn, so that a failure is not repeated by every test
/// after it.
pub(crate) struct StagingTurn {
    _held: tokio::sync::MutexGuard<'static, ()>,
}

impl Drop for StagingTurn {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let Ok(service) = std::env::var("STAGING_SERVICE_COMMAND") else {
            return;
        };
        for name in ["nginx", "gunicorn"] {
            let active = std::process::Command::new(&service)
                .args([name, "is-active"])
                .output()
                .is_ok_and(|output| output.status.success());
            if !active {
                let _ = std::process::Command::new(&service).args([name, "restart"]).output();
            }
        }
    }
}

/// The staging host, registered for the console with its key.
pub(crate) async fn register_staging(app: &TestApp, admin: &domain::accounts::Operator) -> Host {
    register(app, admin, KeyChoice::paste(private_key())).await
}

pub(crate) async fn finished(app: &TestApp, job: i64) -> Job {
    for _ in 0..600 {
        let current = app.console.jobs.job(job).await.unwrap();
        if current.status.finished() {
            return current;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job {job} did not finish within 60 s");
}

/// Restores `backup_id` as `by` (the database's name typed as given) and
/// waits for the job to end.
pub(crate) async fn restored(app: &TestApp, by: &domain::accounts::Operator, backup_id: i64, typed: &str) -> Job {
    let job = app
        .console
        .backups
        .restore(by, &Default::default(), backup_id, typed)
        .await
        .unwrap();
    finished(app, job).await
}

/// Backs up `host_id` as `by`, waits for the job to succeed, and returns
/// the backup as catalogued.
pub(crate) async fn backed_up(app: &TestApp, by: &domain::accounts::Operator, host_id: i64) -> domain::backups::Backup {
    let job = app
        .console
        .backups
        .back_up_now(by, &Default::default(), host_id, None)
        .await
        .unwrap();
    let done = finished(app, job).await;
    assert_eq!(done.status, JobStatus::Succeeded, "{:?}", done.failure);
    let newest = app.console.backups.list(Some(host_id), 1).await.unwrap().remove(0);
    assert_eq!(newest.job_id, Some(job));
    newest
}

/// The staging app's database password, read from its `.env` as the app does.
pub(crate) fn app_database_password() -> String {
    let env = std::fs::read_to_string(format!("{}/.env", staging("STAGING_APP_DIR"))).unwrap();
    env.lines()
        .find_map(|l| l.strip_prefix("POSTGRES_PASSWORD="))
        .expect("the app's .env has its password")
        .to_owned()
}

/// The app's database, as the app reaches it (TCP, password).
pub(crate) async fn app_database() -> PgPool {
    let url = format!(
        "postgres://ocpizza:{}@127.0.0.1:{}/ocpizza_db",
        app_database_password(),
        staging("STAGING_PG_PORT")
    );
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .unwrap()
}

/// `pg_dump --data-only` of a table of the app's database.
pub(crate) fn data_of(table: &str) -> String {
    let output = std::process::Command::new("pg_dump")
        .args([
            "--data-only",
            "--table",
            table,
            "-h",
            "127.0.0.1",
            "-U",
            "ocpizza",
            "-d",
            "ocpizza_db",
        ])
        .args(["-p", &staging("STAGING_PG_PORT")])
        .env("PGPASSWORD", app_database_password())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    // pg_dump brackets its output with a random `\restrict` token.
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A table of the app's database of this test's own, with `rows` rows.
pub(crate) async fn probe_table(database: &PgPool, table: &str, rows: i32) {
    sqlx::query(&format!("DROP TABLE IF EXISTS {table}"))
        .execute(database)
        .await
        .unwrap();
    sqlx::query(&format!(
        "CREATE TABLE {table} (id int PRIMARY KEY, label text NOT NULL)"
    ))
    .execute(database)
    .await
    .unwrap();
    sqlx::query(&format!(
        "INSERT INTO {table} SELECT i, 'pizza-' || i || '-' || md5(i::text) FROM generate_series(1, $1) i"
    ))
    .bind(rows)
    .execute(database)
    .await
    .unwrap();
}

pub(crate) fn stored_object(app: &TestApp, backup: &domain::backups::Backup) -> std::path::PathBuf {
    let dir = app.data_dir.path().join("backups").join("staging");
    let objects: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(&format!("job{}", backup.job_id.unwrap())))
        .collect();
    assert_eq!(
        objects.len(),
        1,
        "one object per backup, none left partial: {objects:?}"
    );
    objects.into_iter().next().unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_backup_streams_off_the_host_encrypted_and_restores_the_database_row_for_row(pool: PgPool) {
    let _turn = staging_database_alone().await;
    let app = spawn_app(pool.clone()).await;
    let admin = app.admin().await;
    let operator = app.operator(&admin).await;
    let host = register_staging(&app, &admin).await;
    let database = app_database().await;
    probe_table(&database, "backup_probe", 5000).await;
    let before = data_of("backup_probe");

    let job = app
        .console
        .backups
        .back_up_now(
            &operator,
            &Default::default(),
            host.id,
            Some("avant la mise à jour".into()),
        )
        .await
        .unwrap();
    let done = finished(&app, job).await;
    assert_eq!(done.status, JobStatus::Succeeded, "{:?}", done.failure);
    let catalog = app.console.backups.list(Some(host.id), 10).await.unwrap();
    assert_eq!(catalog.len(), 1);
    let backup = &catalog[0];
    assert_eq!(
        (
            backup.status,
            backup.trigger,
            backup.database_name.as_str(),
            backup.actor.as_str()
        ),
        (BackupStatus::Succeeded, BackupTrigger::Manual, "ocpizza_db", OPERATOR)
    );
    assert_eq!(backup.reason.as_deref(), Some("avant la mise à jour"));
    assert!(backup.server_version.as_deref().is_some_and(|v| !v.is_empty()));
    // The checksum recorded is the stored object's; the object is not a
    // dump anyone can read without the key.
    let object = std::fs::read(stored_object(&app, backup)).unwrap();
    assert_eq!(backup.stored_bytes, Some(object.len() as i64));
    assert_eq!(
        backup.sha256.as_deref(),
        Some(hex::encode(sha2::Sha256::digest(&object)).as_str())
    );
    assert!(object.starts_with(b"age-encryption.org/v1"));
    assert!(!object.windows(6).any(|w| w == b"pizza-") && !object.windows(5).any(|w| w == b"PGDMP"));
    assert!(backup.raw_bytes.unwrap() > 5000 * 20, "pg_dump's bytes are counted");
    // The job's output showed the progress, never the password.
    let output: Vec<String> = sqlx::query_scalar("SELECT line FROM job_output WHERE job_id = $1 ORDER BY seq")
        .bind(job)
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(output.iter().any(|l| l.starts_with("pg_dump → ")), "{output:?}");
    let password = app_database_password();
    assert!(!output.iter().any(|l| l.contains(&password)));
    assert!(!done.command_line.contains(&password));

    // The data changes; a wrong typed confirmation restores nothing.
    sqlx::query("DELETE FROM backup_probe WHERE id % 2 = 0")
        .execute(&database)
        .await
        .unwrap();
    sqlx::query("UPDATE backup_probe SET label = 'changed'")
        .execute(&database)
        .await
        .unwrap();
    let refused = app
        .console
        .backups
        .restore(&operator, &Default::default(), backup.id, "ocpizza")
        .await;
    assert!(matches!(refused, Err(DomainError::Invalid(_))), "{refused:?}");
    assert!(data_of("backup_probe") != before, "the data changed");

    let restore = app
        .console
        .backups
        .restore(&operator, &Default::default(), backup.id, "ocpizza_db")
        .await
        .unwrap();
    let done = finished(&app, restore).await;
    assert_eq!(done.status, JobStatus::Succeeded, "{:?}", done.failure);
    assert!(data_of("backup_probe") == before, "the data is back, row for row");
    // A safety backup of the changed database was taken first, kept apart.
    let catalog = app.console.backups.list(Some(host.id), 10).await.unwrap();
    let safety = catalog
        .iter()
        .find(|b| b.trigger == BackupTrigger::PreRestore)
        .expect("a safety backup");
    assert_eq!(safety.status, BackupStatus::Succeeded);
    assert_eq!(
        app.audit_count("backup.run", "success").await,
        2,
        "started and succeeded"
    );
    assert_eq!(app.audit_count("backup.restore", "success").await, 2);
    sqlx::query("DROP TABLE backup_probe").execute(&database).await.unwrap();
}

#[sqlx::test(migrations = "../migrations")]
async fn a_tampered_backup_is_refused_before_anything_is_touched_and_a_viewer_cannot_back_up(pool: PgPool) {
    let _turn = staging_database_alone().await;
    let app = spawn_app(pool.clone()).await;
    let admin = app.admin().await;
    let host = register_staging(&app, &admin).await;
    let backup = backed_up(&app, &admin, host.id).await;
    let path = stored_object(&app, &backup);

    // Without the console: the exported identity, the standard `age` tool,
    // zstd and pg_restore read the backup (what the README's recovery says).
    let identity = app
        .console
        .backups
        .export_key(&admin, &Default::default())
        .await
        .unwrap();
    let identity_file = app.data_dir.path().join("identity.txt");
    std::fs::write(&identity_file, &*identity).unwrap();
    let listing = std::process::Command::new("sh")
        .arg("-c")
        .arg("age -d -i \"$1\" \"$2\" | zstd -d | pg_restore --list")
        .arg("sh")
        .arg(&identity_file)
        .arg(&path)
        .output()
        .unwrap();
    assert!(listing.status.success(), "{}", String::from_utf8_lossy(&listing.stderr));
    let listing = String::from_utf8(listing.stdout).unwrap();
    assert!(listing.contains("TABLE public django_migrations"), "{listing}");
    assert_eq!(app.audit_count("backup.export_key", "success").await, 1);

    // An admin downloads it over HTTP, as stored; the page lists it.
    let browser = app.browser();
    browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let download = browser.get(&format!("/backups/{}/download", backup.id)).await;
    assert_eq!(download.status(), 200);
    assert_eq!(
        download.bytes().await.unwrap().as_ref(),
        std::fs::read(&path).unwrap().as_slice()
    );
    assert_eq!(app.audit_count("backup.download", "success").await, 1);
    let page = browser.get("/backups").await.text().await.unwrap();
    assert!(page.contains(&format!("data-backup=\"{}\"", backup.id)), "{page}");
    assert!(page.contains("Sauvegarder maintenant") && page.contains("Restaurer…"));

    let mut object = std::fs::read(&path).unwrap();
    let middle = object.len() / 2;
    object[middle] ^= 0x01;
    std::fs::write(&path, &object).unwrap();

    let done = restored(&app, &admin, backup.id, &backup.database_name).await;
    assert_eq!(done.status, JobStatus::Failed);
    assert_eq!(done.failure, Some(JobFailure::BackupTampered));
    assert_eq!(
        app.console.backups.list(Some(host.id), 10).await.unwrap().len(),
        1,
        "refused before the safety backup: nothing was touched"
    );

    // A viewer sees the catalog but starts nothing; the refusal is audited.
    let viewer = app.viewer(&admin).await;
    let refused = app
        .console
        .backups
        .back_up_now(&viewer, &Default::default(), host.id, None)
        .await;
    assert!(matches!(refused, Err(DomainError::Forbidden)), "{refused:?}");
    assert_eq!(app.audit_count("backup.run", "denied").await, 1);
    let refused = app.console.backups.export_key(&viewer, &Default::default()).await;
    assert!(matches!(refused, Err(DomainError::Forbidden)));
    let refused = app
        .console
        .backups
        .download(&viewer, &Default::default(), backup.id)
        .await;
    assert!(matches!(refused, Err(DomainError::Forbidden)));
    assert_eq!(app.audit_count("backup.export_key", "denied").await, 1);
    assert_eq!(app.audit_count("backup.download", "denied").await, 1);
    let reader = app.browser();
    reader.sign_in(VIEWER, VIEWER_PASSWORD).await;
    let page = reader.get("/backups").await.text().await.unwrap();
    assert!(
        page.contains(&format!("data-backup=\"{}\"", backup.id)),
        "a viewer sees the catalog"
    );
    assert!(
        !page.contains("Sauvegarder maintenant") && !page.contains("Restaurer…") && !page.contains("Télécharger"),
        "but no button"
    );
    assert_eq!(
        reader.get(&format!("/backups/{}/download", backup.id)).await.status(),
        403
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_backup_is_refused_while_another_action_runs_on_the_host(pool: PgPool) {
    let _turn = staging_database_alone().await;
    let app = spawn_app(pool.clone()).await;
    let admin = app.admin().await;
    let host = register_staging(&app, &admin).await;
    app.console.jobs.start().await.unwrap();
    let running = app
        .console
        .backups
        .back_up_now(&admin, &Default::default(), host.id, None)
        .await
        .unwrap();
    let second = app
        .console
        .backups
        .back_up_now(&admin, &Default::default(), host.id, None)
        .await;
    assert!(
        matches!(second, Err(DomainError::HostBusy { job }) if job == running),
        "{second:?}"
    );
    assert_eq!(finished(&app, running).await.status, JobStatus::Succeeded);
    assert_eq!(app.audit_count("backup.run", "denied").await, 1);
}

/// The home page keeps each host's backup health in memory, and every
/// console process forgets it when a backup, a verification or a host
/// changes (announced by the database).
#[sqlx::test(migrations = "../migrations")]
async fn the_home_page_remembers_backup_health_until_a_change_is_announced(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let admin = app.admin().await;
    let beside = spawn_app_beside(&app).await;
    let browser = beside.browser();
    browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    // The home page's backups card, empty without hosts (the audit rows
    // below it name hosts too).
    let home = || async {
        let html = browser.get("/").await.text().await.unwrap();
        html.split("id=\"dashboard-backups\"")
            .nth(1)
            .and_then(|card| card.split("</section>").next())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(!home().await.contains("staging"));

    // Registered through the other console: announced, shown here.
    register_staging(&app, &admin).await;
    let shows = |name: &'static str| async move {
        for _ in 0..50 {
            if home().await.contains(name) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    };
    assert!(shows("staging").await, "the new host's health is on the home page");

    // A change the database does not announce is not seen: the page
    // shows what it remembers (so it did not ask the database again)…
    sqlx::query("ALTER TABLE hosts DISABLE TRIGGER hosts_announce_change")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE hosts SET name = 'preprod' WHERE name = 'staging'")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("ALTER TABLE hosts ENABLE TRIGGER hosts_announce_change")
        .execute(&pool)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let card = home().await;
    assert!(card.contains("staging") && !card.contains("preprod"), "remembered");
    // …until one is.
    sqlx::query("UPDATE backups SET reason = reason WHERE false")
        .execute(&pool)
        .await
        .unwrap();
    assert!(shows("preprod").await, "forgotten at the announcement");
}
