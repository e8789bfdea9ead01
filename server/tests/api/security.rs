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
async fn hsts_and_secure_cookies_when_served_over_https(pool: PgPool) {
    let app = spawn_app_with(pool, &["--public-url", "https://console.ocpizza.test"]).await;
    app.admin().await;
    let browser = app.browser();
    let response = browser
        .client
        .post(browser.url("/sign-in"))
        .header("origin", "https://console.ocpizza.test")
        .form(&[("username", ADMIN), ("password", ADMIN_PASSWORD), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("strict-transport-security").is_some());
    let cookie = set_cookie(&response);
    assert!(cookie.contains("secure"), "{cookie}");
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

#[sqlx::test(migrations = "../migrations")]
async fn healthz_and_metrics_report_the_database_and_sign_in_failures(pool: PgPool) {
    let app = spawn_app(pool).await;
    let browser = app.browser();
    browser.sign_in("nobody", "nothing at all").await;
    let health: serde_json::Value = browser.get("/healthz").await.json().await.unwrap();
    assert_eq!(health["database"], true);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    let metrics = browser.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("http_requests_total"), "{metrics}");
    assert!(metrics.contains("http_request_duration_seconds"));
    assert!(metrics.contains("sign_in_failures_total"));
}
