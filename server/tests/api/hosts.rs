//! Hosts and jobs against the real staging host (scripts/test starts it and
//! exports its STAGING_* settings): pinned keys, web app control, the host
//! lock, interrupted jobs, and no private key anywhere it should not be.

use std::time::Duration;

use domain::hosts::{Host, HostRegistration, KeyChoice};
use domain::jobs::{JobEvent, JobFailure, JobStatus, Runbook};
use sqlx::PgPool;

use crate::helpers::*;

pub(crate) fn staging(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run the tests through scripts/test"))
}

pub(crate) fn private_key() -> String {
    std::fs::read_to_string(staging("STAGING_SSH_KEY")).unwrap()
}

/// Registers the staging host with `key` for the console.
pub(crate) async fn register(app: &TestApp, admin: &domain::accounts::Operator, key: KeyChoice) -> Host {
    let port: u16 = staging("STAGING_SSH_PORT").parse().unwrap();
    register_on(app, admin, "staging", port, &staging("STAGING_SERVICE_COMMAND"), key).await
}

/// Registers a host named `name` reached on loopback `port` as the staging
/// host's user, controlled by `service_command`, after reading its key.
pub(crate) async fn register_on(
    app: &TestApp,
    admin: &domain::accounts::Operator,
    name: &str,
    port: u16,
    service_command: &str,
    key: KeyChoice,
) -> Host {
    let fingerprint = app
        .console
        .hosts
        .read_host_key(admin, "127.0.0.1", port)
        .await
        .unwrap()
        .fingerprint;
    let registration = HostRegistration {
        name: name.into(),
        ssh_address: "127.0.0.1".into(),
        ssh_port: port,
        ssh_user: staging("STAGING_SSH_USER"),
        key,
        app_dir: staging("STAGING_APP_DIR"),
        web_service: "nginx".into(),
        wsgi_service: "gunicorn".into(),
        service_command: service_command.into(),
        site_url: staging("STAGING_SITE_URL"),
    };
    app.console
        .hosts
        .register(admin, &Default::default(), registration, &fingerprint)
        .await
        .unwrap()
}

