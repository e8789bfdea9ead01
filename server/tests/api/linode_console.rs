//! Linode in the console (manual §5.1), against the local double of the
//! API on a loopback port: the token checked, sealed and never shown
//! again; the host's instance picked from the account; power as jobs that
//! follow their event, refused while another action runs and, for a
//! shutdown, while a backup does; the graphs of the last day drawn by the
//! server. Every answer the double gave is checked against the OpenAPI file.

use std::time::Duration;

use domain::hosts::KeyChoice;
use domain::jobs::JobStatus;
use server::linode_double::LinodeDouble;
use sqlx::PgPool;

use crate::helpers::*;
use crate::hosts::{private_key, register};
use crate::linode::{every_answer_keeps_to_the_contract, new_token};

/// The production instance the tests link the host to.
const PROD: i64 = 4242;

struct Account {
    double: LinodeDouble,
    url: String,
    /// Every scope the console needs.
    token: String,
    /// Read-only on Linodes: the console cannot power anything with it.
    narrow: String,
}

async fn account() -> Account {
    let double = LinodeDouble::new(Duration::from_millis(2500));
    for n in 0..30 {
        double.add_instance(1000 + n, &format!("pizzeria-{n:02}"), "running");
    }
    double.add_instance(PROD, "ocpizza-prod", "running");
    let (token, narrow) = (new_token(), new_token());
    double.add_token(&token, "linodes:read_write events:read_only");
    double.add_token(&narrow, "linodes:read_only events:read_only");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = double.serve(listener);
    Account {
        double,
        url,
        token,
        narrow,
    }
}

async fn console_on(pool: PgPool, account: &Account) -> TestApp {
    spawn_app_with(pool, &["--linode-api-url", &account.url, "--linode-poll-ms", "200"]).await
}

/// An admin's browser, signed in, that entered the account's token and
/// linked the host to the production instance.
async fn admin_with_prod_linked(app: &TestApp, account: &Account, host_id: &str) -> Browser {
    let browser = app.browser();
    browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let saved = browser
        .post_form("/api/linode/token", &[("token", account.token.as_str())])
        .await;
    assert!(saved.status().is_success());
    let linked = browser
        .post_form("/api/linode/link", &[("host_id", host_id), ("linode_id", "4242")])
        .await;
    assert!(linked.status().is_success());
    browser
}

