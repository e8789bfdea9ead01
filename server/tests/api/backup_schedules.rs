//! Backup schedules, retention and verification against the real staging
//! host: a slot runs once with two console processes on one database; a
//! slot missed while no console ran is reported and caught up once;
//! retention prunes what it does not keep (never a restore's safety copy);
//! a backup restored into a scratch database has its rows counted.

use std::time::Duration;

use domain::backups::{BackupStatus, BackupTrigger, CatalogFilter, ScheduleForm, ScratchServer, VerificationStatus};
use domain::jobs::{JobFailure, JobStatus};
use domain::DomainError;
use sqlx::PgPool;

use crate::backups::{
    app_database, backed_up, finished, probe_table, register_staging, staging_database_alone, stored_object,
};
use crate::helpers::*;

/// The test cluster's superuser URL: the scratch server verifications use.
fn scratch_url() -> String {
    std::env::var("DATABASE_URL").expect("DATABASE_URL: the test cluster")
}

fn pg_bin_dir() -> std::path::PathBuf {
    server::embedded_postgres::find_bin_dir().expect("PostgreSQL's programs")
}

/// Saves `form` as `host_id`'s schedule, then makes its slot come
/// `late_by` ago (as if the clock had reached it).
async fn scheduled_due(
    app: &TestApp,
    admin: &domain::accounts::Operator,
    host_id: i64,
    form: ScheduleForm,
    late_by: &str,
) {
    app.console
        .backups
        .save_schedule(admin, &Default::default(), host_id, form)
        .await
        .unwrap();
    sqlx::query(&format!(
        "UPDATE backup_schedules SET next_run_at = now() - interval '{late_by}' WHERE host_id = $1"
    ))
    .bind(host_id)
    .execute(&app.pool)
    .await
    .unwrap();
}

/// The jobs run on `host_id` with `action`, oldest first.
async fn jobs_of(pool: &PgPool, host_id: i64, action: &str) -> Vec<i64> {
    sqlx::query_scalar("SELECT id FROM jobs WHERE host_id = $1 AND action = $2 ORDER BY id")
        .bind(host_id)
        .bind(action)
        .fetch_all(pool)
        .await
        .unwrap()
}

