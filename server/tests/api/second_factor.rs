//! The second factor at sign-in (TOTP, RFC 6238): an account enrols from
//! its page, signs in with a code after its password, a code is accepted
//! once, a recovery code once; wrong codes feed the throttle; turning it
//! off takes the password and a code. Admins require it of admins (or of
//! everyone): such an account without one is sent to enrol first, on every
//! console process. All of it audited.

use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::*;

/// The secret an enrolment shows (base32 in groups of four), as bytes.
fn secret_bytes(shown: &str) -> Vec<u8> {
    data_encoding::BASE32_NOPAD
        .decode(shown.replace(' ', "").as_bytes())
        .expect("the secret is base32")
}

/// The current time step.
fn now() -> i64 {
    domain::totp::step_at(time::OffsetDateTime::now_utc().unix_timestamp())
}

/// The code of `secret` at time step `step`, as an app shows it.
fn code_at(secret: &[u8], step: i64) -> String {
    format!("{:06}", domain::totp::code_at(secret, step))
}

/// The code of `secret` at `steps` steps from now.
fn code(secret: &[u8], steps: i64) -> String {
    code_at(secret, now() + steps)
}

/// A six-digit code none of the steps around now has.
fn wrong_code(secret: &[u8]) -> String {
    let near: Vec<String> = (-3..=3).map(|s| code(secret, s)).collect();
    (0..1_000_000)
        .map(|n| format!("{n:06}"))
        .find(|c| !near.contains(c))
        .unwrap()
}

