//! Hostile and malformed input, headers, roles.

use sqlx::PgPool;

use crate::helpers::*;

#[sqlx::test(migrations = "../migrations")]
async fn hostile_usernames_are_refused_and_only_an_audit_record_is_stored(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.admin().await;
    let browser = app.browser();
    let huge = "x".repeat(1024 * 1024);
    for username in [
        huge.as_str(),
        "ad\0min",
        "' OR 1=1; DROP TABLE accounts; --",
        "admin\u{202e}",
    ] {
        let response = browser.sign_in(username, "whatever it is").await;
        assert_eq!(response.status(), 303, "a clear refusal, not an error page");
        assert!(location(&response).starts_with("/sign-in?error=credentials"));
    }
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(accounts, 1);
    assert_eq!(app.audit_count("session.sign_in", "failure").await, 4);
    let longest: i32 = sqlx::query_scalar("SELECT max(length(target)) FROM audit_log")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(longest <= 201, "audit targets are cut: {longest}");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_cross_origin_post_is_refused_and_audited(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.admin().await;
    let browser = app.browser();
    let response = browser
        .client
        .post(browser.url("/sign-in"))
        .header("origin", "http://evil.example")
        .form(&[("username", ADMIN), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(browser.session_cookie().is_none());
    assert_eq!(app.audit_count("request.cross_origin", "denied").await, 1);
    assert_eq!(app.audit_count("session.sign_in", "success").await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn every_page_carries_the_security_headers_and_its_scripts_the_csp_nonce(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app.browser().get("/sign-in").await;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let csp = header("content-security-policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src 'self'"));
    assert_eq!(header("referrer-policy"), "same-origin");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert!(
        header("strict-transport-security").is_empty(),
        "no HSTS over plain HTTP"
    );
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap()
        .to_owned();
    let html = response.text().await.unwrap();
    assert!(
        html.contains(&format!("nonce=\"{nonce}\"")),
        "the hydration script carries the nonce"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn hsts_and_a_host_only_secure_cookie_when_served_over_https(pool: PgPool) {
    let app = spawn_app_with(pool, &["--public-url", "https://console.ocpizza.test"]).await;
    app.admin().await;
    let browser = app.browser();
    let response = browser
        .client
        .post(browser.url("/sign-in"))
        .header("host", "console.ocpizza.test")
        .header("origin", "https://console.ocpizza.test")
        .form(&[("username", ADMIN), ("password", ADMIN_PASSWORD), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert!(response.headers().get("strict-transport-security").is_some());
    // `__Host-`: browsers keep it only if Secure, for the whole site and
    // without a Domain, so no sibling domain can plant or shadow it.
    let cookie = set_cookie(&response);
    assert!(cookie.starts_with("__host-ocpizza_session="), "{cookie}");
    assert!(cookie.contains("secure") && cookie.contains("path=/"), "{cookie}");
    assert!(!cookie.contains("domain="), "{cookie}");
}

#[sqlx::test(migrations = "../migrations")]
async fn over_plain_http_the_cookie_keeps_its_plain_name(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.admin().await;
    let response = app.browser().sign_in(ADMIN, ADMIN_PASSWORD).await;
    assert!(set_cookie(&response).starts_with("ocpizza_session="));
}

/// The argv of a console on `listen`, with what every test console needs.
fn console_args<'a>(listen: &'a str, key: &'a str, data_dir: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut argv = vec![
        "ocpizza-console",
        "--listen",
        listen,
        "--master-key",
        key,
        "--data-dir",
        data_dir,
    ];
    argv.extend_from_slice(extra);
    argv
}

async fn build(pool: &PgPool, argv: Vec<&str>) -> anyhow::Result<server::startup::Application> {
    use clap::Parser;
    let config = server::config::Config::parse_from(argv);
    let leptos = leptos::config::LeptosOptions::builder()
        .output_name("ocpizza-console")
        .build();
    let database = server::startup::Database {
        pool: pool.clone(),
        owner: None,
        embedded: None,
    };
    server::startup::Application::build_on(config, leptos, database).await
}

#[sqlx::test(migrations = "../migrations")]
async fn a_console_listening_beyond_loopback_needs_its_public_url(pool: PgPool) {
    let key = domain::secrets::MasterKey::generate().encode();
    let data_dir = TempDataDir::new();
    let data_dir = data_dir.path().to_str().unwrap();

    let refused = build(&pool, console_args("0.0.0.0:0", &key, data_dir, &[])).await;
    let message = format!("{:#}", refused.err().expect("the console refuses to start"));
    assert!(message.contains("CONSOLE_PUBLIC_URL"), "{message}");
    assert_eq!(message.lines().count(), 1, "{message}");

    let started = build(
        &pool,
        console_args(
            "0.0.0.0:0",
            &key,
            data_dir,
            &["--public-url", "https://console.ocpizza.test"],
        ),
    )
    .await;
    assert!(started.is_ok(), "{:#}", started.err().unwrap());
}

/// DNS rebinding: a page on another site whose name resolves to the
/// console sends the console that name as Host (and as Origin).
#[sqlx::test(migrations = "../migrations")]
async fn a_request_naming_another_host_is_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.admin().await;
    let browser = app.browser();
    let port = browser.url("").rsplit(':').next().unwrap().to_owned();
    let rebound = format!("evil.example:{port}");
    let page = browser
        .client
        .get(browser.url("/sign-in"))
        .header("host", &rebound)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 421);
    let post = browser
        .client
        .post(browser.url("/sign-in"))
        .header("host", &rebound)
        .header("origin", format!("http://{rebound}"))
        .form(&[("username", ADMIN), ("password", ADMIN_PASSWORD), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 421);
    assert!(browser.session_cookie().is_none());
    assert_eq!(app.audit_count("session.sign_in", "success").await, 0);
    // The loopback names of a console without a public URL are its own.
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        let page = browser
            .client
            .get(browser.url("/sign-in"))
            .header("host", &host)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "{host}");
    }
    // Probes answer whatever name the monitoring uses.
    let probe = browser
        .client
        .get(browser.url("/healthz"))
        .header("host", &rebound)
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), 200);
}

/// With a public URL, its host is the only one, and its origin the only
/// one a state-changing request may come from, whatever Host says.
#[sqlx::test(migrations = "../migrations")]
async fn with_a_public_url_the_host_and_origin_checks_use_it(pool: PgPool) {
    let app = spawn_app_with(pool, &["--public-url", "http://console.ocpizza.test:8080"]).await;
    app.admin().await;
    let browser = app.browser();
    // The request's own address is not the public one.
    assert_eq!(browser.get("/sign-in").await.status(), 421);
    let sign_in = |origin: &'static str| {
        browser
            .client
            .post(browser.url("/sign-in"))
            .header("host", "console.ocpizza.test:8080")
            .header("origin", origin)
            .form(&[("username", ADMIN), ("password", ADMIN_PASSWORD), ("next", "/")])
            .send()
    };
    assert_eq!(sign_in("http://console.ocpizza.test").await.unwrap().status(), 403);
    assert_eq!(
        sign_in("https://console.ocpizza.test:8080").await.unwrap().status(),
        403
    );
    let accepted = sign_in("http://console.ocpizza.test:8080").await.unwrap();
    assert_eq!(accepted.status(), 303);
    assert_eq!(location(&accepted), "/");
}

