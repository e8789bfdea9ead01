//! Supervision (manual §8): a host's site probed on its schedule against a
//! real HTTP server of the test's own (so that the tests which stop the
//! staging host's NGINX do not change what it finds): up, then down for
//! each reason, each slot probed once however many console processes
//! look, the settings refused when wrong and reserved to admins, and what
//! the Supervision page, the home page and `/metrics` then show; the web
//! services the app needs, checked from the staging host and the console.

use axum::routing::get;
use domain::error::DomainError;
use domain::hosts::KeyChoice;
use domain::probes::{ProbeFailure, ProbeSettings, ProbeUrl, SiteProbes};
use sqlx::PgPool;

use crate::helpers::*;
use crate::hosts::{private_key, register, register_on, staging};

const METRICS_TOKEN: &str = "a metrics token of at least thirty-two characters";

/// The consoles' own schedulers look once at start, then sleep an hour:
/// the tests run the passes themselves.
const QUIET: &[&str] = &["--scheduler-seconds", "3600"];

/// A site on a loopback port: `/` answers 200 with a French greeting,
/// `/lent` answers after two seconds, anything else 404.
async fn own_site() -> String {
    let router = axum::Router::new()
        .route("/", get(|| async { "Bienvenue chez OC Pizza" }))
        .route(
            "/lent",
            get(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                "enfin"
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}/")
}

/// The staging host registered, its site URL set to a site of the test's own.
async fn host_with_own_site(app: &TestApp, admin: &domain::accounts::Operator) -> (domain::hosts::Host, String) {
    let host = register(app, admin, KeyChoice::paste(private_key())).await;
    let site = own_site().await;
    sqlx::query("UPDATE hosts SET site_url = $2 WHERE id = $1")
        .bind(host.id)
        .bind(&site)
        .execute(&app.pool)
        .await
        .unwrap();
    (host, site)
}

/// How many results the host's site has.
async fn results(app: &TestApp, host_id: i64) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM probe_results WHERE host_id = $1")
        .bind(host_id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// Saves `settings` as the admin, then runs a pass of the probes (the
/// saved settings are due at once).
async fn probed_with(app: &TestApp, admin: &domain::accounts::Operator, host_id: i64, settings: ProbeSettings) {
    app.console
        .probes
        .save_settings(admin, &Default::default(), host_id, settings)
        .await
        .unwrap();
    app.console.probes.run_due().await.unwrap();
}

#[sqlx::test(migrations = "../migrations")]
async fn a_site_is_probed_on_its_schedule_found_up_or_down_and_shown(pool: PgPool) {
    let app = spawn_app_with(pool, &["--metrics-token", METRICS_TOKEN, "--scheduler-seconds", "3600"]).await;
    let admin = app.admin().await;
    let (host, site) = host_with_own_site(&app, &admin).await;

    // Every host is probed as soon as the probes look, then every minute.
    let next = app.console.probes.run_due().await.unwrap().unwrap();
    assert!(next > time::OffsetDateTime::now_utc() + time::Duration::seconds(50));
    let health = app.console.probes.health(host.id).await.unwrap();
    let last = health.last.clone().unwrap();
    assert!(last.up, "{last:?}");
    assert_eq!(last.status, Some(200));
    assert_eq!(health.uptime.day, Some(100.0));
    assert_eq!(health.uptime.month, Some(100.0));
    app.console.probes.run_due().await.unwrap();
    assert_eq!(results(&app, host.id).await, 1, "not due again before its interval");

    // Text expected and missing; another status; nothing listening; too slow.
    let expecting = |text: Option<&str>, url: Option<String>, status: u16, timeout_ms: u64| ProbeSettings {
        url: url.map(|u| ProbeUrl::parse(&u).unwrap()),
        expected_status: status,
        expected_text: text.map(str::to_owned),
        timeout: std::time::Duration::from_millis(timeout_ms),
        ..ProbeSettings::default()
    };
    probed_with(
        &app,
        &admin,
        host.id,
        expecting(Some("Pizzeria fermée"), None, 200, 5000),
    )
    .await;
    let failure = |health: &domain::probes::SiteHealth| health.last.as_ref().unwrap().failure;
    let health = app.console.probes.health(host.id).await.unwrap();
    assert_eq!(failure(&health), Some(ProbeFailure::TextMissing));
    probed_with(
        &app,
        &admin,
        host.id,
        expecting(None, Some(format!("{site}carte")), 200, 5000),
    )
    .await;
    let health = app.console.probes.health(host.id).await.unwrap();
    assert_eq!(failure(&health), Some(ProbeFailure::WrongStatus));
    assert_eq!(health.last.as_ref().unwrap().status, Some(404));
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    probed_with(
        &app,
        &admin,
        host.id,
        expecting(None, Some(format!("http://{closed}/")), 200, 5000),
    )
    .await;
    let health = app.console.probes.health(host.id).await.unwrap();
    assert_eq!(failure(&health), Some(ProbeFailure::NoConnection));
    probed_with(
        &app,
        &admin,
        host.id,
        expecting(Some("enfin"), Some(format!("{site}lent")), 200, 300),
    )
    .await;
    let health = app.console.probes.health(host.id).await.unwrap();
    assert_eq!(failure(&health), Some(ProbeFailure::Timeout));
    assert_eq!(health.down_in_a_row, 4);
    assert_eq!(health.uptime.day, Some(20.0), "1 probe up of 5");
    assert_eq!(health.history.len(), 5);

    // The Supervision page says it in French, with the chart and uptime.
    let browser = app.browser();
    browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let page = browser.get("/monitoring").await.text().await.unwrap();
    assert!(page.contains("Hors ligne"), "{page}");
    assert!(page.contains("Pas de réponse dans le délai."), "{page}");
    assert!(page.contains("4 sondes de suite"), "{page}");
    assert!(page.contains("20\u{a0}% sur 24 h"), "{page}");
    assert!(page.contains("Temps de réponse du site sur 24 heures"), "{page}");
    assert!(page.contains("<polyline"), "the chart is drawn by the server");
    // The home page has the site's line; /metrics has its gauges.
    let home = browser.get("/").await.text().await.unwrap();
    assert!(home.contains("id=\"dashboard-sites\""), "{home}");
    assert!(home.contains("Hors ligne"), "{home}");
    let scrape = browser.metrics(METRICS_TOKEN).await;
    assert!(scrape.contains("ocpizza_site_up{host=\"staging\"} 0"), "{scrape}");
    assert!(
        scrape.contains("ocpizza_site_latency_seconds{host=\"staging\"}"),
        "{scrape}"
    );

    // Back to the defaults: up again.
    probed_with(&app, &admin, host.id, ProbeSettings::default()).await;
    let health = app.console.probes.health(host.id).await.unwrap();
    assert!(health.last.unwrap().up);
    assert_eq!(health.down_in_a_row, 0);
    assert_eq!(app.audit_count("probe.settings", "success").await, 5);
}

#[sqlx::test(migrations = "../migrations")]
async fn each_slot_is_probed_once_however_many_console_processes_look(pool: PgPool) {
    let app = spawn_app_with(pool.clone(), QUIET).await;
    // Started before the host exists: its scheduler's first look finds none.
    let other = spawn_app_beside_with(&app, QUIET).await;
    let admin = app.admin().await;
    let (host, _) = host_with_own_site(&app, &admin).await;
    let third = SiteProbes::new(pool, app.console.hosts.clone(), &[]);
    for round in 1..=3 {
        sqlx::query("UPDATE site_probes SET next_at = now()")
            .execute(&app.pool)
            .await
            .unwrap();
        let (a, b, c) = tokio::join!(
            app.console.probes.run_due(),
            other.console.probes.run_due(),
            third.run_due()
        );
        a.unwrap();
        b.unwrap();
        c.unwrap();
        assert_eq!(results(&app, host.id).await, round, "one result per slot");
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn wrong_probe_settings_are_refused_and_only_admins_change_them(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    let operator = app.operator(&admin).await;
    let host = register(&app, &admin, KeyChoice::paste(private_key())).await;
    let saved = |by: domain::accounts::Operator, settings: ProbeSettings| {
        let probes = app.console.probes.clone();
        async move { probes.save_settings(&by, &Default::default(), host.id, settings).await }
    };
    let field = |result: domain::error::Result<()>| match result {
        Err(DomainError::Invalid(invalid)) => invalid.field,
        other => panic!("refused by field, not {other:?}"),
    };
    let too_slow = ProbeSettings {
        timeout: std::time::Duration::from_secs(61),
        ..ProbeSettings::default()
    };
    assert_eq!(field(saved(admin.clone(), too_slow).await), "timeout_ms");
    let often = ProbeSettings {
        interval: std::time::Duration::from_secs(5),
        ..ProbeSettings::default()
    };
    assert_eq!(field(saved(admin.clone(), often).await), "interval_s");
    let status = ProbeSettings {
        expected_status: 42,
        ..ProbeSettings::default()
    };
    assert_eq!(field(saved(admin.clone(), status).await), "expected_status");
    let two_lines = ProbeSettings {
        expected_text: Some("une\nautre".into()),
        ..ProbeSettings::default()
    };
    assert_eq!(field(saved(admin.clone(), two_lines).await), "expected_text");
    assert!(ProbeUrl::parse("ftp://exemple.fr/").is_err());
    assert!(matches!(
        saved(operator, ProbeSettings::default()).await,
        Err(DomainError::Forbidden)
    ));
    assert_eq!(app.audit_count("probe.settings", "denied").await, 1);
    assert_eq!(app.audit_count("probe.settings", "success").await, 0);
    assert_eq!(
        app.console.probes.settings(host.id).await.unwrap(),
        ProbeSettings::default(),
        "nothing changed"
    );

    // The form as the page posts it: a bad URL is refused by field (400).
    let browser = app.browser();
    browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let host_id = host.id.to_string();
    let refused = browser
        .post_form(
            "/api/monitoring/settings",
            &[
                ("host_id", host_id.as_str()),
                ("settings[url]", "pas une adresse"),
                ("settings[expected_status]", "200"),
                ("settings[expected_text]", ""),
                ("settings[timeout_ms]", "5000"),
                ("settings[interval_s]", "60"),
                ("settings[enabled]", "on"),
            ],
        )
        .await;
    assert_eq!(refused.status(), 400);
    let accepted = browser
        .post_form(
            "/api/monitoring/settings",
            &[
                ("host_id", host_id.as_str()),
                ("settings[url]", ""),
                ("settings[expected_status]", "200"),
                ("settings[expected_text]", "OC Pizza"),
                ("settings[timeout_ms]", "2000"),
                ("settings[interval_s]", "30"),
            ],
        )
        .await;
    assert_eq!(accepted.status(), 200, "{}", accepted.text().await.unwrap());
    let now = app.console.probes.settings(host.id).await.unwrap();
    assert_eq!(now.expected_text.as_deref(), Some("OC Pizza"));
    assert_eq!(now.interval, std::time::Duration::from_secs(30));
    assert!(!now.enabled, "an unticked box turns the probe off");
    assert_eq!(now.changed.unwrap().0, ADMIN);
}

#[sqlx::test(migrations = "../migrations")]
async fn web_services_are_checked_from_the_host_and_the_console_and_an_unreachable_one_raises_its_alert(pool: PgPool) {
    let app = spawn_app_with(pool, QUIET).await;
    let admin = app.admin().await;
    let operator = app.operator(&admin).await;
    let host = register(&app, &admin, KeyChoice::paste(private_key())).await;
    let probes = &app.console.probes;
    let from = Default::default();
    let reachable = own_site().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    probes
        .add_web_service(&admin, &from, "Local", &reachable)
        .await
        .unwrap();
    let shut = probes
        .add_web_service(&admin, &from, "Fermé", &format!("http://{closed}/"))
        .await
        .unwrap();
    // Refused: a URL that is not http(s), a name taken, an operator.
    let field = |result: domain::error::Result<i64>| match result {
        Err(DomainError::Invalid(invalid) | DomainError::Conflict(invalid)) => invalid.field,
        other => panic!("refused by field, not {other:?}"),
    };
    assert_eq!(
        field(probes.add_web_service(&admin, &from, "FTP", "ftp://x/").await),
        "url"
    );
    assert_eq!(
        field(probes.add_web_service(&admin, &from, "Local", &reachable).await),
        "name"
    );
    assert!(matches!(
        probes.add_web_service(&operator, &from, "Autre", &reachable).await,
        Err(DomainError::Forbidden)
    ));
    assert_eq!(app.audit_count("web_service.add", "success").await, 2);
    assert_eq!(app.audit_count("web_service.add", "denied").await, 1);

    probes.run_due_web_services().await.unwrap();
    let services = probes.web_services().await.unwrap();
    let named = |name: &str| services.iter().find(|(s, _)| s.name == name).unwrap().clone();
    // The manual's two are listed, off until an admin turns them on: never
    // checked here (nothing leaves this machine).
    for name in ["Google Maps", "PayPal"] {
        let (service, checks) = named(name);
        assert!(!service.enabled && checks.is_empty(), "{name}");
    }
    let (_, local) = named("Local");
    assert_eq!(local.len(), 2, "from the console and from the host: {local:?}");
    assert!(local.iter().all(|c| c.reachable && c.status == Some(200)), "{local:?}");
    assert!(local.iter().any(|c| c.host_id == Some(host.id)));
    let (_, fermé) = named("Fermé");
    assert_eq!(fermé.len(), 2);
    for check in &fermé {
        assert!(!check.reachable);
        assert_eq!(check.failure, Some(ProbeFailure::NoConnection), "{check:?}");
        assert_eq!(check.last_failure.map(|(f, _)| f), Some(ProbeFailure::NoConnection));
    }
    assert!(
        fermé.iter().any(|c| c.host_id == Some(host.id)),
        "checked from the host too"
    );

    // Unreachable from the host: its alert opens; turned off, it resolves.
    let changes = app.console.alerts.evaluate().await.unwrap();
    assert_eq!(
        changes.opened,
        [(host.id, domain::alerts::AlertKind::WebServiceUnreachable)]
    );
    assert_eq!(
        app.console.alerts.history().await.unwrap()[0].details["services"],
        "Fermé"
    );

    // The Supervision page says it, in French.
    let browser = app.browser();
    browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let page = browser.get("/monitoring").await.text().await.unwrap();
    assert!(page.contains("Services web"), "{page}");
    assert!(
        page.contains("injoignable — Aucune connexion possible au site."),
        "{page}"
    );
    assert!(page.contains("Depuis staging"), "{page}");
    // The home page counts it, beside each host's newest deploy.
    let home = browser.get("/").await.text().await.unwrap();
    assert!(home.contains("1 alerte ouverte"), "{home}");
    assert!(home.contains("aucun déploiement depuis la console"), "{home}");

    probes.switch_web_service(&admin, &from, shut, false).await.unwrap();
    assert_eq!(app.audit_count("web_service.disable", "success").await, 1);
    let changes = app.console.alerts.evaluate().await.unwrap();
    assert_eq!(
        changes.resolved,
        [(host.id, domain::alerts::AlertKind::WebServiceUnreachable)]
    );
}

/// The next `changed` event of a home page's live stream: what changed.
async fn next_change(stream: &mut reqwest::Response, buffer: &mut String) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            if let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) {
                assert!(event.contains("event: changed"), "{event}");
                return data.to_owned();
            }
            continue;
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let chunk = tokio::time::timeout(left, stream.chunk())
            .await
            .expect("an event in time")
            .unwrap()
            .expect("the stream goes on");
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn the_home_page_is_told_of_each_change_by_any_process_and_no_longer_once_signed_out(pool: PgPool) {
    let app = spawn_app_with(pool, QUIET).await;
    let other = spawn_app_beside_with(&app, QUIET).await;
    let admin = app.admin().await;
    let (host, _) = host_with_own_site(&app, &admin).await;
    let viewer = app.viewer(&admin).await;
    let browser = app.browser();
    browser.sign_in(viewer.username.as_str(), VIEWER_PASSWORD).await;

    let mut stream = browser.get("/events/home").await;
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let mut buffer = String::new();

    // A probe recorded by the other process: this one's page is told, and
    // what this one remembered of the sites (kept a few seconds) is
    // forgotten: the page read again shows the probe at once.
    let home_page = || async {
        let page: app::home_api::HomeCards = browser.post_form("/api/home/page", &[]).await.json().await.unwrap();
        page
    };
    let site_lines = || async { home_page().await.sites[0].state };
    assert_eq!(site_lines().await, app::monitoring_api::SiteState::Unknown);
    other.console.probes.probe_now(host.id).await.unwrap();
    assert_eq!(next_change(&mut stream, &mut buffer).await, "sites");
    assert_eq!(site_lines().await, app::monitoring_api::SiteState::Up);

    // A host registered by the other process: this one's page is told, and
    // what this one remembers of the hosts (kept until the hosts table
    // changes) is forgotten: every card read again lists it at once.
    let port: u16 = staging("STAGING_SSH_PORT").parse().unwrap();
    let command = staging("STAGING_SERVICE_COMMAND");
    let second = register_on(
        &other,
        &admin,
        "staging-2",
        port,
        &command,
        KeyChoice::paste(private_key()),
    )
    .await;
    next_change(&mut stream, &mut buffer).await;
    let page = home_page().await;
    let listed = |ids: Vec<i64>| assert_eq!(ids, [host.id, second.id], "{page:?}");
    listed(page.sites.iter().map(|s| s.host_id).collect());
    listed(page.services.iter().map(|s| s.host_id).collect());
    listed(page.deploys.iter().map(|d| d.0).collect());

    // A job run by the other process: told (its status, its audit record:
    // one event for changes that come together).
    let job = other
        .console
        .jobs
        .start_job(
            &admin,
            &Default::default(),
            host.id,
            domain::jobs::Runbook::CheckPrerequisites,
        )
        .await
        .unwrap();
    let first = next_change(&mut stream, &mut buffer).await;
    assert!(["jobs", "audit"].contains(&first.as_str()), "{first}");
    while !app.console.jobs.job(job).await.unwrap().status.finished() {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // The page's web and WSGI servers, from the host.
    let services = home_page().await.services;
    let states = services[0].states.as_ref().expect("the host answers");
    let units: Vec<&str> = states.iter().map(|s| s.unit.as_str()).collect();
    assert_eq!(units, ["nginx", "gunicorn"]);

    // Signed out: the stream ends.
    browser.post_form("/sign-out", &[]).await;
    let ended = tokio::time::timeout(std::time::Duration::from_secs(15), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(ended.is_ok(), "the stream ends with the session");
    let refused = app.browser().get("/events/home").await;
    assert_ne!(refused.status(), 200, "not signed in: no stream");
}