async fn app_error(response: reqwest::Response) -> app::errors::AppError {
    let body = response.text().await.unwrap();
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn invalid(field: &str, message: &str) -> app::errors::AppError {
    app::errors::AppError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Enrols the account `browser` is signed in as; its secret and its
/// recovery codes. The code used to confirm is the current step's.
async fn enrol(browser: &Browser) -> (Vec<u8>, Vec<String>) {
    let begun = browser.post_form("/api/second-factor/begin", &[]).await;
    assert_eq!(begun.status(), 200);
    let begun: Value = begun.json().await.unwrap();
    assert!(begun["qr_svg"].as_str().unwrap().contains("<svg"));
    let secret = secret_bytes(begun["secret"].as_str().unwrap());
    let confirmed = browser
        .post_form("/api/second-factor/confirm", &[("code", &code(&secret, 0))])
        .await;
    assert_eq!(confirmed.status(), 200);
    let codes: Vec<String> = confirmed.json().await.unwrap();
    (secret, codes)
}

/// Where a sign-in with a code ends: `Ok(location)` when signed in,
/// `Err(the error named in the redirect)` otherwise.
async fn code_step(browser: &Browser, code: &str) -> Result<String, String> {
    let answer = browser
        .post_form("/sign-in/code", &[("code", code), ("next", "/audit")])
        .await;
    assert_eq!(answer.status(), 303);
    let to = location(&answer);
    match to.split_once("error=") {
        Some((_, rest)) => Err(rest.split('&').next().unwrap().to_owned()),
        None => Ok(to),
    }
}

/// A browser past the password step of `username`.
async fn at_code_step(app: &TestApp, username: &str, password: &str) -> Browser {
    let browser = app.browser();
    let answer = browser.sign_in(username, password).await;
    assert_eq!(location(&answer), "/sign-in/code?next=%2F");
    browser
}

async fn status_of(browser: &Browser) -> Value {
    let answer = browser.post_form("/api/second-factor/status", &[]).await;
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn an_account_enrols_then_signs_in_with_a_code_accepted_once_and_a_recovery_code_once(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    app.operator(&admin).await;
    let browser = app.browser();
    browser.sign_in(OPERATOR, OPERATOR_PASSWORD).await;

    // Begun: the page shows the QR code (drawn on the server, named) and
    // the secret in text until a first code confirms it.
    let begun: Value = browser
        .post_form("/api/second-factor/begin", &[])
        .await
        .json()
        .await
        .unwrap();
    let shown = begun["secret"].as_str().unwrap().to_owned();
    let secret = secret_bytes(&shown);
    assert_eq!(secret.len(), 20, "160 bits");
    let page = browser.get("/account").await.text().await.unwrap();
    assert!(
        page.contains(&shown) && page.contains("<svg") && page.contains("role=\"img\""),
        "{page}"
    );
    assert!(status_of(&browser).await["enrolled_at"].is_null());
    // Sealed in the secret store: its bytes nowhere in clear.
    let sealed: Vec<Vec<u8>> = sqlx::query_scalar("SELECT sealed FROM secrets WHERE purpose = 'second-factor'")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(sealed.len(), 1);
    assert!(!sealed[0].windows(secret.len()).any(|w| w == secret.as_slice()));

    // A wrong first code confirms nothing.
    let refused = browser
        .post_form("/api/second-factor/confirm", &[("code", &wrong_code(&secret))])
        .await;
    assert_eq!(
        app_error(refused).await,
        invalid("code", "error-second-factor-code-wrong")
    );
    assert_eq!(app.audit_count("second_factor.enrol", "failure").await, 1);
    // Steps counted from the one confirmed with (the test must not depend
    // on when a 30-second step ends).
    let confirmed_at = now();
    let confirmed = browser
        .post_form(
            "/api/second-factor/confirm",
            &[("code", &code_at(&secret, confirmed_at))],
        )
        .await;
    assert_eq!(confirmed.status(), 200);
    let recovery: Vec<String> = confirmed.json().await.unwrap();
    assert_eq!(recovery.len(), 10);
    assert!(
        recovery.iter().all(|c| c.len() == 19 && c.matches('-').count() == 3),
        "{recovery:?}"
    );
    assert_eq!(app.audit_count("second_factor.enrol", "success").await, 1);
    let status = status_of(&browser).await;
    assert!(
        status["enrolled_at"].is_string() && status["recovery_left"] == 10,
        "{status}"
    );
    // The recovery codes are kept as digests only.
    let digests: Vec<Vec<u8>> = sqlx::query_scalar("SELECT code_digest FROM recovery_codes")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert!(digests.iter().all(|d| d.len() == 32));

    // The password alone no longer signs in: the code is asked, and no
    // page answers meanwhile.
    let next_browser = at_code_step(&app, OPERATOR, OPERATOR_PASSWORD).await;
    assert!(location(&next_browser.get("/audit").await).starts_with("/sign-in"));
    assert_eq!(
        app.audit_count("session.sign_in", "success").await,
        1,
        "not signed in yet: only the sign-in before enrolling"
    );
    // The code used to confirm is spent; the next step's is accepted.
    assert_eq!(
        code_step(&next_browser, &code_at(&secret, confirmed_at)).await,
        Err("error-second-factor-code-used".into())
    );
    let next_code = code_at(&secret, confirmed_at + 1);
    assert_eq!(code_step(&next_browser, &next_code).await, Ok("/audit".into()));
    assert_eq!(next_browser.get("/audit").await.status(), 200);
    let signed_in: Value = sqlx::query_scalar(
        "SELECT details FROM audit_log WHERE action = 'session.sign_in' AND outcome = 'success'
         ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(signed_in["second_factor"], "totp");

    // Replayed from another browser, within its window: refused, audited.
    let thief = at_code_step(&app, OPERATOR, OPERATOR_PASSWORD).await;
    assert_eq!(
        code_step(&thief, &next_code).await,
        Err("error-second-factor-code-used".into())
    );
    assert_eq!(app.audit_count("second_factor.refused", "failure").await, 2);
    assert!(location(&thief.get("/audit").await).starts_with("/sign-in"));

    // A recovery code, typed as people type: once.
    let typed = recovery[3].to_uppercase().replace('-', " ");
    let phone_lost = at_code_step(&app, OPERATOR, OPERATOR_PASSWORD).await;
    assert_eq!(code_step(&phone_lost, &typed).await, Ok("/audit".into()));
    assert_eq!(app.audit_count("second_factor.recovery_used", "success").await, 1);
    assert_eq!(status_of(&phone_lost).await["recovery_left"], 9);
    let again = at_code_step(&app, OPERATOR, OPERATOR_PASSWORD).await;
    assert_eq!(
        code_step(&again, &recovery[3]).await,
        Err("error-second-factor-code-wrong".into())
    );

    // A code without the password step first: back to the password.
    let stranger = app.browser();
    assert_eq!(
        code_step(&stranger, &code(&secret, 0)).await,
        Err("error-second-factor-expired".into())
    );

    // Turned off with the password and a code: both checked.
    let off = |password: &str, code: &str| {
        let (password, code) = (password.to_owned(), code.to_owned());
        let browser = &browser;
        async move {
            browser
                .post_form(
                    "/api/second-factor/disable",
                    &[("current_password", &password), ("code", &code)],
                )
                .await
        }
    };
    assert_eq!(
        app_error(off("pas le bon", &recovery[0]).await).await,
        invalid("current_password", "error-current-password-wrong")
    );
    assert_eq!(
        app_error(off(OPERATOR_PASSWORD, &wrong_code(&secret)).await).await,
        invalid("code", "error-second-factor-code-wrong")
    );
    assert_eq!(off(OPERATOR_PASSWORD, &recovery[0]).await.status(), 200);
    assert_eq!(app.audit_count("second_factor.disable", "failure").await, 2);
    assert_eq!(app.audit_count("second_factor.disable", "success").await, 1);
    let secrets: i64 = sqlx::query_scalar("SELECT count(*) FROM secrets WHERE purpose = 'second-factor'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(secrets, 0, "its secret is gone with it");
    assert_eq!(location(&app.browser().sign_in(OPERATOR, OPERATOR_PASSWORD).await), "/");
}

#[sqlx::test(migrations = "../migrations")]
async fn wrong_codes_feed_the_sign_in_throttle_and_a_right_password_does_not_reset_it(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    app.operator(&admin).await;
    let browser = app.browser();
    browser.sign_in(OPERATOR, OPERATOR_PASSWORD).await;
    let (secret, _) = enrol(&browser).await;
    let wrong = wrong_code(&secret);

    // Each wrong code counts; going back through the (right) password
    // between them does not wipe the count.
    for attempt in 1..=4 {
        let guesser = at_code_step(&app, OPERATOR, OPERATOR_PASSWORD).await;
        assert_eq!(
            code_step(&guesser, &wrong).await,
            Err("error-second-factor-code-wrong".into()),
            "attempt {attempt}"
        );
    }
    let guesser = at_code_step(&app, OPERATOR, OPERATOR_PASSWORD).await;
    assert_eq!(
        code_step(&guesser, &wrong).await,
        Err("error-second-factor-code-wrong".into())
    );
    // The fifth failure earned a wait: even the right code waits.
    assert_eq!(code_step(&guesser, &code(&secret, 1)).await, Err("throttled".into()));
    let failures: i32 = sqlx::query_scalar("SELECT failures FROM sign_in_failures WHERE subject = $1")
        .bind(format!("account:{OPERATOR}"))
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(failures, 5);
    assert_eq!(app.audit_count("second_factor.refused", "failure").await, 5);

    // Once the wait is over, the right code signs in and the count is gone.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(code_step(&guesser, &code(&secret, 1)).await, Ok("/audit".into()));
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM sign_in_failures WHERE subject = $1")
        .bind(format!("account:{OPERATOR}"))
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

/// Whether `browser`'s home page is served, or it is sent to enrol.
async fn sent_to_enrol(browser: &Browser) -> bool {
    let home = browser.get("/").await;
    match home.status().as_u16() {
        200 => false,
        303 => {
            assert_eq!(location(&home), "/second-factor");
            true
        }
        other => panic!("unexpected {other}"),
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn an_account_the_admins_require_a_second_factor_of_is_sent_to_enrol_first_on_every_process(pool: PgPool) {
    let first = spawn_app(pool).await;
    let second = spawn_app_beside(&first).await;
    let admin = first.admin().await;
    let operator = first.operator(&admin).await;
    let admin_browser = first.browser();
    admin_browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let operator_browser = second.browser();
    operator_browser.sign_in(OPERATOR, OPERATOR_PASSWORD).await;

    // Only an admin chooses; the choice is audited.
    let refused = operator_browser
        .post_form("/api/accounts/second-factor-policy", &[("policy", "everyone")])
        .await;
    assert_eq!(refused.status(), 403);
    let chosen = admin_browser
        .post_form("/api/accounts/second-factor-policy", &[("policy", "admins")])
        .await;
    assert_eq!(chosen.status(), 200);
    assert_eq!(
        chosen.headers().get("location").map(|l| l.to_str().unwrap()),
        Some("/second-factor"),
        "the page goes to the enrolment (with or without JavaScript)"
    );
    assert!(
        chosen.json::<bool>().await.unwrap(),
        "the admin, who has none, must enrol now"
    );
    assert_eq!(first.audit_count("second_factor.policy", "success").await, 1);
    let unknown = admin_browser
        .post_form("/api/accounts/second-factor-policy", &[("policy", "all")])
        .await;
    assert!(!unknown.status().is_success());
    let policy: String = sqlx::query_scalar("SELECT required_for FROM second_factor_policy")
        .fetch_one(&first.pool)
        .await
        .unwrap();
    assert_eq!(policy, "admins", "an unknown choice changes nothing");

    // The admin, who has none, is sent to enrol; nothing else answers it.
    assert!(sent_to_enrol(&admin_browser).await);
    assert_eq!(admin_browser.get("/second-factor").await.status(), 200);
    assert_eq!(admin_browser.post_form("/api/accounts/list", &[]).await.status(), 403);
    assert_eq!(status_of(&admin_browser).await["required"], true);
    // The operator is not concerned.
    assert!(!sent_to_enrol(&operator_browser).await);

    // Enrolled: the console answers it again at once.
    enrol(&admin_browser).await;
    assert!(!sent_to_enrol(&admin_browser).await);

    // Required of everyone, from the first process: the operator, on the
    // second, is sent to enrol as soon as that process hears of it.
    admin_browser
        .post_form("/api/accounts/second-factor-policy", &[("policy", "everyone")])
        .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !sent_to_enrol(&operator_browser).await {
        assert!(
            Instant::now() < deadline,
            "the second process never heard of the choice"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // It enrols on the second process; the first knows at once too.
    enrol(&operator_browser).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let overview: Value = admin_browser
            .post_form("/api/accounts/second-factors", &[])
            .await
            .json()
            .await
            .unwrap();
        if overview["enrolled"].as_array().unwrap().len() == 2 {
            assert_eq!(overview["policy"], "everyone");
            break;
        }
        assert!(Instant::now() < deadline, "{overview}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A lost phone: an admin removes it (audited); the account signs in
    // with its password and is sent to enrol again.
    let reset = admin_browser
        .post_form(
            "/api/accounts/second-factor-reset",
            &[("account_id", &operator.id.to_string())],
        )
        .await;
    assert_eq!(reset.status(), 200);
    assert_eq!(first.audit_count("second_factor.reset", "success").await, 1);
    let again = second.browser();
    assert_eq!(location(&again.sign_in(OPERATOR, OPERATOR_PASSWORD).await), "/");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !sent_to_enrol(&again).await {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
