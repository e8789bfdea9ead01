//! Déploiements (manual §6.1, §7.2), on the staging host's real git
//! repository (branches `main`, `release/1.1`, `feature/menu-hiver`,
//! `feature/migration-cassee`) and its Django stand-in behind NGINX: what
//! the app runs and which branches it could run; deploying a branch (the
//! site then shows its version), a deploy whose migration fails (stopped
//! at that step, its backup taken first, the rollback offered or done at
//! once), a health gate that fails, returning to an earlier deploy; and
//! what is refused, changing nothing.
//!
//! Every test that moves the staging app holds the staging host alone
//! ([`staging_database_alone`]) and starts from `main`.

use std::process::Command;
use std::time::Duration;

use app::deploys_api::{DeployRow, HostDeploysView};
use domain::deploys::DeployKind;
use domain::deploys::DeploySettings;
use domain::error::DomainError;
use domain::hosts::KeyChoice;
use domain::jobs::{JobFailure, JobStatus, StepName, StepStatus};
use sqlx::PgPool;

use crate::backups::{finished, staging_database_alone};
use crate::helpers::*;
use crate::hosts::{private_key, register, staging};

/// What git answers in the staging app directory, run here.
pub(crate) fn git(args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(staging("STAGING_APP_DIR"))
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[sqlx::test(migrations = "../migrations")]
async fn the_deployments_page_shows_the_commit_each_host_runs_and_the_branches_it_could(pool: PgPool) {
    let _turn = staging_database_alone().await;
    let app = spawn_app(pool.clone()).await;
    let admin = app.admin().await;
    let host = register(&app, &admin, KeyChoice::paste(private_key())).await;
    app.viewer(&admin).await;
    let viewer = app.browser();
    viewer.sign_in(VIEWER, VIEWER_PASSWORD).await;

    let overview: Vec<HostDeploysView> = viewer
        .post_form("/api/deploys/overview", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(overview.len(), 1);
    let view = &overview[0];
    assert_eq!(view.error, None);
    let head = git(&["rev-parse", "HEAD"]);
    let deployed = view.deployed.as_ref().expect("the deployed commit");
    assert_eq!(deployed.id, head);
    assert_eq!(deployed.short, head[..7]);
    assert_eq!(deployed.subject, git(&["log", "-1", "--format=%s"]));
    assert_eq!(
        view.branch.as_deref(),
        Some(git(&["symbolic-ref", "--short", "HEAD"]).as_str())
    );
    let names: Vec<&str> = view.branches.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(
        names,
        ["feature/menu-hiver", "feature/migration-cassee", "main", "release/1.1"]
    );
    for branch in &view.branches {
        let tip = git(&["rev-parse", &format!("refs/remotes/origin/{}", branch.name)]);
        assert_eq!(branch.commit.id, tip, "{}", branch.name);
        assert_eq!(branch.deployed, tip == head, "{}", branch.name);
    }
    assert!(view.branches.iter().any(|b| b.deployed));

    // The page as the server sends it.
    let html = viewer.get("/deployments").await.text().await.unwrap();
    for expected in [
        "release/1.1",
        "feature/menu-hiver",
        &deployed.short,
        "déployée",
        "Branche déployée",
    ] {
        assert!(html.contains(expected), "{expected:?} missing from the page");
    }

    // An app directory that is not a repository: said, in words.
    sqlx::query("UPDATE hosts SET app_dir = '/tmp' WHERE id = $1")
        .bind(host.id)
        .execute(&pool)
        .await
        .unwrap();
    // The console hears of the change through the hosts table's
    // announcement (NOTIFY), a moment after the update: until then it lists
    // the host as it remembers it.
    let mut overview: Vec<HostDeploysView> = Vec::new();
    for _ in 0..50 {
        overview = viewer
            .post_form("/api/deploys/overview", &[])
            .await
            .json()
            .await
            .unwrap();
        if overview[0].error.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let error = overview[0].error.as_ref().expect("why it cannot be read");
    assert_eq!(error.message_key(), "error-deploy-not-a-repository");
    assert!(overview[0].deployed.is_none() && overview[0].branches.is_empty());
}

/// What a refusal for a bad value says.
fn invalid(error: &DomainError) -> Option<&'static str> {
    match error {
        DomainError::Invalid(invalid) => Some(invalid.message),
        _ => None,
    }
}

/// The staging app back on `main`, as the tests find it (a test that failed
/// midway may have left it elsewhere).
fn back_to_main() {
    git(&["checkout", "-q", "main"]);
}

/// The version the staging site shows (its home page's `#version`).
async fn site_version() -> String {
    let page = reqwest::get(staging("STAGING_SITE_URL")).await.unwrap();
    assert_eq!(page.status(), 200, "the site answers");
    let html = page.text().await.unwrap();
    let start = html.find("<span id='version'>").expect("the version on the page") + "<span id='version'>".len();
    html[start..].split('<').next().unwrap().to_owned()
}

/// The steps of `job` as (name, status).
async fn steps(app: &TestApp, job: i64) -> Vec<(StepName, StepStatus)> {
    let steps = app.console.jobs.steps(job).await.unwrap();
    steps.into_iter().map(|s| (s.name, s.status)).collect()
}

/// Deploys `branch` as `by` and waits for the job to end.
pub(crate) async fn deployed(
    app: &TestApp,
    by: &domain::accounts::Operator,
    host_id: i64,
    branch: &str,
) -> domain::jobs::Job {
    let job = app
        .console
        .deploys
        .deploy(by, &Default::default(), host_id, branch)
        .await
        .unwrap();
    finished(app, job).await
}

#[sqlx::test(migrations = "../migrations")]
async fn deploying_a_branch_moves_the_site_and_the_history_returns_it_to_main(pool: PgPool) {
    let _turn = staging_database_alone().await;
    back_to_main();
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    let operator = app.operator(&admin).await;
    let host = register(&app, &admin, KeyChoice::paste(private_key())).await;
    let main = git(&["rev-parse", "HEAD"]);
    assert_eq!(site_version().await, "1.0.0");

    // main deployed on main: nothing moves, every step still runs.
    let noop = deployed(&app, &operator, host.id, "main").await;
    assert_eq!(noop.status, JobStatus::Succeeded, "{:?}", noop.failure);
    use StepName::*;
    use StepStatus::*;
    assert_eq!(
        steps(&app, noop.id).await,
        [
            (Fetch, Succeeded),
            (PendingMigrations, Succeeded),
            (Backup, Skipped),
            (Checkout, Succeeded),
            (Pull, Succeeded),
            (Requirements, Skipped),
            (Migrate, Succeeded),
            (CollectStatic, Succeeded),
            (RestartWsgi, Succeeded),
            (HealthGate, Succeeded),
        ]
    );

    // Through the endpoint, as the page does: release/1.1.
    let browser = app.browser();
    browser.sign_in(OPERATOR, OPERATOR_PASSWORD).await;
    let started = browser
        .post_form(
            "/api/deploys/deploy",
            &[("host_id", &host.id.to_string()), ("branch", "release/1.1")],
        )
        .await;
    assert_eq!(started.status(), 200);
    let job: i64 = started.json().await.unwrap();
    let release = finished(&app, job).await;
    assert_eq!(release.status, JobStatus::Succeeded, "{:?}", release.failure);
    assert_eq!(site_version().await, "1.1.0", "the site runs the branch deployed");
    let tip = git(&["rev-parse", "refs/remotes/origin/release/1.1"]);
    assert_eq!(git(&["rev-parse", "HEAD"]), tip);
    assert!(
        release.command_line.contains("checkout release/1.1"),
        "{}",
        release.command_line
    );
    let output: Vec<String> = app
        .console
        .jobs
        .output_after(job, 0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.line)
        .collect();
    let headers: Vec<&String> = output.iter().filter(|l| l.starts_with("== step")).collect();
    assert_eq!(headers.len(), 10, "each step named in the output: {headers:#?}");
    assert_eq!(headers[2], "== step 3/10: backup (skipped) ==");
    assert!(output.iter().any(|l| l.contains("the site answers")), "{output:#?}");

    // The history: newest first, from → to, who, how it ended.
    let overview: Vec<HostDeploysView> = browser
        .post_form("/api/deploys/overview", &[])
        .await
        .json()
        .await
        .unwrap();
    let history: &[DeployRow] = &overview[0].history;
    assert_eq!(history.len(), 2);
    let last = &history[0];
    assert_eq!(
        (last.kind, last.branch.as_deref()),
        (DeployKind::Deploy, Some("release/1.1"))
    );
    assert_eq!(last.from.as_ref().unwrap().id, main);
    assert_eq!(last.to.as_ref().unwrap().id, tip);
    assert_eq!(last.to.as_ref().unwrap().subject, "OC Pizza 1.1.0");
    assert_eq!((last.actor.as_str(), last.status), (OPERATOR, JobStatus::Succeeded));
    let first = &history[1];
    assert_eq!(first.to.as_ref().unwrap().id, main);

    // Back to main from the history: a rollback, itself recorded.
    let back: i64 = browser
        .post_form("/api/deploys/rollback", &[("deploy_id", &first.id.to_string())])
        .await
        .json()
        .await
        .unwrap();
    let back = finished(&app, back).await;
    assert_eq!(back.status, JobStatus::Succeeded, "{:?}", back.failure);
    assert_eq!(site_version().await, "1.0.0");
    assert_eq!(git(&["rev-parse", "HEAD"]), main);
    let rollback = &app.console.deploys.history(host.id, 1).await.unwrap()[0];
    assert_eq!(rollback.kind, DeployKind::Rollback);
    assert_eq!(rollback.rollback_of, Some(first.id));
    assert_eq!(rollback.from.as_ref().unwrap().id, tip);
    assert_eq!(rollback.to.as_ref().unwrap().id, main);
    assert_eq!(
        steps(&app, back.id).await.first(),
        Some(&(PendingMigrations, Succeeded)),
        "a rollback fetches nothing"
    );

    // Audited with the branch and the commit, each started and finished.
    assert_eq!(app.audit_count("deploy.branch", "success").await, 4);
    assert_eq!(app.audit_count("deploy.rollback", "success").await, 2);
    let detail: String = sqlx::query_scalar(
        "SELECT details->>'commit' FROM audit_log WHERE action = 'deploy.rollback' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(detail, main);
    back_to_main();
}

#[sqlx::test(migrations = "../migrations")]
async fn a_deploy_whose_migration_fails_stops_there_after_its_backup_and_the_rollback_brings_the_site_back(
    pool: PgPool,
) {
    let _turn = staging_database_alone().await;
    back_to_main();
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    let operator = app.operator(&admin).await;
    let host = register(&app, &admin, KeyChoice::paste(private_key())).await;
    let main = git(&["rev-parse", "HEAD"]);

    let broken = deployed(&app, &operator, host.id, "feature/migration-cassee").await;
    assert_eq!(broken.status, JobStatus::Failed);
    assert_eq!(
        broken.failure,
        Some(JobFailure::StepFailed {
            step: StepName::Migrate
        })
    );
    use StepName::*;
    use StepStatus::*;
    assert_eq!(
        steps(&app, broken.id).await,
        [
            (Fetch, Succeeded),
            (PendingMigrations, Succeeded),
            (Backup, Succeeded),
            (Checkout, Succeeded),
            (Pull, Succeeded),
            (Requirements, Skipped),
            (Migrate, Failed),
            (CollectStatic, Skipped),
            (RestartWsgi, Skipped),
            (HealthGate, Skipped),
        ]
    );
    // The backup came first, recorded as taken before a deploy.
    let backups = app.console.backups.list(None, 10).await.unwrap();
    assert_eq!(backups.len(), 1);
    assert_eq!(backups[0].trigger, domain::backups::BackupTrigger::PreDeploy);
    let output: Vec<String> = app
        .console
        .jobs
        .output_after(broken.id, 0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.line)
        .collect();
    assert!(output.iter().any(|l| l.contains("0002_cassee.py")), "{output:#?}");

    // The rollback the job page offers: back to what ran before.
    let record = &app.console.deploys.of_job(broken.id).await.unwrap()[0];
    assert_eq!(record.rollback_target().unwrap().id, main);
    let back = app
        .console
        .deploys
        .roll_back(&operator, &Default::default(), record.id)
        .await
        .unwrap();
    let back = finished(&app, back).await;
    assert_eq!(back.status, JobStatus::Succeeded, "{:?}", back.failure);
    assert_eq!(site_version().await, "1.0.0", "the site answers again, as before");

    // Configured to return at once: the same deploy fails, and the job
    // itself goes back (recorded as a rollback of it).
    let settings = DeploySettings {
        rollback_on_failure: true,
        backup_before: domain::deploys::BackupBefore::Never,
        ..DeploySettings::default()
    };
    app.console
        .deploys
        .save_settings(&admin, &Default::default(), host.id, settings)
        .await
        .unwrap();
    let broken = deployed(&app, &operator, host.id, "feature/migration-cassee").await;
    assert_eq!(
        broken.failure,
        Some(JobFailure::StepFailed {
            step: StepName::Migrate
        })
    );
    let made = app.console.deploys.of_job(broken.id).await.unwrap();
    assert_eq!(made.len(), 2, "the deploy and its return");
    assert_eq!(made[0].kind, DeployKind::Rollback);
    assert_eq!(made[0].rollback_of, Some(made[1].id));
    assert_eq!(made[0].to.as_ref().unwrap().id, main);
    // Fetch, checkout, pull, requirements, migrate (failed), then:
    let after: Vec<(StepName, StepStatus)> = steps(&app, broken.id).await.into_iter().skip(5).collect();
    assert_eq!(
        after,
        [
            (CollectStatic, Skipped),
            (RestartWsgi, Skipped),
            (HealthGate, Skipped),
            (Checkout, Succeeded),
            (Requirements, Skipped),
            (Migrate, Succeeded),
            (CollectStatic, Succeeded),
            (RestartWsgi, Succeeded),
            (HealthGate, Succeeded),
        ]
    );
    assert_eq!(git(&["rev-parse", "HEAD"]), main);
    assert_eq!(site_version().await, "1.0.0");
    // One before the deploy, one before the return (it takes a migration
    // away); none once the host says never.
    assert_eq!(app.console.backups.list(None, 10).await.unwrap().len(), 2);
    back_to_main();
}

/// Posts the deploy settings' form as the page does; its answer's status.
async fn post_settings(browser: &Browser, form: Vec<(&'static str, String)>) -> reqwest::StatusCode {
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    browser.post_form("/api/deploys/settings", &form).await.status()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_health_gate_that_fails_fails_the_deploy_and_says_which_url(pool: PgPool) {
    let _turn = staging_database_alone().await;
    back_to_main();
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    let operator = app.operator(&admin).await;
    let host = register(&app, &admin, KeyChoice::paste(private_key())).await;
    // The settings' form, as the page posts it: the site answers 200, not
    // the 418 this gate waits for; static files not collected (unticked).
    let python = DeploySettings::default().python.as_str().to_owned();
    let host_id = host.id.to_string();
    let form = |health_url: &'static str| {
        vec![
            ("host_id", host_id.clone()),
            ("settings[python]", python.clone()),
            ("settings[install_requirements]", "on".into()),
            ("settings[migrate]", "on".into()),
            ("settings[restart_wsgi]", "on".into()),
            ("settings[health_url]", health_url.into()),
            ("settings[health_status]", "418".into()),
            ("settings[health_seconds]", "2".into()),
            ("settings[backup_before]", "when-migrations-pending".into()),
        ]
    };
    let as_operator = app.browser();
    as_operator.sign_in(OPERATOR, OPERATOR_PASSWORD).await;
    assert_eq!(post_settings(&as_operator, form("")).await, 403, "admins only");
    let as_admin = app.browser();
    as_admin.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let refused = post_settings(&as_admin, form("ftp://staging/")).await;
    assert_eq!(refused, 400, "refused input says so");
    assert_eq!(
        app.console.deploys.settings(host.id).await.unwrap().health_status,
        200,
        "nothing changed"
    );
    assert_eq!(post_settings(&as_admin, form("")).await, 200);
    let saved = app.console.deploys.settings(host.id).await.unwrap();
    assert_eq!(
        (
            saved.health_status,
            saved.collect_static,
            saved.migrate,
            saved.rollback_on_failure
        ),
        (418, false, true, false)
    );
    let job = deployed(&app, &operator, host.id, "main").await;
    let url = staging("STAGING_SITE_URL");
    assert_eq!(job.failure, Some(JobFailure::HealthGateFailed { url: url.clone() }));
    let last = steps(&app, job.id).await.pop().unwrap();
    assert_eq!(last, (StepName::HealthGate, StepStatus::Failed));
    assert!(
        !job.command_line.contains("collectstatic"),
        "a step turned off does not run"
    );
    // Offered, not done: the host is not configured to return at once.
    let record = &app.console.deploys.of_job(job.id).await.unwrap();
    assert_eq!(record.len(), 1);
    assert_eq!(app.audit_count("deploy.settings", "success").await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn what_cannot_be_deployed_is_refused_and_changes_nothing(pool: PgPool) {
    let _turn = staging_database_alone().await;
    back_to_main();
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    let operator = app.operator(&admin).await;
    let host = register(&app, &admin, KeyChoice::paste(private_key())).await;
    let head = git(&["rev-parse", "HEAD"]);
    let deploy = |branch: &'static str| {
        let (app, operator) = (&app, &operator);
        async move {
            app.console
                .deploys
                .deploy(operator, &Default::default(), host.id, branch)
                .await
        }
    };
    for hostile in [
        "main; touch /tmp/pwned",
        "$(reboot)",
        "-f",
        "main`id`",
        "../main",
        "a b",
    ] {
        let refused = deploy(hostile).await.unwrap_err();
        assert_eq!(invalid(&refused), Some("error-branch-name"), "{hostile:?}");
    }
    let unknown = deploy("feature/inconnue").await.unwrap_err();
    assert_eq!(invalid(&unknown), Some("error-deploy-unknown-branch"));

    // A viewer may not (and the refusal is audited).
    let viewer = app.viewer(&admin).await;
    let denied = app
        .console
        .deploys
        .deploy(&viewer, &Default::default(), host.id, "main")
        .await
        .unwrap_err();
    assert!(matches!(denied, DomainError::Forbidden), "{denied:?}");
    assert_eq!(app.audit_count("deploy.branch", "denied").await, 1);

    // Another action running on the host: refused with its number.
    let running = app
        .console
        .jobs
        .start_job(
            &operator,
            &Default::default(),
            host.id,
            domain::jobs::Runbook::RestartWsgiServer,
        )
        .await
        .unwrap();
    match deploy("release/1.1").await {
        Err(DomainError::HostBusy { job }) => assert_eq!(job, running),
        // The restart may already be over: then the deploy ran.
        Ok(job) => {
            finished(&app, job).await;
        }
        Err(other) => panic!("{other:?}"),
    }
    finished(&app, running).await;
    let jobs = app.console.jobs.jobs_on_host(host.id, 10).await.unwrap();
    assert!(jobs.len() <= 2, "no job for what was refused");
    back_to_main();
    assert_eq!(git(&["rev-parse", "HEAD"]), head);
}
