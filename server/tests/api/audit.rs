//! The audit log: append-only, chained, filtered, exported.

use std::time::{Duration, Instant};

use futures::TryStreamExt;
use sqlx::PgPool;

use crate::helpers::*;
use domain::audit::{AuditFilter, BrokenLink, ChainStatus, Outcome, RecordContent};

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
    assert_eq!(app.audit_rows().await.len(), 2, "the chain's keying and the admin");
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
        ChainStatus::Intact { rows: 4 }
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
    let (code, stdout) = verify_audit_command(&app);
    assert_eq!(code, Some(2), "{stdout}");
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
    assert_eq!(text.records[0].outcome, Outcome::Failure);
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
            ("system", "audit.chain_keyed"),
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

#[sqlx::test(migrations = "../migrations")]
async fn the_consoles_own_role_cannot_rewrite_the_audit_log_nor_switch_its_triggers_off(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.admin().await;
    for statement in [
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
        "ALTER TABLE audit_log DISABLE TRIGGER ALL",
        "SET session_replication_role = replica",
        "UPDATE audit_chain SET chain_id = '\\x00'",
        "DELETE FROM audit_chain",
    ] {
        let error = sqlx::query(statement)
            .execute(&app.console_pool)
            .await
            .expect_err(statement);
        let text = error.to_string();
        assert!(
            text.contains("permission denied") || text.contains("must be owner"),
            "{statement}: {text}"
        );
    }
    assert!(!server::database_role::can_rewrite_the_audit_log(&app.console_pool)
        .await
        .unwrap());
    assert_eq!(app.audit_rows().await.len(), 2);
    // What it needs still works: the admin signs in through it.
    let response = app.browser().sign_in(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(location(&response), "/");
}

/// Runs `verify-audit` against the test database, with the app's data
/// directory and master key.
fn verify_audit_command(app: &TestApp) -> (Option<i32>, String) {
    let database = app.pool.connect_options().get_database().unwrap().to_owned();
    let base = std::env::var("DATABASE_URL").unwrap();
    let url = format!("{}/{database}", base.rsplit_once('/').unwrap().0);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ocpizza-console"))
        .args(["verify-audit", "--data-dir"])
        .arg(app.data_dir.path())
        .env("DATABASE_URL", url)
        .env("CONSOLE_MASTER_KEY", &app.master_key)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// The newest id signed in the app's checkpoint file (0 when none).
fn checkpointed_id(app: &TestApp) -> i64 {
    std::fs::read_to_string(app.data_dir.path().join("audit-checkpoints"))
        .unwrap_or_default()
        .lines()
        .last()
        .and_then(|line| line.split(' ').nth(3)?.parse().ok())
        .unwrap_or(0)
}

async fn newest_id(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT max(id) FROM audit_log")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Waits until the console has signed a checkpoint of the newest row.
async fn wait_for_checkpoint_of_the_head(app: &TestApp) -> i64 {
    let head = newest_id(&app.pool).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while checkpointed_id(app) != head {
        assert!(Instant::now() < deadline, "no checkpoint of row {head} within 20 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    head
}

/// The audit page's text, as an operator sees it.
async fn audit_page_text(browser: &Browser) -> String {
    let page = browser.get("/audit").await;
    assert_eq!(page.status(), 200);
    page.text().await.unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn the_newest_rows_deleted_by_a_superuser_are_found_against_the_signed_checkpoint(pool: PgPool) {
    let app = spawn_app_with(pool.clone(), &["--audit-checkpoint-seconds", "1"]).await;
    let admin = app.admin().await;
    app.operator(&admin).await;
    let browser = app.browser();
    browser.sign_in(OPERATOR, OPERATOR_PASSWORD).await;
    browser.sign_in("someone", "not the password").await;
    let head = wait_for_checkpoint_of_the_head(&app).await;
    assert!(audit_page_text(&browser).await.contains("Chaîne d'intégrité vérifiée"));

    // A superuser removes the two newest rows behind the triggers: what is
    // left is a chain that links up.
    let mut conn = pool.acquire().await.unwrap();
    for statement in [
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
        "DELETE FROM audit_log WHERE id > (SELECT max(id) - 2 FROM audit_log)",
        "ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only",
    ] {
        sqlx::query(statement).execute(&mut *conn).await.unwrap();
    }
    assert_eq!(newest_id(&pool).await, head - 2);

    let (code, stdout) = verify_audit_command(&app);
    assert_eq!(code, Some(2), "{stdout}");
    assert!(
        stdout.contains(&format!("BROKEN at row {head}: RowsMissing")),
        "{stdout}"
    );
    assert_eq!(
        app.console.audit.verify_recent().await.unwrap(),
        ChainStatus::Broken {
            id: head,
            reason: BrokenLink::RowsMissing
        }
    );
    let text = audit_page_text(&browser).await;
    assert!(text.contains("Chaîne d'intégrité ROMPUE"), "{text}");
    assert!(text.contains("a disparu"), "{text}");
}

#[sqlx::test(migrations = "../migrations")]
async fn rows_rewritten_with_recomputed_plain_sha256_hashes_are_found(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let admin = app.admin().await;
    app.operator(&admin).await;
    let browser = app.browser();
    browser.sign_in(OPERATOR, OPERATOR_PASSWORD).await;
    assert!(matches!(
        app.console.audit.verify().await.unwrap(),
        ChainStatus::Intact { .. }
    ));

    // The operator's creation rewritten as a viewer's, and every hash from
    // there recomputed with plain SHA-256, as the chain used to be.
    let target: i64 = sqlx::query_scalar("SELECT id FROM audit_log WHERE action = 'account.create' AND target = $1")
        .bind(OPERATOR)
        .fetch_one(&pool)
        .await
        .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_log SET details = '{\"role\":\"viewer\"}' WHERE id = $1")
        .bind(target)
        .execute(&mut *conn)
        .await
        .unwrap();
    let mut previous: Vec<u8> =
        sqlx::query_scalar("SELECT row_hash FROM audit_log WHERE id < $1 ORDER BY id DESC LIMIT 1")
            .bind(target)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM audit_log WHERE id >= $1 ORDER BY id")
        .bind(target)
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    for id in ids {
        let content: RecordContent = sqlx::query_as(
            "SELECT at, actor_id, actor, action, target, outcome, details, client_address, request_id
             FROM audit_log WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        let hash = content.chained_hash(&previous);
        sqlx::query("UPDATE audit_log SET previous_hash = $2, row_hash = $3, chain_version = 1 WHERE id = $1")
            .bind(id)
            .bind(&previous)
            .bind(hash.as_slice())
            .execute(&mut *conn)
            .await
            .unwrap();
        previous = hash.to_vec();
    }
    sqlx::query("SET session_replication_role = origin")
        .execute(&mut *conn)
        .await
        .unwrap();

    assert_eq!(
        app.console.audit.verify().await.unwrap(),
        ChainStatus::Broken {
            id: target,
            reason: BrokenLink::NotKeyed
        }
    );
    let (code, stdout) = verify_audit_command(&app);
    assert_eq!(code, Some(2), "{stdout}");
    assert!(stdout.contains(&format!("BROKEN at row {target}")), "{stdout}");
    let text = audit_page_text(&browser).await;
    assert!(text.contains("Chaîne d'intégrité ROMPUE"), "{text}");
}

#[sqlx::test(migrations = "../migrations")]
async fn two_hundred_cross_origin_posts_from_one_address_write_two_audit_rows_carrying_the_count(pool: PgPool) {
    let app = spawn_app(pool).await;
    let browser = app.browser();
    let started = Instant::now();
    for _ in 0..20 {
        let posts = (0..10).map(|_| {
            browser
                .client
                .post(browser.url("/language"))
                .header("origin", "http://evil.example")
                .form(&[("language", "en"), ("next", "/")])
                .send()
        });
        for response in futures::future::join_all(posts).await {
            assert_eq!(response.unwrap().status(), 403);
        }
    }
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
    assert_eq!(
        app.audit_count("request.cross_origin", "denied").await,
        1,
        "the repeats are only counted"
    );
    app.console.audit.flush_repeats(Duration::ZERO).await.unwrap();
    let counts: Vec<i64> = sqlx::query_scalar(
        "SELECT (details->>'count')::bigint FROM audit_log WHERE action = 'request.cross_origin' ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(counts, [1, 199]);
    assert!(matches!(
        app.console.audit.verify().await.unwrap(),
        ChainStatus::Intact { .. }
    ));
}

#[sqlx::test(migrations = "../migrations")]
async fn throttled_sign_ins_from_one_address_are_coalesced_with_their_count(pool: PgPool) {
    let app = spawn_app(pool).await;
    let browser = app.browser();
    let mut throttled = 0;
    for _ in 0..30 {
        let response = browser.sign_in("someone", "not the password").await;
        if location(&response).contains("error=throttled") {
            throttled += 1;
        }
    }
    assert!(throttled >= 20, "{throttled}");
    assert_eq!(app.audit_count("session.sign_in", "denied").await, 1);
    app.console.audit.flush_repeats(Duration::ZERO).await.unwrap();
    let total: i64 = sqlx::query_scalar(
        "SELECT sum((details->>'count')::bigint)::bigint FROM audit_log
         WHERE action = 'session.sign_in' AND outcome = 'denied'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(total, throttled);
    assert_eq!(app.audit_count("session.sign_in", "denied").await, 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_page_verifies_only_the_rows_after_the_newest_checkpoint_and_verify_audit_walks_them_all(pool: PgPool) {
    let app = spawn_app_with(pool.clone(), &["--audit-checkpoint-seconds", "1"]).await;
    let admin = app.admin().await;
    app.operator(&admin).await;
    wait_for_checkpoint_of_the_head(&app).await;
    app.browser().sign_in(OPERATOR, OPERATOR_PASSWORD).await;

    // An old row altered in place, its hash left as it was: only a full
    // walk reads it again.
    let old: i64 = sqlx::query_scalar("SELECT id FROM audit_log WHERE action = 'account.create' AND target = $1")
        .bind(OPERATOR)
        .fetch_one(&pool)
        .await
        .unwrap();
    behind_the_triggers(
        &pool,
        "UPDATE audit_log SET details = '{\"role\":\"admin\"}' WHERE id = $1",
        old,
    )
    .await;
    assert!(matches!(
        app.console.audit.verify_recent().await.unwrap(),
        ChainStatus::Intact { .. }
    ));
    assert_eq!(
        app.console.audit.verify().await.unwrap(),
        ChainStatus::Broken {
            id: old,
            reason: BrokenLink::ContentAltered
        }
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_console_signs_a_checkpoint_of_the_head_when_it_stops(pool: PgPool) {
    use std::io::{BufRead, BufReader};

    let data_dir = TempDataDir::new();
    let database = pool.connect_options().get_database().unwrap().to_owned();
    let base = std::env::var("DATABASE_URL").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ocpizza-console"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir.path())
        .args(["--audit-checkpoint-seconds", "3600"])
        .env(
            "DATABASE_URL",
            format!("{}/{database}", base.rsplit_once('/').unwrap().0),
        )
        .env(
            "CONSOLE_MASTER_KEY",
            domain::secrets::MasterKey::generate().encode().as_str(),
        )
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (sender, lines) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    // Waits until every needle has shown in a line; returns the last of them.
    let wait_for = |needles: &[&str]| {
        let mut missing: Vec<&str> = needles.to_vec();
        loop {
            let line = lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("no line with {missing:?}"));
            missing.retain(|needle| !line.contains(needle));
            if missing.is_empty() {
                return line;
            }
        }
    };
    wait_for(&["listening on", "audit checkpoint signed"]);
    // The checkpoint at start covers the chain's first row only.
    assert_eq!(checkpointed_file_id(data_dir.path()), newest_id(&pool).await);

    // A new row, then SIGTERM (the next interval is an hour away).
    let refused = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/language"))
        .header("origin", "http://evil.example")
        .form(&[("language", "en")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let head = newest_id(&pool).await;
    assert!(checkpointed_file_id(data_dir.path()) < head);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let signed = wait_for(&["audit checkpoint signed"]);
    assert!(signed.contains(&format!(" {head} ")), "{signed}");
    assert!(child.wait().unwrap().success());
    assert_eq!(checkpointed_file_id(data_dir.path()), head);
}

fn checkpointed_file_id(data_dir: &std::path::Path) -> i64 {
    std::fs::read_to_string(data_dir.join("audit-checkpoints"))
        .unwrap_or_default()
        .lines()
        .last()
        .and_then(|line| line.split(' ').nth(3)?.parse().ok())
        .unwrap_or(0)
}

#[sqlx::test(migrations = "../migrations")]
async fn the_csv_export_quotes_formulas_and_writes_times_as_the_page_reads_them(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.admin().await;
    let browser = app.browser();
    browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    domain::audit::AuditEntry::new(
        domain::audit::Actor::System,
        domain::audit::AuditAction::HostRegister,
        "=HYPERLINK(\"http://evil\")",
        Outcome::Failure,
    )
    .detail("note", "wrong username, retried at 12:00")
    .record_alone(&app.console_pool)
    .await
    .unwrap();
    let filter = AuditFilter {
        text: Some("Wrong user".into()),
        ..Default::default()
    };
    let page = app.console.audit.page(&filter, None, 50).await.unwrap();
    assert_eq!(page.records.len(), 1, "the typed words, the last one cut short");
    let record = &page.records[0];

    let csv = browser.get("/audit/export.csv?text=Wrong+user").await;
    assert_eq!(csv.status(), 200);
    let body = csv.text().await.unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 2, "the same row as the page: {body}");
    let at = record
        .at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    assert_eq!(
        lines[1],
        format!(
            "{},{at},system,host.register,\"'=HYPERLINK(\"\"http://evil\"\")\",failure,\
             \"{{\"\"note\"\": \"\"wrong username, retried at 12:00\"\"}}\",,",
            record.id
        )
    );

    for (typed, found) in [("sername", 0), ("username retried", 1), ("retried at 12", 1), ("@", 0)] {
        let filter = AuditFilter {
            text: Some(typed.into()),
            ..Default::default()
        };
        let page = app.console.audit.page(&filter, None, 50).await.unwrap();
        assert_eq!(page.records.len(), found, "{typed:?}");
    }
}

/// The export's CSV is written by the console from PostgreSQL's binary
/// rows (#8 item 7); it must stay byte for byte what PostgreSQL's own CSV
/// `COPY` of the same rows wrote before, whatever the cells hold.
#[sqlx::test(migrations = "../migrations")]
async fn the_csv_export_writes_every_kind_of_cell_as_postgresqls_csv_copy_did(pool: PgPool) {
    sqlx::query(
        r#"INSERT INTO audit_log (at, actor, action, target, outcome, details, client_address, request_id, previous_hash, row_hash)
           SELECT at::timestamptz, actor, 'host.register', target, 'success', details::jsonb, client_address, request_id, '\x00', '\x00'
           FROM (VALUES
             ('2026-11-25 18:04:08+00', '=cmd', '+1', '{}', NULL, NULL),
             ('2026-11-25 18:04:08.5+00', '-y', '@z', '{"a": "say \"hi\", then go"}', '', 'req-1'),
             ('2026-11-25 18:04:08.000001+00', E'\tz', E'\rz', '{"n": [1, 2.50, -3e2], "t": true, "z": null}', '10.0.0.1', ''),
             ('2026-11-25 18:04:08.123456+00', '', 'a,b', '{"é": "ünïcödé ✓", "ctl": "\u0001\n"}', '::1', 'r,2'),
             ('1999-12-31 23:59:59.999+00', 'quote"inside', E'line\nbreak', '{"k": {"nested": ["x"]}}', NULL, 'q"3'),
             ('0044-03-15 12:00:00+00 BC', 'plain', 'plain target', '{"big": 12345678901234567890}', NULL, NULL),
             ('10000-01-01 00:00:00+00', 'x', 'y', '{"s": "=1+2"}', NULL, NULL),
             ('infinity', 'x', 'y', '{}', NULL, NULL)
           ) AS cells (at, actor, target, details, client_address, request_id)"#,
    )
    .execute(&pool)
    .await
    .unwrap();
    let mut connection = pool.acquire().await.unwrap();
    sqlx::query("SET datestyle = 'ISO, YMD'")
        .execute(&mut *connection)
        .await
        .unwrap();
    let written_by_postgresql: Vec<u8> = connection
        .copy_out_raw(
            "COPY (SELECT id, replace((at AT TIME ZONE 'UTC')::text, ' ', 'T') || 'Z',
                    audit_spreadsheet_safe(actor), action, audit_spreadsheet_safe(target), outcome,
                    details::text, client_address, request_id
                FROM audit_log ORDER BY at DESC, id DESC) TO STDOUT WITH (FORMAT csv)",
        )
        .await
        .unwrap()
        .try_fold(Vec::new(), |mut all, message| async move {
            all.extend_from_slice(&message);
            Ok(all)
        })
        .await
        .unwrap();

    let exported: Vec<u8> = domain::audit::AuditLog::new(pool)
        .export_csv(AuditFilter::default())
        .try_concat()
        .await
        .unwrap();
    let exported = String::from_utf8(exported).unwrap();
    let (header, rows) = exported.split_once('\n').unwrap();
    assert_eq!(
        header,
        "id,at,actor,action,target,outcome,details,client_address,request_id"
    );
    assert_eq!(rows, String::from_utf8(written_by_postgresql).unwrap());
}
