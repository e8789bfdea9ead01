//! The audit log: append-only, chained, filtered, exported.

use sqlx::PgPool;

use crate::helpers::*;
use domain::audit::{AuditFilter, BrokenLink, ChainStatus};

#[sqlx::test(migrations = "../migrations")]
async fn the_database_refuses_update_delete_and_truncate_on_the_audit_log(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.admin().await;
    for statement in [
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let error = sqlx::query(statement).execute(&app.pool).await.expect_err(statement);
        assert!(error.to_string().contains("append-only"), "{statement}: {error}");
    }
    assert_eq!(app.audit_rows().await.len(), 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_row_altered_behind_the_triggers_is_named_by_verify_audit(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let admin = app.admin().await;
    app.operator(&admin).await;
    let browser = app.browser();
    browser.sign_in(OPERATOR, OPERATOR_PASSWORD).await;
    assert_eq!(
        app.console.audit.verify().await.unwrap(),
        ChainStatus::Intact { rows: 3 }
    );

    let target: i64 = sqlx::query_scalar("SELECT id FROM audit_log WHERE action = 'account.create' AND target = $1")
        .bind(OPERATOR)
        .fetch_one(&pool)
        .await
        .unwrap();
    behind_the_triggers(
        &pool,
        "UPDATE audit_log SET details = '{\"role\":\"viewer\"}' WHERE id = $1",
        target,
    )
    .await;

    assert_eq!(
        app.console.audit.verify().await.unwrap(),
        ChainStatus::Broken {
            id: target,
            reason: BrokenLink::ContentAltered
        }
    );

    // The sub-command says the same, and fails.
    let database = pool.connect_options().get_database().unwrap().to_owned();
    let base = std::env::var("DATABASE_URL").unwrap();
    let url = format!("{}/{database}", base.rsplit_once('/').unwrap().0);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ocpizza-console"))
        .args(["verify-audit"])
        .env("DATABASE_URL", url)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains(&format!("BROKEN at row {target}")), "{stdout}");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_deleted_row_breaks_the_chain_at_its_successor(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let admin = app.admin().await;
    app.operator(&admin).await;
    app.browser().sign_in(OPERATOR, OPERATOR_PASSWORD).await;
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM audit_log ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    behind_the_triggers(&pool, "DELETE FROM audit_log WHERE id = $1", ids[1]).await;
    assert_eq!(
        app.console.audit.verify().await.unwrap(),
        ChainStatus::Broken {
            id: ids[2],
            reason: BrokenLink::ChainMismatch
        }
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_audit_page_filters_and_the_csv_export_hold_the_same_rows(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    app.operator(&admin).await;
    let browser = app.browser();
    browser.sign_in(OPERATOR, OPERATOR_PASSWORD).await;
    browser.sign_in(OPERATOR, "a wrong password here").await;
    browser.sign_in(ADMIN, ADMIN_PASSWORD).await;

    let filter = AuditFilter {
        actor: Some(OPERATOR.into()),
        ..Default::default()
    };
    let page = app.console.audit.page(&filter, None, 50).await.unwrap();
    assert_eq!(page.records.len(), 1, "only the operator's own sign-in");

    let csv = browser.get("/audit/export.csv?actor=operateur").await;
    assert_eq!(csv.status(), 200);
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let body = csv.text().await.unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(
        lines[0],
        "id,at,actor,action,target,outcome,details,client_address,request_id"
    );
    assert_eq!(lines.len(), 1 + page.records.len(), "{body}");
    assert!(lines[1].starts_with(&format!("{},", page.records[0].id)));

    let text = app
        .console
        .audit
        .page(
            &AuditFilter {
                text: Some("wrong username".into()),
                ..Default::default()
            },
            None,
            50,
        )
        .await
        .unwrap();
    assert_eq!(text.records.len(), 1);
    assert_eq!(text.records[0].outcome, "failure");
}

#[sqlx::test(migrations = "../migrations")]
async fn keyset_pages_walk_the_whole_log_newest_first_without_repeats(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.admin().await;
    let browser = app.browser();
    for _ in 0..7 {
        browser.sign_in("someone", "wrong password!!").await;
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = app.console.audit.page(&AuditFilter::default(), after, 3).await.unwrap();
        seen.extend(page.records.iter().map(|r| r.id));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let mut expected = seen.clone();
    expected.sort_unstable_by(|a, b| b.cmp(a));
    expected.dedup();
    assert_eq!(seen, expected);
    assert_eq!(seen.len(), 8);
}

#[sqlx::test(migrations = "../migrations")]
async fn account_changes_are_audited_with_the_acting_admin(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    let operator = app.operator(&admin).await;
    let provenance = Default::default();
    app.console
        .accounts
        .set_enabled(&admin, &provenance, operator.id, false)
        .await
        .unwrap();
    app.console
        .accounts
        .set_enabled(&admin, &provenance, operator.id, true)
        .await
        .unwrap();
    app.console
        .accounts
        .reset_password(&admin, &provenance, operator.id, "une toute nouvelle phrase")
        .await
        .unwrap();
    let rows = app.audit_rows().await;
    let actions: Vec<(&str, &str)> = rows.iter().map(|r| (r.0.as_str(), r.1.as_str())).collect();
    assert_eq!(
        actions,
        [
            ("system", "account.create"),
            (ADMIN, "account.create"),
            (ADMIN, "account.disable"),
            (ADMIN, "account.enable"),
            (ADMIN, "account.password_reset"),
        ]
    );
    // Details never hold the password.
    let details: Vec<String> = sqlx::query_scalar("SELECT details::text FROM audit_log")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert!(details
        .iter()
        .all(|d| !d.contains("nouvelle") && !d.contains(OPERATOR_PASSWORD)));
}