#[sqlx::test(migrations = "../migrations")]
async fn an_operator_is_refused_the_accounts_page_and_the_refusal_is_audited(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    app.operator(&admin).await;
    let browser = app.browser();
    browser.sign_in(OPERATOR, OPERATOR_PASSWORD).await;

    let response = browser.get("/accounts").await;
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("Accès refusé"));
    assert_eq!(app.audit_count("request.forbidden", "denied").await, 1);

    let server_fn = browser
        .client
        .post(browser.url("/api/accounts/create"))
        .header("origin", browser.url(""))
        .form(&[
            ("username", "intrus"),
            ("role", "admin"),
            ("password", "une longue phrase secrete"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(server_fn.status(), 403);
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(accounts, 2);
}

const METRICS_TOKEN: &str = "a metrics token of at least thirty-two characters";

#[sqlx::test(migrations = "../migrations")]
async fn healthz_and_metrics_report_the_database_and_sign_in_failures(pool: PgPool) {
    let app = spawn_app_with(pool, &["--metrics-token", METRICS_TOKEN]).await;
    let browser = app.browser();
    browser.sign_in("nobody", "nothing at all").await;
    let health: serde_json::Value = browser.get("/healthz").await.json().await.unwrap();
    assert_eq!(health["database"], true);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    let scrape = browser.get_bearing("/metrics", METRICS_TOKEN).await;
    assert_eq!(scrape.status(), 200);
    let metrics = scrape.text().await.unwrap();
    assert!(metrics.contains("http_requests_total"), "{metrics}");
    assert!(metrics.contains("http_request_duration_seconds"));
    assert!(metrics.contains("sign_in_failures_total"));
}

#[sqlx::test(migrations = "../migrations")]
async fn metrics_are_refused_without_the_token(pool: PgPool) {
    let app = spawn_app_with(pool, &["--metrics-token", METRICS_TOKEN]).await;
    let browser = app.browser();
    let anonymous = browser.get("/metrics").await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer realm=\"metrics\"");
    assert!(!anonymous.text().await.unwrap().contains("http_requests_total"));
    for wrong in ["not the token", &METRICS_TOKEN[1..], &format!("{METRICS_TOKEN}x")] {
        let response = browser.get_bearing("/metrics", wrong).await;
        assert_eq!(response.status(), 401, "{wrong}");
    }
    // A signed-in session is not a scraper either.
    app.admin().await;
    browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(browser.get("/metrics").await.status(), 401);
}

#[sqlx::test(migrations = "../migrations")]
async fn without_a_metrics_token_there_are_no_metrics(pool: PgPool) {
    let unconfigured = spawn_app(pool).await;
    let response = unconfigured.browser().get("/metrics").await;
    assert_eq!(response.status(), 404);
    let response = unconfigured.browser().get_bearing("/metrics", METRICS_TOKEN).await;
    assert_eq!(response.status(), 404);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_short_metrics_token_is_refused_at_start(pool: PgPool) {
    let key = domain::secrets::MasterKey::generate().encode();
    let data_dir = TempDataDir::new();
    let data_dir = data_dir.path().to_str().unwrap();
    let refused = build(
        &pool,
        console_args("127.0.0.1:0", &key, data_dir, &["--metrics-token", "short"]),
    )
    .await;
    let message = format!("{:#}", refused.err().expect("the console refuses to start"));
    assert!(message.contains("CONSOLE_METRICS_TOKEN"), "{message}");
}