async fn error_of(response: reqwest::Response) -> app::errors::AppError {
    let body = response.text().await.unwrap();
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

async fn finished(app: &TestApp, job: i64) -> domain::jobs::Job {
    for _ in 0..300 {
        let current = app.console.jobs.job(job).await.unwrap();
        if current.status.finished() {
            return current;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job {job} did not finish within 30 s");
}

async fn output_of(app: &TestApp, job: i64) -> Vec<String> {
    app.console
        .jobs
        .output_after(job, 0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|line| line.line)
        .collect()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_token_is_checked_when_entered_sealed_and_never_shown_again(pool: PgPool) {
    let (log, _guard) = CapturedLog::install();
    let account = account().await;
    let app = console_on(pool.clone(), &account).await;
    let admin = app.admin().await;
    app.operator(&admin).await;
    let host = register(&app, &admin, KeyChoice::paste(private_key())).await;
    let browser = app.browser();
    browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let save = |token: String| {
        let browser = &browser;
        async move {
            browser
                .post_form("/api/linode/token", &[("token", token.as_str())])
                .await
        }
    };

    // Bad input: said, nothing stored.
    let refused = [
        ("".to_owned(), "error-linode-token-empty"),
        ("pas un jeton !".to_owned(), "error-linode-token-malformed"),
    ];
    for (typed, message) in refused {
        let error = error_of(save(typed).await).await;
        assert_eq!(
            error,
            app::errors::AppError::Invalid {
                field: "token".into(),
                message: message.into()
            }
        );
    }
    let error = error_of(save(new_token()).await).await;
    assert_eq!(error.message_key(), "error-linode-token-refused", "{error:?}");
    let error = error_of(save(account.narrow.clone()).await).await;
    assert_eq!(
        (error.message_key(), error.detail()),
        ("error-linode-missing-scope", "linodes:read_write")
    );
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM linode_token")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 0, "a refused token is not stored");

    // An operator may not set it.
    let operator = app.browser();
    operator.sign_in(OPERATOR, OPERATOR_PASSWORD).await;
    let forbidden = operator
        .post_form("/api/linode/token", &[("token", account.token.as_str())])
        .await;
    assert_eq!(forbidden.status(), 403);

    // The good one: stored, shown as who set it and when.
    let saved = save(account.token.clone()).await;
    assert!(saved.status().is_success(), "{:?}", saved.text().await);
    let page = browser.get(&format!("/server/{}", host.id)).await.text().await.unwrap();
    assert!(page.contains("défini · modifié le"), "{page}");
    assert!(page.contains(&format!("par {ADMIN}")), "{page}");
    assert!(!page.contains("Linode simulé"), "a real token is no simulation");

    // Replaced: the old sealed value is gone, one remains.
    let again = save(account.token.clone()).await;
    assert!(again.status().is_success());
    let tokens: i64 = sqlx::query_scalar("SELECT count(*) FROM secrets WHERE purpose = 'linode-token'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(tokens, 1);

    // A power job run with it, so its records exist to be searched.
    let linked = browser
        .post_form(
            "/api/linode/link",
            &[("host_id", &host.id.to_string()), ("linode_id", &PROD.to_string())],
        )
        .await;
    assert!(linked.status().is_success(), "{:?}", linked.text().await);
    let started = browser
        .post_form(
            "/api/linode/power",
            &[("host_id", &host.id.to_string()), ("action", "linode.reboot")],
        )
        .await;
    let job: i64 = started.text().await.unwrap().trim().parse().unwrap();
    assert_eq!(finished(&app, job).await.status, JobStatus::Succeeded);

    // Nowhere: pages, audit, jobs, their output, the log; sealed at rest.
    let token = account.token.as_str();
    for page in [
        format!("/server/{}", host.id),
        "/".into(),
        "/audit".into(),
        format!("/jobs/{job}"),
    ] {
        let html = browser.get(&page).await.text().await.unwrap();
        assert!(!html.contains(token), "{page} shows the token");
    }
    let section = browser
        .post_form("/api/linode/section", &[("host_id", &host.id.to_string())])
        .await
        .text()
        .await
        .unwrap();
    assert!(
        section.contains("linodes:read_write") && !section.contains(token),
        "{section}"
    );
    let everything: String = sqlx::query_scalar(
        "SELECT concat_ws(' ', (SELECT string_agg(details::text || target, ' ') FROM audit_log),
                               (SELECT string_agg(lines, ' ') FROM job_output_chunks),
                               (SELECT string_agg(command_line || coalesce(failure::text, ''), ' ') FROM jobs),
                               (SELECT string_agg(t::text, ' ') FROM linode_token t),
                               (SELECT string_agg(l::text, ' ') FROM host_linodes l))",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(everything.contains("linode.reboot") || everything.contains("reboot"));
    assert!(!everything.contains(token));
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT sealed FROM secrets WHERE purpose = 'linode-token'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!sealed.windows(16).any(|w| w == &token.as_bytes()[..16]));
    let log = log.text();
    assert!(log.contains("Linode"), "the refusals were logged:\n{log}");
    assert!(!log.contains(token), "the log shows the token");

    // Audited: two refusals by the API, two tokens saved; never the value.
    assert_eq!(app.audit_count("linode.token", "failure").await, 2);
    assert_eq!(app.audit_count("linode.token", "success").await, 2);
    every_answer_keeps_to_the_contract(&account.double.served(), 8);
}

#[sqlx::test(migrations = "../migrations")]
async fn an_admin_links_the_instance_and_an_operator_reboots_it_following_its_event(pool: PgPool) {
    let account = account().await;
    let app = console_on(pool.clone(), &account).await;
    let admin = app.admin().await;
    app.operator(&admin).await;
    let host = register(&app, &admin, KeyChoice::paste(private_key())).await;
    let host_id = host.id.to_string();
    let admin_browser = app.browser();
    admin_browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let operator = app.browser();
    operator.sign_in(OPERATOR, OPERATOR_PASSWORD).await;

    // No token: the page says an admin must enter one; power is refused.
    let page = operator.get(&format!("/server/{host_id}")).await.text().await.unwrap();
    assert!(page.contains("Aucune instance Linode"), "{page}");
    let instances = admin_browser.post_form("/api/linode/instances", &[]).await;
    assert_eq!(error_of(instances).await.message_key(), "error-linode-no-token");

    admin_browser
        .post_form("/api/linode/token", &[("token", account.token.as_str())])
        .await;
    let listed = admin_browser.post_form("/api/linode/instances", &[]).await;
    let listed: Vec<app::linode_api::InstanceRow> = listed.json().await.unwrap();
    assert_eq!(listed.len(), 31);
    assert!(listed.iter().any(|i| i.id == PROD && i.label == "ocpizza-prod"));

    // An instance not on the account, or not a number: said, nothing linked.
    for typed in ["999", "ocpizza"] {
        let refused = admin_browser
            .post_form("/api/linode/link", &[("host_id", &host_id), ("linode_id", typed)])
            .await;
        assert_eq!(
            error_of(refused).await,
            app::errors::AppError::Invalid {
                field: "linode_id".into(),
                message: "error-linode-instance-unknown".into()
            }
        );
    }
    let forbidden = operator
        .post_form("/api/linode/link", &[("host_id", &host_id), ("linode_id", "4242")])
        .await;
    assert_eq!(forbidden.status(), 403);
    let linked = admin_browser
        .post_form("/api/linode/link", &[("host_id", &host_id), ("linode_id", "4242")])
        .await;
    assert!(linked.status().is_success());

    // The host page and the home page show it, running.
    for page in [format!("/server/{host_id}"), "/".into()] {
        let html = operator.get(&page).await.text().await.unwrap();
        assert!(
            html.contains("ocpizza-prod") && html.contains("en marche"),
            "{page}: {html}"
        );
    }
    let calls_before_views = account.double.calls();
    for _ in 0..20 {
        operator.get(&format!("/server/{host_id}")).await.text().await.unwrap();
    }
    assert!(
        account.double.calls() - calls_before_views <= 1,
        "20 page views cost {} API calls",
        account.double.calls() - calls_before_views
    );

    // Reboot: a job that follows the event; a second power action meanwhile is refused.
    let started = operator
        .post_form(
            "/api/linode/power",
            &[("host_id", &host_id), ("action", "linode.reboot")],
        )
        .await;
    assert!(started.status().is_success());
    let job: i64 = started.text().await.unwrap().trim().parse().unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let second = operator
        .post_form("/api/linode/power", &[("host_id", &host_id), ("action", "linode.boot")])
        .await;
    assert_eq!(error_of(second).await, app::errors::AppError::HostBusy { job });
    let during = operator.get(&format!("/server/{host_id}")).await.text().await.unwrap();
    assert!(
        during.contains("redémarrage en cours"),
        "the state read by the job shows: {during}"
    );
    let done = finished(&app, job).await;
    assert_eq!(done.status, JobStatus::Succeeded, "{:?}", done.failure);
    let output = output_of(&app, job).await;
    let percents: Vec<i64> = output
        .iter()
        .filter_map(|line| line.rsplit_once(" · ")?.1.strip_suffix(" %")?.parse().ok())
        .collect();
    assert!(percents.len() >= 3, "{output:?}");
    assert!(percents.windows(2).all(|w| w[0] <= w[1]), "{percents:?}");
    assert_eq!(percents.last(), Some(&100));
    assert!(output.iter().any(|line| line == "state: rebooting"), "{output:?}");
    assert_eq!(output.last().map(String::as_str), Some("state: running"), "{output:?}");
    assert_eq!(account.double.status_of(PROD), Some("running"));
    let job_page = operator.get(&format!("/jobs/{job}")).await.text().await.unwrap();
    assert!(
        job_page.contains("redémarrage du Linode") && job_page.contains("100 %"),
        "{job_page}"
    );

    // A viewer sees the state, and no button.
    app.viewer(&admin).await;
    let viewer = app.browser();
    viewer.sign_in(VIEWER, VIEWER_PASSWORD).await;
    let html = viewer.get(&format!("/server/{host_id}")).await.text().await.unwrap();
    assert!(
        html.contains("ocpizza-prod") && !html.contains("id=\"linode-reboot\""),
        "{html}"
    );
    let refused = viewer
        .post_form(
            "/api/linode/power",
            &[("host_id", &host_id), ("action", "linode.reboot")],
        )
        .await;
    assert_eq!(refused.status(), 403);

    assert_eq!(
        app.audit_count("linode.reboot", "success").await,
        2,
        "started and finished"
    );
    assert_eq!(app.audit_count("linode.boot", "denied").await, 1);
    assert_eq!(app.audit_count("linode.link", "success").await, 1);
    every_answer_keeps_to_the_contract(&account.double.served(), 10);
}

/// The alerts of the rule "Linode not running", once evaluated (the site's
/// own rules may fire too: the staging site is shared, and another test may
/// have NGINX stopped at that moment).
async fn linode_alerts(app: &TestApp) -> Vec<domain::alerts::AlertRecord> {
    app.console.alerts.evaluate().await.unwrap();
    let mut history = app.console.alerts.history().await.unwrap();
    history.retain(|alert| alert.kind == domain::alerts::AlertKind::LinodeNotRunning);
    history
}

#[sqlx::test(migrations = "../migrations")]
async fn a_shutdown_is_refused_while_a_backup_runs_and_otherwise_leaves_the_linode_offline(pool: PgPool) {
    let account = account().await;
    let app = console_on(pool.clone(), &account).await;
    let admin = app.admin().await;
    let host = register(&app, &admin, KeyChoice::paste(private_key())).await;
    let host_id = host.id.to_string();
    let browser = admin_with_prod_linked(&app, &account, &host_id).await;

    // A backup under way on the host (its job row, as a running backup leaves it).
    let backup_job: i64 = sqlx::query_scalar(
        "INSERT INTO jobs (host_id, action, mutating, command_line, actor, status, runner, started_at)
         VALUES ($1, 'backup.run', true, 'pg_dump', 'admin.test', 'running', 1, now()) RETURNING id",
    )
    .bind(host.id)
    .fetch_one(&pool)
    .await
    .unwrap();
    let refused = browser
        .post_form(
            "/api/linode/power",
            &[("host_id", &host_id), ("action", "linode.shutdown")],
        )
        .await;
    assert_eq!(
        error_of(refused).await,
        app::errors::AppError::Invalid {
            field: "linode".into(),
            message: "error-linode-shutdown-during-backup".into()
        }
    );
    assert_eq!(
        account.double.status_of(PROD),
        Some("running"),
        "nothing asked of the API"
    );
    assert_eq!(app.audit_count("linode.shutdown", "denied").await, 1);
    sqlx::query("UPDATE jobs SET status = 'succeeded', finished_at = now() WHERE id = $1")
        .bind(backup_job)
        .execute(&pool)
        .await
        .unwrap();

    let started = browser
        .post_form(
            "/api/linode/power",
            &[("host_id", &host_id), ("action", "linode.shutdown")],
        )
        .await;
    let job: i64 = started.text().await.unwrap().trim().parse().unwrap();
    let done = finished(&app, job).await;
    assert_eq!(done.status, JobStatus::Succeeded, "{:?}", done.failure);
    assert_eq!(account.double.status_of(PROD), Some("offline"));
    let page = browser.get(&format!("/server/{host_id}")).await.text().await.unwrap();
    assert!(page.contains("éteint"), "{page}");

    // Offline once the action ended: the rule "Linode not running" holds
    // (it did not while the action ran: a planned shutdown is its own job).
    let history = linode_alerts(&app).await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].kind, domain::alerts::AlertKind::LinodeNotRunning);
    assert!(history[0].is_open());
    assert_eq!(history[0].details["status"], "offline");

    // An action the API refuses fails the job with the API's words.
    account.double.inject(&[server::linode_double::Fault::ServerError; 5]);
    let started = browser
        .post_form("/api/linode/power", &[("host_id", &host_id), ("action", "linode.boot")])
        .await;
    let job: i64 = started.text().await.unwrap().trim().parse().unwrap();
    let failed = finished(&app, job).await;
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(failed.failure.as_ref().map(|f| f.code()), Some("linode-unavailable"));
    let history = linode_alerts(&app).await;
    assert!(
        history.len() == 1 && history[0].is_open(),
        "still offline, still the one alert"
    );

    let job_page = browser.get(&format!("/jobs/{job}")).await.text().await.unwrap();
    assert!(
        job_page.contains("l&#x27;API Linode n&#x27;a pas pu être utilisée")
            || job_page.contains("l'API Linode n'a pas pu être utilisée"),
        "{job_page}"
    );
    // Booted: running again, the alert resolves (by this evaluation or the
    // console's own): one alert through the failed boot, not two.
    let started = browser
        .post_form("/api/linode/power", &[("host_id", &host_id), ("action", "linode.boot")])
        .await;
    let job: i64 = started.text().await.unwrap().trim().parse().unwrap();
    assert_eq!(finished(&app, job).await.status, JobStatus::Succeeded);
    let history = linode_alerts(&app).await;
    assert_eq!(history.len(), 1, "{history:?}");
    assert!(!history[0].is_open());
    every_answer_keeps_to_the_contract(&account.double.served(), 6);
}

#[sqlx::test(migrations = "../migrations")]
async fn linode_backups_are_enabled_by_an_admin_snapshotted_and_restored_after_the_label_is_typed(pool: PgPool) {
    let account = account().await;
    let app = console_on(pool.clone(), &account).await;
    let admin = app.admin().await;
    app.operator(&admin).await;
    let host = register(&app, &admin, KeyChoice::paste(private_key())).await;
    let host_id = host.id.to_string();
    let browser = admin_with_prod_linked(&app, &account, &host_id).await;
    let operator = app.browser();
    operator.sign_in(OPERATOR, OPERATOR_PASSWORD).await;
    let list = |who: &'static str| {
        let browser = if who == "admin" { &browser } else { &operator };
        let host_id = host_id.clone();
        async move {
            let answer = browser.post_form("/api/linode/backups", &[("host_id", &host_id)]).await;
            let view: Option<app::linode_api::LinodeBackupsView> = answer.json().await.unwrap();
            view.expect("a linked host has a backups view")
        }
    };
    let job_of = |response: reqwest::Response| async move {
        let text = response.text().await.unwrap();
        text.trim()
            .parse::<i64>()
            .unwrap_or_else(|_| panic!("not a job: {text}"))
    };

    // The service is off: enabling it is for admins (it is billed).
    let page = operator.get(&format!("/server/{host_id}")).await.text().await.unwrap();
    assert!(
        page.contains("service de sauvegarde Linode n&#x27;est pas activé")
            || page.contains("service de sauvegarde Linode n'est pas activé"),
        "{page}"
    );
    let forbidden = operator
        .post_form("/api/linode/backups/enable", &[("host_id", &host_id)])
        .await;
    assert_eq!(forbidden.status(), 403);
    let job = job_of(
        browser
            .post_form("/api/linode/backups/enable", &[("host_id", &host_id)])
            .await,
    )
    .await;
    assert_eq!(finished(&app, job).await.status, JobStatus::Succeeded);

    // A snapshot's label: empty or too long is refused, nothing asked of the API.
    let calls = account.double.calls();
    for label in [String::new(), "x".repeat(256), "deux\nlignes".into()] {
        let refused = operator
            .post_form(
                "/api/linode/backups/snapshot",
                &[("host_id", &host_id), ("label", &label)],
            )
            .await;
        assert_eq!(
            error_of(refused).await,
            app::errors::AppError::Invalid {
                field: "label".into(),
                message: "error-linode-snapshot-label".into()
            }
        );
    }
    assert_eq!(account.double.calls(), calls);

    // Two snapshots: the single slot keeps the newest.
    for label in ["avant-migration", "apres-migration"] {
        let job = job_of(
            operator
                .post_form(
                    "/api/linode/backups/snapshot",
                    &[("host_id", &host_id), ("label", label)],
                )
                .await,
        )
        .await;
        let done = finished(&app, job).await;
        assert_eq!(done.status, JobStatus::Succeeded, "{:?}", done.failure);
        let output = output_of(&app, job).await;
        assert!(
            output.iter().any(|l| l.contains("linode_snapshot: finished · 100 %")),
            "{output:?}"
        );
        let view = list("operator").await;
        let current = view.current.expect("the snapshot slot");
        assert_eq!((current.label.as_str(), current.status.as_str()), (label, "successful"));
        assert_eq!(view.in_progress, None);
    }
    let page = operator.get(&format!("/server/{host_id}")).await.text().await.unwrap();
    assert!(
        page.contains("apres-migration") && !page.contains("avant-migration"),
        "{page}"
    );
    let snapshot = list("admin").await.current.unwrap();

    // Restore: the instance's label must be typed; a wrong one changes nothing.
    let refused = operator
        .post_form(
            "/api/linode/backups/restore",
            &[
                ("host_id", &host_id),
                ("backup_id", &snapshot.id.to_string()),
                ("label_confirmation", "ocpizza-staging"),
            ],
        )
        .await;
    assert_eq!(
        error_of(refused).await,
        app::errors::AppError::Invalid {
            field: "confirmation".into(),
            message: "error-linode-restore-confirmation".into()
        }
    );
    assert_eq!(account.double.status_of(PROD), Some("running"));
    let job = job_of(
        operator
            .post_form(
                "/api/linode/backups/restore",
                &[
                    ("host_id", &host_id),
                    ("backup_id", &snapshot.id.to_string()),
                    ("label_confirmation", "ocpizza-prod"),
                ],
            )
            .await,
    )
    .await;
    let done = finished(&app, job).await;
    assert_eq!(done.status, JobStatus::Succeeded, "{:?}", done.failure);
    let output = output_of(&app, job).await;
    for step in [
        "linode_shutdown: finished · 100 %",
        "backups_restore: finished · 100 %",
        "linode_boot: finished · 100 %",
    ] {
        assert!(output.iter().any(|l| l.ends_with(step)), "{step} missing: {output:?}");
    }
    assert_eq!(output.last().map(String::as_str), Some("state: running"), "{output:?}");
    assert_eq!(account.double.status_of(PROD), Some("running"));

    for (action, count) in [
        ("linode.backups_enable", 2),
        ("linode.snapshot", 4),
        ("linode.restore", 2),
    ] {
        assert_eq!(app.audit_count(action, "success").await, count, "{action}");
    }
    every_answer_keeps_to_the_contract(&account.double.served(), 20);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_host_page_draws_the_last_days_graphs_from_one_reading_every_five_minutes(pool: PgPool) {
    let account = account().await;
    const NEW: i64 = 4343;
    account.double.add_instance(NEW, "ocpizza-neuve", "running");
    account.double.without_graphs(NEW);
    let app = console_on(pool.clone(), &account).await;
    let admin = app.admin().await;
    let host = register(&app, &admin, KeyChoice::paste(private_key())).await;
    let host_id = host.id.to_string();
    let admin_browser = admin_with_prod_linked(&app, &account, &host_id).await;
    app.viewer(&admin).await;
    let viewer = app.browser();
    viewer.sign_in(VIEWER, VIEWER_PASSWORD).await;

    // The page as the server sends it (no script run): three charts drawn
    // in SVG, each named and described, with their axes' units.
    let page = format!("/server/{host_id}");
    let html = viewer.get(&page).await.text().await.unwrap();
    for (id, title) in [
        ("linode-graph-cpu", "Processeur"),
        ("linode-graph-network", "Réseau public (IPv4 et IPv6)"),
        ("linode-graph-io", "Entrées/sorties disque"),
    ] {
        assert!(
            html.contains(&format!("<figure id=\"{id}\" class=\"chart\">")),
            "{id}: {html}"
        );
        assert!(
            html.contains(&format!(
                "aria-labelledby=\"{id}-title\" aria-describedby=\"{id}-desc\""
            )),
            "{id}"
        );
        assert!(
            html.contains(&format!("<title id=\"{id}-title\">{title}</title>")),
            "{id}"
        );
    }
    assert!(html.contains("Processeur (100 % = un cœur) : moyenne "), "{html}");
    assert!(html.contains("Entrant : moyenne ") && html.contains("Sortant : moyenne "));
    for unit in ["\u{a0}%</text>", "bit/s</text>", "blocs/s</text>", "12:00</text>"] {
        assert!(html.contains(unit), "an axis labelled {unit:?}");
    }
    assert_eq!(html.matches("<polyline").count(), 4, "CPU, in, out, disk");

    // Every 5-minute average of the day is drawn.
    let section = viewer.post_form("/api/linode/section", &[("host_id", &host_id)]).await;
    let section: app::linode_api::LinodeSectionView = section.json().await.unwrap();
    let graphs = section.graphs.expect("graphs for a linked instance");
    assert_eq!(graphs.error, None);
    let points: Vec<usize> = graphs
        .charts
        .iter()
        .flat_map(|chart| chart.lines.iter().map(|line| line.points.split(' ').count()))
        .collect();
    assert_eq!(points, vec![288; 4]);
    assert!(graphs.charts[0].lines[0].peak > 20.0, "the lunch and dinner peaks");

    // However many views, the API is asked for them once (its granularity
    // is 5 minutes, and stats are limited to 50 calls a minute).
    for _ in 0..30 {
        viewer.get(&page).await.text().await.unwrap();
    }
    let stats_calls =
        |served: &[server::linode_double::Served]| served.iter().filter(|s| s.operation == "get-linode-stats").count();
    assert_eq!(stats_calls(&account.double.served()), 1);

    // A new instance has none yet: the page says so, in words.
    admin_browser
        .post_form("/api/linode/link", &[("host_id", &host_id), ("linode_id", "4343")])
        .await;
    let section = viewer.post_form("/api/linode/section", &[("host_id", &host_id)]).await;
    let section: app::linode_api::LinodeSectionView = section.json().await.unwrap();
    let graphs = section.graphs.expect("graphs for a linked instance");
    assert!(graphs.charts.is_empty());
    assert_eq!(
        graphs.error.expect("why there are none").message_key(),
        "error-linode-stats-not-ready"
    );
    every_answer_keeps_to_the_contract(&account.double.served(), 5);
}