async fn finished(app: &TestApp, job: i64) -> domain::jobs::Job {
    for _ in 0..200 {
        let current = app.console.jobs.job(job).await.unwrap();
        if current.status.finished() {
            return current;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job {job} did not finish within 20 s");
}

pub(crate) async fn run_to_end(
    app: &TestApp,
    by: &domain::accounts::Operator,
    host_id: i64,
    runbook: Runbook,
) -> domain::jobs::Job {
    let job = app
        .console
        .jobs
        .start_job(by, &Default::default(), host_id, runbook)
        .await
        .unwrap();
    finished(app, job).await
}

/// A Server-Sent Events body's job events, in order; each event's name is
/// its kind's.
fn sse_events(body: &str) -> Vec<JobEvent> {
    body.split("\n\n")
        .filter_map(|event| {
            let name = event.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data = event.lines().find_map(|l| l.strip_prefix("data: "))?;
            let parsed = JobEvent::from_json(data).unwrap_or_else(|e| panic!("{e}: {data}"));
            assert_eq!(parsed.name(), name);
            Some(parsed)
        })
        .collect()
}

/// A job's page as a signed-in staff member reads it (in French, the default).
async fn job_page_text(browser: &Browser, job: i64) -> String {
    let page = browser.get(&format!("/jobs/{job}")).await;
    assert_eq!(page.status(), 200);
    page.text().await.unwrap()
}

/// What the jobs table holds about a job's failure, as text.
async fn job_record_text(app: &TestApp, job: i64) -> String {
    sqlx::query_scalar("SELECT coalesce(failure::text, '') FROM jobs WHERE id = $1")
        .bind(job)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn site_answers() -> bool {
    reqwest::get(staging("STAGING_SITE_URL"))
        .await
        .is_ok_and(|r| r.status() == 200)
}

/// One of the two tests that stop the staging host's NGINX (with the alerts'
/// test; tests run in parallel: the deploy tests, whose health gate asks the
/// site, wait for their turn).
#[sqlx::test(migrations = "../migrations")]
async fn stopping_nginx_takes_the_site_offline_and_restarting_brings_it_back(pool: PgPool) {
    // The turn also restarts NGINX if this test fails with it stopped.
    let _turn = crate::backups::staging_database_alone().await;
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    let operator = app.operator(&admin).await;
    let host = register(&app, &admin, KeyChoice::paste(private_key())).await;
    assert!(site_answers().await);

    let stop = app
        .console
        .jobs
        .start_job(&operator, &Default::default(), host.id, Runbook::StopWebServer)
        .await
        .unwrap();
    let stopped = finished(&app, stop).await;
    assert_eq!(stopped.status, JobStatus::Succeeded, "{:?}", stopped.failure);
    assert_eq!(
        stopped.command_line,
        format!("{} nginx stop", staging("STAGING_SERVICE_COMMAND"))
    );
    assert!(!site_answers().await, "the site is offline");
    let output = app.console.jobs.output_after(stop, 0, 10).await.unwrap();
    assert_eq!(output[0].line, "nginx stopped");

    let restart = app
        .console
        .jobs
        .start_job(&operator, &Default::default(), host.id, Runbook::RestartWebServer)
        .await
        .unwrap();
    assert_eq!(finished(&app, restart).await.status, JobStatus::Succeeded);
    assert!(site_answers().await, "the site is back");

    let audited: Vec<(String, String, String)> =
        sqlx::query_as("SELECT actor, action, outcome FROM audit_log WHERE action LIKE 'webapp.%' ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    let operator_name = OPERATOR.to_owned();
    assert_eq!(
        audited,
        [
            (operator_name.clone(), "webapp.stop_web_server".into(), "success".into()),
            (operator_name.clone(), "webapp.stop_web_server".into(), "success".into()),
            (
                operator_name.clone(),
                "webapp.restart_web_server".into(),
                "success".into()
            ),
            (operator_name, "webapp.restart_web_server".into(), "success".into()),
        ],
        "started and finished, each with the operator's name"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_host_showing_another_key_is_refused_audited_and_flagged(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    let host = register(&app, &admin, KeyChoice::paste(private_key())).await;
    // As if the host's key had been replaced since it was pinned.
    sqlx::query(
        "UPDATE hosts SET host_key_fingerprint = 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' WHERE id = $1",
    )
    .bind(host.id)
    .execute(&app.pool)
    .await
    .unwrap();
    let job = run_to_end(&app, &admin, host.id, Runbook::CheckPrerequisites).await;
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.failure, Some(JobFailure::HostKeyChanged));
    assert_eq!(app.audit_count("ssh.host_key_changed", "denied").await, 1);
    let flagged = app.console.hosts.get(host.id).await.unwrap();
    assert_eq!(
        flagged.key_alert.map(|(f, _)| f),
        Some(host.host_key.fingerprint.clone())
    );

    // An admin re-pins after confirming; the alert clears.
    app.console
        .hosts
        .repin(&admin, &Default::default(), host.id, &host.host_key.fingerprint)
        .await
        .unwrap();
    assert!(app.console.hosts.get(host.id).await.unwrap().key_alert.is_none());
    assert_eq!(app.audit_count("host.repin", "success").await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_key_the_host_does_not_know_and_a_stopped_sshd_fail_clearly(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    let host = register(&app, &admin, KeyChoice::Generate).await;
    assert!(
        host.public_key.starts_with("ssh-ed25519 "),
        "a generated key shows its public half"
    );
    let job = run_to_end(&app, &admin, host.id, Runbook::CheckPrerequisites).await;
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.failure, Some(JobFailure::KeyRefused));
    // The page says it in French, and what SSH said stays in the log.
    let browser = app.browser();
    browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let page = job_page_text(&browser, job.id).await;
    assert!(
        page.contains("L'hôte refuse la clé de la console pour cet utilisateur"),
        "{page}"
    );
    let record = job_record_text(&app, job.id).await;
    assert_eq!(record, r#"{"code": "key-refused"}"#);

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    sqlx::query("UPDATE hosts SET ssh_port = $2 WHERE id = $1")
        .bind(host.id)
        .bind(i32::from(closed))
        .execute(&app.pool)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let job = run_to_end(&app, &admin, host.id, Runbook::CheckPrerequisites).await;
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.failure, Some(JobFailure::HostUnreachable));
    let page = job_page_text(&browser, job.id).await;
    assert!(page.contains("L'hôte ne répond pas sur son port SSH"), "{page}");
    assert!(
        !page.contains("Connection refused") && !page.contains("os error"),
        "{page}"
    );
    assert_eq!(job_record_text(&app, job.id).await, r#"{"code": "host-unreachable"}"#);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_second_mutating_job_on_a_busy_host_is_refused_even_from_another_console(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let admin = app.admin().await;
    let host = register(&app, &admin, KeyChoice::paste(private_key())).await;
    // A mutating job is running on the host (held by a live runner).
    app.console.jobs.start().await.unwrap();
    sqlx::query(
        "INSERT INTO jobs (host_id, action, mutating, command_line, actor, status, runner)
         VALUES ($1, 'webapp.restart_web_server', true, 'x', 'someone', 'running', 1)",
    )
    .bind(host.id)
    .execute(&pool)
    .await
    .unwrap();
    let holder = pool.acquire().await.unwrap();
    let mut holder = holder.detach();
    sqlx::query("SELECT pg_advisory_lock(1)")
        .execute(&mut holder)
        .await
        .unwrap();

    // A second console process on the same database.
    let other = domain::Console::new(
        pool.clone(),
        domain::secrets::SecretBox::new(domain::secrets::MasterKey::generate()),
    );
    for console in [&app.console, &other] {
        let refused = console
            .jobs
            .start_job(&admin, &Default::default(), host.id, Runbook::RestartWsgiServer)
            .await;
        assert!(
            matches!(refused, Err(domain::DomainError::HostBusy { .. })),
            "{refused:?}"
        );
    }
    assert_eq!(app.audit_count("webapp.restart_wsgi_server", "denied").await, 2);
    // A read-only check is not blocked.
    assert!(app
        .console
        .jobs
        .start_job(&admin, &Default::default(), host.id, Runbook::CheckPrerequisites)
        .await
        .is_ok());

    // Its runner alive, the job is not "interrupted" by a restart...
    assert_eq!(other.jobs.recover_interrupted().await.unwrap(), 0);
    // ...and once that console is gone (its lock released), it is.
    drop(holder);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(other.jobs.recover_interrupted().await.unwrap(), 1);
    let status: String = sqlx::query_scalar("SELECT status FROM jobs WHERE runner = 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "interrupted");
    assert_eq!(app.audit_count("job.interrupted", "failure").await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_private_key_never_shows_in_pages_audit_or_job_records(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let admin = app.admin().await;
    let host = register(&app, &admin, KeyChoice::paste(private_key())).await;
    let job = run_to_end(&app, &admin, host.id, Runbook::CheckPrerequisites).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.failure);

    let key = private_key();
    let body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
    let fragment = &body[10..60];
    let browser = app.browser();
    browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    for page in [
        format!("/server/{}", host.id),
        "/server".into(),
        format!("/jobs/{}", job.id),
        "/audit".into(),
    ] {
        let html = browser.get(&page).await.text().await.unwrap();
        assert!(!html.contains(fragment), "{page} shows the private key");
    }
    let everything: String = sqlx::query_scalar(
        "SELECT concat_ws(' ', (SELECT string_agg(details::text || target, ' ') FROM audit_log),
                               (SELECT string_agg(line, ' ') FROM job_output),
                               (SELECT string_agg(command_line || coalesce(failure::text, ''), ' ') FROM jobs),
                               (SELECT string_agg(h::text, ' ') FROM hosts h))",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(!everything.contains(fragment));
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT sealed FROM secrets")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!sealed.windows(20).any(|w| w == &fragment.as_bytes()[..20]));

    // The prerequisites check read real versions off the host.
    let (_, lines) = app.console.jobs.latest_prerequisites(host.id).await.unwrap().unwrap();
    let assessed = domain::jobs::assess_prerequisites(&lines, &app.console.required_versions.as_pairs());
    let verdicts: Vec<(&str, &str)> = assessed
        .iter()
        .take(3)
        .map(|p| (p.name.as_str(), p.verdict.as_str()))
        .collect();
    assert_eq!(verdicts, [("nginx", "ok"), ("gunicorn", "ok"), ("postgresql", "ok")]);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_jobs_output_and_status_stream_to_the_page_as_server_sent_events(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    let host = register(&app, &admin, KeyChoice::paste(private_key())).await;
    let browser = app.browser();
    browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let job = app
        .console
        .jobs
        .start_job(&admin, &Default::default(), host.id, Runbook::CheckPrerequisites)
        .await
        .unwrap();

    let response = browser.get(&format!("/jobs/{job}/events")).await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let body = tokio::time::timeout(Duration::from_secs(20), response.text())
        .await
        .expect("the stream ends with the job")
        .unwrap();
    let events = sse_events(&body);
    let Some(lines) = events.iter().find_map(|event| match event {
        JobEvent::Lines { lines } => Some(lines),
        JobEvent::Status { .. } | JobEvent::Steps { .. } => None,
    }) else {
        panic!("{body}")
    };
    assert_eq!((lines[0].seq, lines[0].stderr), (1, false));
    assert!(lines[0].text.starts_with("nginx: nginx version"), "{body}");
    assert_eq!(
        events.last(),
        Some(&JobEvent::Status {
            status: JobStatus::Succeeded,
            exit_status: Some(0),
            failure: None
        }),
        "{body}"
    );

    // The download holds the same lines; without a session, neither answers.
    let text = browser
        .get(&format!("/jobs/{job}/output.txt"))
        .await
        .text()
        .await
        .unwrap();
    assert!(text.starts_with("      nginx: nginx version"), "{text}");
    assert_eq!(app.browser().get(&format!("/jobs/{job}/events")).await.status(), 303);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_host_key_replaced_on_the_server_is_refused_at_the_next_job(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    let mut sshd = crate::own_sshd::OwnSshd::start();
    let host = private_host(&app, &admin, &sshd, &staging("STAGING_SERVICE_COMMAND")).await;
    assert_eq!(
        run_to_end(&app, &admin, host.id, Runbook::CheckPrerequisites)
            .await
            .status,
        JobStatus::Succeeded
    );

    sshd.kill();
    sshd.new_host_key();
    sshd.run();
    let job = run_to_end(&app, &admin, host.id, Runbook::CheckPrerequisites).await;
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.failure, Some(JobFailure::HostKeyChanged));
    assert_eq!(app.audit_count("ssh.host_key_changed", "denied").await, 1);
    assert!(app.console.hosts.get(host.id).await.unwrap().key_alert.is_some());
}

/// The client's port as the host sees it, over a session of the console's.
async fn client_port(app: &TestApp, admin: &domain::accounts::Operator, host: &Host) -> String {
    let session = app
        .console
        .hosts
        .connect(host, &admin.actor(), &Default::default())
        .await
        .unwrap();
    let echo = domain::ssh::RemoteCommand::program("sh")
        .fixed("-c")
        .fixed("echo $SSH_CONNECTION");
    let (status, lines) = session.answer(&echo).await.unwrap();
    session.close().await;
    assert_eq!(status, Some(0));
    lines[0].split(' ').nth(1).unwrap().to_owned()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_session_done_with_is_reused_while_warm_and_replaced_once_the_host_cut_it(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    let mut sshd = crate::own_sshd::OwnSshd::start();
    let host = private_host(&app, &admin, &sshd, &staging("STAGING_SERVICE_COMMAND")).await;
    let first = client_port(&app, &admin, &host).await;
    assert_eq!(
        client_port(&app, &admin, &host).await,
        first,
        "the same connection, no new handshake"
    );

    // The host restarted (its sessions cut): the waiting one no longer
    // answers, and the next user gets a fresh connection, not an error.
    sshd.kill();
    sshd.run();
    let after = client_port(&app, &admin, &host).await;
    assert_ne!(after, first);
    let job = run_to_end(&app, &admin, host.id, Runbook::CheckPrerequisites).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn sshd_killed_mid_command_fails_the_job_instead_of_hanging(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    let mut sshd = crate::own_sshd::OwnSshd::start();
    let host = slow_host(&app, &admin, &sshd).await;
    let job = started_slow_job(&app, &admin, host.id).await;
    let killed_at = std::time::Instant::now();
    sshd.kill();
    let job = finished(&app, job).await;
    assert_eq!(job.status, JobStatus::Failed, "{job:?}");
    assert!(killed_at.elapsed() < Duration::from_secs(10), "it failed promptly");
    let lines: Vec<String> = app
        .console
        .jobs
        .output_after(job.id, 0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.line)
        .collect();
    assert_eq!(lines, ["started"]);
}

/// Two console processes on one database: a job run by one streams live to
/// a viewer of the other (PostgreSQL's notifications carry the news), and
/// the stream loses nothing when every listening connection is cut.
#[sqlx::test(migrations = "../migrations")]
async fn a_job_run_by_one_console_streams_live_to_a_viewer_of_another(pool: PgPool) {
    use futures::StreamExt;
    let runs = spawn_app(pool).await;
    let shows = spawn_app_beside(&runs).await;
    let admin = runs.admin().await;
    let sshd = crate::own_sshd::OwnSshd::start();
    let script = "for i in 1 2 3 4 5 6; do echo tick $i; sleep 0.4; done\n";
    let host = host_running(&runs, &admin, &sshd, script).await;
    let starter = runs.browser();
    starter.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let host_id = host.id.to_string();
    let started = starter
        .post_form(
            "/api/jobs/start",
            &[("host_id", host_id.as_str()), ("action", "webapp.restart_web_server")],
        )
        .await;
    assert!(started.status().is_success(), "{:?}", started.text().await);
    let job: i64 = started.text().await.unwrap().trim().parse().unwrap();

    let viewer = shows.browser();
    viewer.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let mut stream = viewer.get(&format!("/jobs/{job}/events")).await.bytes_stream();
    let (mut received, mut events, mut cut) = (String::new(), Vec::new(), false);
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(20), stream.next())
        .await
        .expect("the stream ends with the job")
    {
        received.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        while let Some(end) = received.find("\n\n") {
            events.extend(sse_events(&received[..end]));
            received.drain(..end + 2);
        }
        if !cut && events.iter().any(|e| matches!(e, JobEvent::Lines { .. })) {
            // Live: the first line is here while the job still runs.
            assert_eq!(runs.console.jobs.job(job).await.unwrap().status, JobStatus::Running);
            let listeners: i64 = sqlx::query_scalar(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                 WHERE datname = current_database() AND query LIKE 'LISTEN %job_changes%'",
            )
            .fetch_one(&runs.pool)
            .await
            .unwrap();
            assert!(listeners >= 2, "one listener per console process: {listeners}");
            cut = true;
        }
    }
    let ticks: Vec<String> = events
        .iter()
        .filter_map(|event| match event {
            JobEvent::Lines { lines } => Some(lines.iter().map(|l| l.text.clone())),
            JobEvent::Status { .. } | JobEvent::Steps { .. } => None,
        })
        .flatten()
        .collect();
    assert_eq!(ticks, (1..=6).map(|i| format!("tick {i}")).collect::<Vec<_>>());
    assert_eq!(
        events.last(),
        Some(&JobEvent::Status {
            status: JobStatus::Succeeded,
            exit_status: Some(0),
            failure: None
        })
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_running_job_can_be_cancelled_and_a_viewer_cannot_start_one(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    let sshd = crate::own_sshd::OwnSshd::start();
    let host = slow_host(&app, &admin, &sshd).await;

    let viewer = app.viewer(&admin).await;
    let refused = app
        .console
        .jobs
        .start_job(&viewer, &Default::default(), host.id, Runbook::RestartWebServer)
        .await;
    assert!(matches!(refused, Err(domain::DomainError::Forbidden)), "{refused:?}");
    assert_eq!(app.audit_count("webapp.restart_web_server", "denied").await, 1);

    let job = started_slow_job(&app, &admin, host.id).await;
    app.console.jobs.cancel(&admin, &Default::default(), job).await.unwrap();
    let cancelled = finished(&app, job).await;
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    assert_eq!(app.audit_count("job.cancel", "success").await, 1);
    // The host is free again for the next action.
    assert!(app
        .console
        .jobs
        .start_job(&admin, &Default::default(), host.id, Runbook::CheckPrerequisites)
        .await
        .is_ok());
}

/// A host on `sshd` whose service control prints "started", then sleeps 30 s.
async fn slow_host(app: &TestApp, admin: &domain::accounts::Operator, sshd: &crate::own_sshd::OwnSshd) -> Host {
    host_running(app, admin, sshd, "echo started\nsleep 30\necho never\n").await
}

/// The host named "private" on `sshd` (the test's own), controlled by
/// `service_command`.
async fn private_host(
    app: &TestApp,
    admin: &domain::accounts::Operator,
    sshd: &crate::own_sshd::OwnSshd,
    service_command: &str,
) -> Host {
    register_on(
        app,
        admin,
        "private",
        sshd.port,
        service_command,
        KeyChoice::paste(private_key()),
    )
    .await
}

/// A host on `sshd` whose service control is the shell `script`.
async fn host_running(
    app: &TestApp,
    admin: &domain::accounts::Operator,
    sshd: &crate::own_sshd::OwnSshd,
    script: &str,
) -> Host {
    let program = sshd.dir.join("service");
    std::fs::write(&program, format!("#!/bin/sh\n{script}")).unwrap();
    std::process::Command::new("chmod")
        .args(["+x"])
        .arg(&program)
        .status()
        .unwrap();
    private_host(app, admin, sshd, program.to_str().unwrap()).await
}

/// Whether a process whose command line contains `pattern` runs on this
/// machine (the test hosts' sshd runs here).
fn running(pattern: &str) -> bool {
    std::process::Command::new("pgrep")
        .args(["-f", pattern])
        .output()
        .unwrap()
        .status
        .success()
}

/// Cancelling a job kills the command on the host, not only the channel:
/// here one that ignores SIGHUP and would sleep for days.
#[sqlx::test(migrations = "../migrations")]
async fn cancelling_a_job_stops_its_command_on_the_host_even_when_it_ignores_sighup(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    let sshd = crate::own_sshd::OwnSshd::start();
    let marker = format!("sleep 7{:06}", std::process::id() % 1_000_000);
    let host = host_running(&app, &admin, &sshd, &format!("trap '' HUP\necho started\n{marker}\n")).await;
    let job = started_slow_job(&app, &admin, host.id).await;
    assert!(running(&marker), "{marker} runs on the host");

    app.console.jobs.cancel(&admin, &Default::default(), job).await.unwrap();
    assert_eq!(finished(&app, job).await.status, JobStatus::Cancelled);
    for _ in 0..50 {
        if !running(&marker) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{marker} still runs on the host after the job was cancelled");
}

/// A host that prints 50 MB without a newline: the job stores one line, cut
/// at the cap with a marker, then what follows.
#[sqlx::test(migrations = "../migrations")]
async fn an_endless_line_from_a_host_is_stored_cut_at_the_cap(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    let sshd = crate::own_sshd::OwnSshd::start();
    let host = host_running(
        &app,
        &admin,
        &sshd,
        "head -c 50000000 /dev/zero | tr '\\000' x\necho\necho done\n",
    )
    .await;
    let job = run_to_end(&app, &admin, host.id, Runbook::RestartWebServer).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.failure);
    let lines = app.console.jobs.output_after(job.id, 0, 10).await.unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0].line.len(),
        domain::ssh::MAX_LINE + domain::ssh::CUT_MARKER.len()
    );
    assert!(lines[0].line.ends_with(domain::ssh::CUT_MARKER));
    assert_eq!(lines[1].line, "done");
}

/// Starts the slow service's "restart" and waits until its first line is stored.
async fn started_slow_job(app: &TestApp, by: &domain::accounts::Operator, host_id: i64) -> i64 {
    let job = app
        .console
        .jobs
        .start_job(by, &Default::default(), host_id, Runbook::RestartWebServer)
        .await
        .unwrap();
    for _ in 0..100 {
        if !app.console.jobs.output_after(job, 0, 1).await.unwrap().is_empty() {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {job} printed nothing within 5 s");
}

/// A user on this machine (where the test hosts' sshd runs) whose `sudo`
/// asks for a password: created once, loopback tests only (needs root, as
/// scripts/test runs in CI).
fn user_whose_sudo_asks_a_password() -> &'static str {
    const USER: &str = "ocpizza-sudo-test";
    let exists = std::process::Command::new("id")
        .arg(USER)
        .output()
        .unwrap()
        .status
        .success();
    if !exists {
        // `*`: no password, and not a locked account (sshd lets a key in).
        let added = std::process::Command::new("useradd")
            .args(["--no-create-home", "--shell", "/bin/sh", "--password", "*", USER])
            .status()
            .expect("useradd (the tests run as root)");
        assert!(added.success(), "could not create {USER}: run the tests as root");
    }
    let sudoers = std::path::Path::new("/etc/sudoers.d/ocpizza-sudo-test");
    if !sudoers.exists() {
        std::fs::write(sudoers, format!("{USER} ALL=(ALL) ALL\n")).expect("writing /etc/sudoers.d (as root)");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(sudoers, std::fs::Permissions::from_mode(0o440)).unwrap();
    }
    USER
}

/// Services controlled through systemd with a user whose sudo wants a
/// password: the job fails at once, saying which sudoers line to add.
#[sqlx::test(migrations = "../migrations")]
async fn a_sudo_asking_for_a_password_fails_the_job_at_once_with_the_sudoers_line(pool: PgPool) {
    let user = user_whose_sudo_asks_a_password();
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    let sshd = crate::own_sshd::OwnSshd::start_allowing(user);
    let fingerprint = app
        .console
        .hosts
        .read_host_key(&admin, "127.0.0.1", sshd.port)
        .await
        .unwrap()
        .fingerprint;
    let registration = HostRegistration {
        name: "sudo".into(),
        ssh_address: "127.0.0.1".into(),
        ssh_port: sshd.port,
        ssh_user: user.into(),
        key: KeyChoice::paste(private_key()),
        app_dir: "/tmp".into(),
        web_service: "nginx".into(),
        wsgi_service: "gunicorn".into(),
        service_command: String::new(),
        site_url: staging("STAGING_SITE_URL"),
    };
    let host = app
        .console
        .hosts
        .register(&admin, &Default::default(), registration, &fingerprint)
        .await
        .unwrap();

    let started = std::time::Instant::now();
    let job = run_to_end(&app, &admin, host.id, Runbook::RestartWebServer).await;
    assert!(started.elapsed() < Duration::from_secs(5), "it failed at once");
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.command_line, "sudo -n systemctl restart nginx");
    let Some(JobFailure::SudoWantsPassword { line }) = job.failure else {
        panic!("{:?}", job.failure)
    };
    assert!(
        line.starts_with(&format!(
            "{user} ALL=(root) NOPASSWD: /usr/bin/systemctl stop nginx, /usr/bin/systemctl restart nginx"
        )),
        "{line}"
    );
    let browser = app.browser();
    browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let page = job_page_text(&browser, job.id).await;
    assert!(page.contains("sudo a demandé un mot de passe"), "{page}");
    assert!(page.contains(&line), "{page}");
}

#[sqlx::test(migrations = "../migrations")]
async fn an_unreachable_host_is_told_as_a_translated_code_and_the_ssh_details_go_to_the_log(pool: PgPool) {
    let (log, _guard) = CapturedLog::install();
    let app = spawn_app(pool).await;
    app.admin().await;
    let browser = app.browser();
    browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();

    // Reading a host's key before pinning it, on a port nobody listens on.
    let response = browser
        .post_form(
            "/api/hosts/read-key",
            &[("ssh_address", "127.0.0.1"), ("ssh_port", closed.as_str())],
        )
        .await;
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body = response.text().await.unwrap();
    let error: app::errors::AppError = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(
        error,
        app::errors::AppError::Remote {
            message: "error-ssh-unreachable".into(),
            request_id: request_id.clone(),
        }
    );
    for library_words in ["refused", "os error", "does not answer"] {
        assert!(
            !body.contains(library_words),
            "{library_words:?} reached the page: {body}"
        );
    }
    let log = log.text();
    let line = log
        .lines()
        .find(|line| line.contains("refused the console") && line.contains(&request_id))
        .unwrap_or_else(|| panic!("no log line with the request id {request_id}:\n{log}"));
    assert!(line.contains("does not answer on its SSH port"), "{line}");
}
