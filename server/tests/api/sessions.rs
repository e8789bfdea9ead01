//! Sign-in, sessions and their end.

use sqlx::PgPool;

use crate::helpers::*;

#[sqlx::test(migrations = "../migrations")]
async fn a_wrong_password_and_an_unknown_user_get_the_same_answer(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.admin().await;
    let browser = app.browser();

    let wrong_password = browser.sign_in(ADMIN, "not the right password").await;
    let unknown_user = browser.sign_in("nobody.here", "not the right password").await;

    assert_eq!(wrong_password.status(), 303);
    assert_eq!(unknown_user.status(), 303);
    assert_eq!(location(&wrong_password), location(&unknown_user));
    assert!(location(&wrong_password).starts_with("/sign-in?error=credentials"));
    assert!(browser.session_cookie().is_none(), "a failed sign-in opens no session");
    assert_eq!(app.audit_count("session.sign_in", "failure").await, 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn signing_in_lands_on_the_dashboard_with_a_new_session_id(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.admin().await;
    let browser = app.browser();
    // A session id planted before sign-in (session fixation) must not survive it.
    browser.jar.add_cookie_str(
        "ocpizza_session=planted-by-someone-else",
        &browser.url("/").parse().unwrap(),
    );

    let response = browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/");
    let first = browser.session_cookie().expect("a session cookie");
    assert_ne!(first, "planted-by-someone-else");
    let cookie = set_cookie(&response);
    assert!(
        cookie.contains("httponly") && cookie.contains("samesite=strict"),
        "{cookie}"
    );

    let home = browser.get("/").await;
    assert_eq!(home.status(), 200);
    assert!(home.text().await.unwrap().contains(ADMIN));

    // Signing in again from the same browser rotates the id again.
    browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let second = browser.session_cookie().unwrap();
    assert_ne!(first, second);
    assert_eq!(app.audit_count("session.sign_in", "success").await, 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn pages_send_anyone_not_signed_in_to_the_sign_in_page(pool: PgPool) {
    let app = spawn_app(pool).await;
    let browser = app.browser();
    let response = browser.get("/audit?actor=x").await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/sign-in?next=%2Faudit%3Factor%3Dx");
    let sign_in = browser.get("/sign-in").await;
    assert_eq!(sign_in.status(), 200);
    let html = sign_in.text().await.unwrap();
    assert!(html.contains("<html lang=\"fr\""), "French by default");
    assert!(html.contains("Se connecter"));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_forged_session_cookie_is_treated_as_signed_out(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.admin().await;
    let browser = app.browser();
    browser.jar.add_cookie_str(
        "ocpizza_session=AAAAAAAAAAAAAAAAAAAAAA",
        &browser.url("/").parse().unwrap(),
    );
    let response = browser.get("/").await;
    assert_eq!(response.status(), 303);
    assert!(location(&response).starts_with("/sign-in"));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_disabled_accounts_open_session_is_refused_at_its_next_request(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    let operator = app.operator(&admin).await;
    let browser = app.browser();
    browser.sign_in(OPERATOR, OPERATOR_PASSWORD).await;
    assert_eq!(browser.get("/").await.status(), 200);

    app.console
        .accounts
        .set_enabled(&admin, &Default::default(), operator.id, false)
        .await
        .unwrap();

    let response = browser.get("/").await;
    assert_eq!(response.status(), 303);
    assert!(location(&response).starts_with("/sign-in"));
    assert_eq!(app.audit_count("session.expired", "success").await, 1);
    // And the account cannot sign in again.
    let again = browser.sign_in(OPERATOR, OPERATOR_PASSWORD).await;
    assert!(location(&again).starts_with("/sign-in?error=credentials"));
}

#[sqlx::test(migrations = "../migrations")]
async fn signing_out_ends_the_session_and_is_audited(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.admin().await;
    let browser = app.browser();
    browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let response = browser.post_form("/sign-out", &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(browser.get("/").await.status(), 303);
    assert_eq!(app.audit_count("session.sign_out", "success").await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn after_five_failures_even_the_right_password_waits(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.admin().await;
    let browser = app.browser();
    for _ in 0..5 {
        browser.sign_in(ADMIN, "wrong wrong wrong").await;
    }
    let response = browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    assert!(
        location(&response).starts_with("/sign-in?error=throttled&wait="),
        "{}",
        location(&response)
    );
    assert!(browser.session_cookie().is_none());
    assert_eq!(app.audit_count("session.sign_in", "denied").await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_language_switch_is_remembered_on_the_account(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.admin().await;
    let browser = app.browser();
    browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    browser
        .post_form("/language", &[("language", "en"), ("next", "/")])
        .await;

    // A fresh browser (no language cookie) gets English after signing in.
    let other = app.browser();
    other.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let html = other.get("/").await.text().await.unwrap();
    assert!(html.contains("<html lang=\"en\""));
    assert!(html.contains("Audit log"));
}
