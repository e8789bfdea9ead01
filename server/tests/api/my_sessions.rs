//! "Mes sessions": an account sees its open sessions (started, last seen,
//! address, browser) and ends any of them; an admin ends all of an
//! account's. Each end takes effect at the session's very next request and
//! is audited.

use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::*;

async fn sessions_of(browser: &Browser) -> Vec<Value> {
    let answer = browser.post_form("/api/sessions/mine", &[]).await;
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

/// Whether `browser` is still signed in (a page, not the sign-in redirect).
async fn signed_in(browser: &Browser) -> bool {
    let page = browser.get("/account").await;
    match page.status().as_u16() {
        200 => true,
        303 | 302 => {
            assert!(location(&page).starts_with("/sign-in"));
            false
        }
        other => panic!("unexpected {other}"),
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn an_account_lists_its_sessions_and_ends_one_an_admin_ends_them_all(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    let operator = app.operator(&admin).await;
    let laptop = app.browser_named("Firefox on the laptop");
    let phone = app.browser_named("Safari sur le téléphone");
    for browser in [&laptop, &phone] {
        assert_eq!(browser.sign_in(OPERATOR, OPERATOR_PASSWORD).await.status(), 303);
    }

    // Both listed, the asker's marked, with where and with what.
    let listed = sessions_of(&laptop).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    let mine = listed
        .iter()
        .find(|s| s["current"] == true)
        .expect("the asker's session");
    assert_eq!(mine["agent"], "Firefox on the laptop");
    assert_eq!(mine["address"], "127.0.0.1");
    let other = listed.iter().find(|s| s["current"] == false).unwrap();
    assert_eq!(other["agent"], "Safari sur le téléphone");
    let page = laptop.get("/account").await.text().await.unwrap();
    assert!(page.contains("Safari sur le téléphone"), "the page lists them");

    // Someone else cannot end it (not found), the account can: at once.
    let intruder = app.browser();
    app.viewer(&admin).await;
    intruder.sign_in(VIEWER, VIEWER_PASSWORD).await;
    let refused = intruder
        .post_form("/api/sessions/end", &[("session_id", &other["id"].to_string())])
        .await;
    assert_eq!(refused.status(), 404);
    assert!(signed_in(&phone).await);
    let ended = laptop
        .post_form("/api/sessions/end", &[("session_id", &other["id"].to_string())])
        .await;
    assert_eq!(ended.status(), 200);
    assert!(!signed_in(&phone).await, "ended at its next request");
    assert!(signed_in(&laptop).await);
    assert_eq!(sessions_of(&laptop).await.len(), 1);
    assert_eq!(app.audit_count("session.end", "success").await, 1);

    // Signed out: no longer listed.
    phone.sign_in(OPERATOR, OPERATOR_PASSWORD).await;
    assert_eq!(sessions_of(&laptop).await.len(), 2);
    phone.post_form("/sign-out", &[]).await;
    assert_eq!(sessions_of(&laptop).await.len(), 1);

    // An admin ends all of the account's sessions; only admins may.
    phone.sign_in(OPERATOR, OPERATOR_PASSWORD).await;
    let account = operator.id.to_string();
    let refused = laptop
        .post_form("/api/sessions/end-all", &[("account_id", &account)])
        .await;
    assert_eq!(refused.status(), 403);
    let admin_browser = app.browser();
    admin_browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let all = admin_browser
        .post_form("/api/sessions/end-all", &[("account_id", &account)])
        .await;
    assert_eq!(all.status(), 200);
    assert_eq!(all.json::<usize>().await.unwrap(), 2);
    assert!(!signed_in(&laptop).await && !signed_in(&phone).await);
    assert!(signed_in(&admin_browser).await);
    let (details,): (Value,) =
        sqlx::query_as("SELECT details FROM audit_log WHERE action = 'session.end_all' AND target = $1")
            .bind(OPERATOR)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(details["sessions"], 2);
    // No session id anywhere but the session table.
    let ids: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM open_sessions o JOIN tower_sessions.session s ON o.session_digest = s.id",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(ids, 0);
}