/// Waits until `host_id` has `count` jobs of `action`, all finished.
async fn until_jobs(pool: &PgPool, app: &TestApp, host_id: i64, action: &str, count: usize) -> Vec<i64> {
    for _ in 0..600 {
        let jobs = jobs_of(pool, host_id, action).await;
        if jobs.len() >= count {
            for job in &jobs {
                finished(app, *job).await;
            }
            return jobs;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no {action} job on host {host_id} within 60 s");
}

fn field_of<T: std::fmt::Debug>(result: Result<T, DomainError>) -> &'static str {
    match result {
        Err(DomainError::Invalid(invalid)) => invalid.field,
        other => panic!("{other:?}"),
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_schedule_that_does_not_read_is_refused_by_field_and_changes_nothing(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let admin = app.admin().await;
    let operator = app.operator(&admin).await;
    let host = register_staging(&app, &admin).await;
    let backups = &app.console.backups;
    let from = domain::audit::Provenance::default();
    let save = |form: ScheduleForm| backups.save_schedule(&admin, &from, host.id, form);
    let cron = |cron: &str| ScheduleForm {
        cron: cron.into(),
        ..Default::default()
    };
    assert_eq!(field_of(save(cron("every night at 3")).await), "cron");
    assert_eq!(field_of(save(cron("0 0 30 2 *")).await), "cron", "never fires");
    let zone = ScheduleForm {
        time_zone: "Europe/Lutece".into(),
        ..Default::default()
    };
    assert_eq!(field_of(save(zone).await), "time_zone");
    let retention = ScheduleForm {
        keep_last: 0,
        ..Default::default()
    };
    assert_eq!(field_of(save(retention).await), "keep_last");
    let retention = ScheduleForm {
        keep_monthly: 500,
        ..Default::default()
    };
    assert_eq!(field_of(save(retention).await), "keep_monthly");
    assert!(backups.schedule_of(host.id).await.unwrap().is_none(), "nothing saved");
    assert_eq!(app.audit_count("backup.schedule", "success").await, 0);

    // An operator may back up, not change the schedule.
    let refused = backups
        .save_schedule(&operator, &Default::default(), host.id, ScheduleForm::default())
        .await;
    assert!(matches!(refused, Err(DomainError::Forbidden)), "{refused:?}");

    // The default: daily at 03:00 Paris time, its next slot ahead.
    let saved = save(ScheduleForm::default()).await.unwrap();
    assert_eq!(
        (saved.cron.as_str(), saved.time_zone.as_str()),
        ("0 3 * * *", "Europe/Paris")
    );
    assert!(saved.next_run_at > time::OffsetDateTime::now_utc());
    assert!(saved.next_run_at - time::OffsetDateTime::now_utc() <= time::Duration::hours(24));
    assert_eq!(app.audit_count("backup.schedule", "success").await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn two_consoles_on_one_database_run_each_scheduled_backup_once(pool: PgPool) {
    let _turn = staging_database_alone().await;
    let app = spawn_app_with(pool.clone(), &["--scheduler-seconds", "1"]).await;
    let beside = spawn_app_beside_with(&app, &["--scheduler-seconds", "1"]).await;
    let admin = app.admin().await;
    let host = register_staging(&app, &admin).await;
    let form = ScheduleForm {
        verify_after: false,
        ..Default::default()
    };
    scheduled_due(&app, &admin, host.id, form, "1 second").await;

    let jobs = until_jobs(&pool, &app, host.id, "backup.run", 1).await;
    // Both schedulers looked several times since; neither ran it again nor
    // was refused by the host's lock (that would mean both took the slot).
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        jobs_of(&pool, host.id, "backup.run").await,
        jobs,
        "one backup for one slot"
    );
    assert_eq!(app.audit_count("backup.run", "denied").await, 0);
    let job = app.console.jobs.job(jobs[0]).await.unwrap();
    assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.failure);
    assert_eq!(job.actor, "system");
    let catalog = app.console.backups.list(Some(host.id), 10).await.unwrap();
    assert_eq!(catalog.len(), 1);
    assert_eq!(
        (catalog[0].trigger, catalog[0].status, catalog[0].actor.as_str()),
        (BackupTrigger::Schedule, BackupStatus::Succeeded, "system")
    );
    let schedule = app.console.backups.schedule_of(host.id).await.unwrap().unwrap();
    assert_eq!(schedule.last_job_id, Some(jobs[0]));
    assert!(
        schedule.next_run_at > time::OffsetDateTime::now_utc(),
        "moved to the next slot"
    );
    assert_eq!(app.audit_count("backup.schedule_missed", "failure").await, 0, "on time");
    drop(beside);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_slot_missed_while_no_console_ran_is_reported_once_and_caught_up_once(pool: PgPool) {
    let _turn = staging_database_alone().await;
    let app = spawn_app_with(pool.clone(), &["--scheduler-seconds", "1"]).await;
    let admin = app.admin().await;
    let host = register_staging(&app, &admin).await;
    let hourly = ScheduleForm {
        cron: "0 * * * *".into(),
        verify_after: false,
        ..Default::default()
    };
    // The slot five hours ago, and the four after it, passed unseen.
    scheduled_due(&app, &admin, host.id, hourly, "5 hours").await;

    let jobs = until_jobs(&pool, &app, host.id, "backup.run", 1).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        jobs_of(&pool, host.id, "backup.run").await,
        jobs,
        "caught up once, not once per slot"
    );
    let missed: Vec<serde_json::Value> = sqlx::query_scalar(
        "SELECT details FROM audit_log WHERE action = 'backup.schedule_missed' AND actor = 'system'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(missed.len(), 1, "reported once: {missed:?}");
    let count = missed[0]["missed"].as_i64().unwrap();
    assert!((5..=6).contains(&count), "five hours of hourly slots: {count}");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_scheduled_backup_prunes_what_retention_does_not_keep_and_is_verified(pool: PgPool) {
    let _turn = staging_database_alone().await;
    let url = scratch_url();
    let app = spawn_app_with(
        pool.clone(),
        &["--scheduler-seconds", "1", "--verify-database-url", url.as_str()],
    )
    .await;
    let admin = app.admin().await;
    let host = register_staging(&app, &admin).await;
    let database = app_database().await;
    probe_table(&database, "retention_probe", 1234).await;

    // Two manual backups, then a restore of the first: its safety copy.
    let manual = [
        backed_up(&app, &admin, host.id).await,
        backed_up(&app, &admin, host.id).await,
    ];
    let restore = app
        .console
        .backups
        .restore(&admin, &Default::default(), manual[0].id, "ocpizza_db")
        .await
        .unwrap();
    assert_eq!(finished(&app, restore).await.status, JobStatus::Succeeded);
    let safety = app
        .console
        .backups
        .list(Some(host.id), 10)
        .await
        .unwrap()
        .into_iter()
        .find(|b| b.trigger == BackupTrigger::PreRestore)
        .expect("the restore's safety copy");
    let kept_files = [stored_object(&app, &manual[0]), stored_object(&app, &manual[1])];

    // Keep the newest only, and verify it.
    let newest_only = ScheduleForm {
        keep_last: 1,
        keep_daily: 0,
        keep_weekly: 0,
        keep_monthly: 0,
        verify_after: true,
        ..Default::default()
    };
    scheduled_due(&app, &admin, host.id, newest_only, "1 second").await;
    // Two manual backups and the scheduled one (the safety copy was taken
    // inside the restore's job).
    let runs = until_jobs(&pool, &app, host.id, "backup.run", 3).await;
    let scheduled = app.console.jobs.job(*runs.last().unwrap()).await.unwrap();
    assert_eq!(scheduled.status, JobStatus::Succeeded, "{:?}", scheduled.failure);

    let catalog = app.console.backups.list(Some(host.id), 10).await.unwrap();
    let status_of = |id: i64| catalog.iter().find(|b| b.id == id).unwrap().status;
    assert_eq!(status_of(manual[0].id), BackupStatus::Pruned);
    assert_eq!(status_of(manual[1].id), BackupStatus::Pruned);
    assert_eq!(
        status_of(safety.id),
        BackupStatus::Succeeded,
        "a safety copy is never pruned"
    );
    let newest = catalog.iter().find(|b| b.trigger == BackupTrigger::Schedule).unwrap();
    assert_eq!(newest.status, BackupStatus::Succeeded);
    for file in &kept_files {
        assert!(
            !file.exists(),
            "a pruned backup's object is deleted: {}",
            file.display()
        );
    }
    assert!(stored_object(&app, &safety).exists());
    let pruned: Vec<serde_json::Value> =
        sqlx::query_scalar("SELECT details FROM audit_log WHERE action = 'backup.prune' AND actor = 'system'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(pruned.len(), 1);
    assert_eq!(
        pruned[0]["backups"],
        serde_json::json!([manual[0].id, manual[1].id]),
        "{pruned:?}"
    );

    // The scheduled backup was restored into a scratch database and its
    // rows counted, the scratch database dropped.
    let verification = app
        .console
        .backups
        .latest_verifications(&[newest.id])
        .await
        .unwrap()
        .pop()
        .expect("the scheduled backup was verified");
    assert_eq!(verification.status, VerificationStatus::Succeeded, "{verification:?}");
    assert!(verification.restore_ms.is_some());
    let probe = verification
        .tables
        .iter()
        .find(|t| t.table == "public.retention_probe")
        .expect("the probe table restored");
    assert_eq!(probe.rows, 1234);
    let scratch_left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname LIKE 'ocpizza_verify_%'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(scratch_left, 0, "scratch databases are dropped");
    // The catalog's filter and totals: by status, by origin, and over HTTP.
    let backups = &app.console.backups;
    let on_host = CatalogFilter {
        host_id: Some(host.id),
        ..Default::default()
    };
    let totals = backups.totals(&on_host).await.unwrap();
    assert_eq!(
        (totals.backups, totals.succeeded),
        (4, 2),
        "two pruned, the safety copy, the scheduled one"
    );
    assert_eq!(
        totals.stored_bytes,
        safety.stored_bytes.unwrap() + newest.stored_bytes.unwrap(),
        "only what is still stored"
    );
    let pruned_only = CatalogFilter {
        status: Some(BackupStatus::Pruned),
        ..on_host.clone()
    };
    let ids: Vec<i64> = backups
        .list_filtered(&pruned_only, 10)
        .await
        .unwrap()
        .iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(ids, vec![manual[1].id, manual[0].id]);
    let scheduled_only = CatalogFilter {
        trigger: Some(BackupTrigger::Schedule),
        ..Default::default()
    };
    assert_eq!(backups.list_filtered(&scheduled_only, 10).await.unwrap().len(), 1);
    let browser = app.browser();
    browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let page = browser.get("/backups?status=pruned").await.text().await.unwrap();
    assert!(page.contains(&format!("data-backup=\"{}\"", manual[0].id)), "{page}");
    assert!(!page.contains(&format!("data-backup=\"{}\"", newest.id)));
    assert!(
        page.contains("2 sauvegardes, dont 0 réussies ; 0 B stockés."),
        "the totals of what is shown"
    );

    let health = app.console.backups.health().await.unwrap();
    assert!(health[0].last_verified_backup_at.is_some() && health[0].last_restore_ms.is_some());
    assert_eq!(app.audit_count("backup.verify", "success").await, 1);
    sqlx::query("DROP TABLE retention_probe")
        .execute(&database)
        .await
        .unwrap();
}

#[sqlx::test(migrations = "../migrations")]
async fn verify_counts_the_rows_restored_and_refuses_a_tampered_backup_or_no_scratch_server(pool: PgPool) {
    let _turn = staging_database_alone().await;
    let app = spawn_app(pool.clone()).await;
    let admin = app.admin().await;
    let host = register_staging(&app, &admin).await;
    let database = app_database().await;
    probe_table(&database, "verify_probe", 321).await;
    let backup = backed_up(&app, &admin, host.id).await;

    // Without a scratch server: refused, saying why, recorded.
    let unverified = app.console.backups.clone();
    let job = unverified.verify(&admin, &Default::default(), backup.id).await.unwrap();
    let done = finished(&app, job).await;
    assert_eq!(done.failure, Some(JobFailure::ScratchUnavailable));

    let options: sqlx::postgres::PgConnectOptions = scratch_url().parse().unwrap();
    let verifying =
        app.console
            .backups
            .clone()
            .with_scratch_server(Some(ScratchServer::new(options, None, pg_bin_dir())));
    let job = verifying.verify(&admin, &Default::default(), backup.id).await.unwrap();
    let done = finished(&app, job).await;
    assert_eq!(done.status, JobStatus::Succeeded, "{:?}", done.failure);
    let verification = verifying.latest_verifications(&[backup.id]).await.unwrap().remove(0);
    assert_eq!(verification.job_id, Some(job));
    let probe = verification
        .tables
        .iter()
        .find(|t| t.table == "public.verify_probe")
        .unwrap();
    assert_eq!(probe.rows, 321);
    assert!(verification
        .tables
        .iter()
        .any(|t| t.table == "public.django_migrations"));

    // A tampered object: refused before any restore, recorded failed.
    let path = stored_object(&app, &backup);
    let mut object = std::fs::read(&path).unwrap();
    let last = object.len() - 1;
    object[last] ^= 0x01;
    std::fs::write(&path, &object).unwrap();
    let job = verifying.verify(&admin, &Default::default(), backup.id).await.unwrap();
    assert_eq!(finished(&app, job).await.failure, Some(JobFailure::BackupTampered));
    let verification = verifying.latest_verifications(&[backup.id]).await.unwrap().remove(0);
    assert_eq!(
        (verification.status, verification.failure.as_deref()),
        (VerificationStatus::Failed, Some("backup-tampered"))
    );
    // Each failed verification: its job's end and its result.
    assert_eq!(app.audit_count("backup.verify", "failure").await, 4);
    sqlx::query("DROP TABLE verify_probe").execute(&database).await.unwrap();
}
