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

    // `app.console` is a handle of its own on the database, as another
    // console process would be: the app hears of the change by PostgreSQL's
    // announcement. (Through the app itself, the accounts page's own
    // process forgets the operator synchronously.)
    refused_soon(&browser).await;
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

/// The language switch and the sign-in form both take a `next` from the
/// page; `/<TAB>/evil.example` reads as `//evil.example` to a browser.
#[sqlx::test(migrations = "../migrations")]
async fn a_next_that_browsers_read_as_another_site_is_sent_home(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.admin().await;
    let browser = app.browser();
    let foreign = "/\t/evil.example";

    let language = browser
        .post_form("/language", &[("language", "en"), ("next", foreign)])
        .await;
    assert_eq!(language.status(), 303);
    assert_eq!(location(&language), "/");

    let wrong = browser
        .post_form(
            "/sign-in",
            &[
                ("username", ADMIN),
                ("password", "not the right one"),
                ("next", foreign),
            ],
        )
        .await;
    assert_eq!(location(&wrong), "/sign-in?error=credentials&next=%2F");

    let signed_in = browser
        .post_form(
            "/sign-in",
            &[("username", ADMIN), ("password", ADMIN_PASSWORD), ("next", foreign)],
        )
        .await;
    assert_eq!(signed_in.status(), 303);
    assert_eq!(location(&signed_in), "/");

    // A path on the console still comes back as it was.
    let local = browser
        .post_form("/language", &[("language", "fr"), ("next", "/audit?actor=x")])
        .await;
    assert_eq!(location(&local), "/audit?actor=x");
}

/// 50 wrong passwords sent at once for one account: the throttle counts each
/// before its password is checked, so at most five reach the check (each
/// one that does is audited as a failure; the others as throttled).
#[sqlx::test(migrations = "../migrations")]
async fn fifty_parallel_wrong_guesses_reach_the_password_check_at_most_five_times(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.admin().await;
    let browser = app.browser();
    let guesses = (0..50).map(|i| {
        let browser = &browser;
        async move {
            let guess = format!("wrong guess number {i}");
            location(&browser.sign_in(ADMIN, &guess).await)
        }
    });
    let answers = futures::future::join_all(guesses).await;

    let checked = answers
        .iter()
        .filter(|l| l.starts_with("/sign-in?error=credentials"))
        .count();
    let throttled = answers
        .iter()
        .filter(|l| l.starts_with("/sign-in?error=throttled"))
        .count();
    assert_eq!(checked + throttled, 50, "{answers:?}");
    assert!(
        (1..=5).contains(&checked),
        "{checked} guesses reached the password check"
    );
    let failures: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'session.sign_in' AND outcome = 'failure'
           AND details->>'reason' = 'wrong username or password'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(failures <= 5, "{failures} failures audited");
    // And the right password now waits too.
    let right = browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    assert!(
        location(&right).starts_with("/sign-in?error=throttled"),
        "{}",
        location(&right)
    );
}

/// The idle deadline the session store enforces (its row's expiry).
async fn session_expiry(pool: &PgPool) -> time::OffsetDateTime {
    sqlx::query_scalar("SELECT expiry_date FROM tower_sessions.session")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Moves every stored session's idle deadline `minutes` closer, as if the
/// operator had been idle that long.
async fn idle_for(pool: &PgPool, minutes: i32) {
    sqlx::query("UPDATE tower_sessions.session SET expiry_date = expiry_date - make_interval(mins => $1)")
        .bind(minutes)
        .execute(pool)
        .await
        .unwrap();
}

#[sqlx::test(migrations = "../migrations")]
async fn an_active_session_keeps_pushing_its_idle_deadline_back(pool: PgPool) {
    let app = spawn_app_with(pool, &["--session-refresh-seconds", "0"]).await;
    app.admin().await;
    let browser = app.browser();
    browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    // 25 of the 30 idle minutes gone: the next request pushes the deadline
    // back to 30 minutes from now, cookie included.
    idle_for(&app.pool, 25).await;
    let before = session_expiry(&app.pool).await;
    let response = browser.get("/").await;
    assert_eq!(response.status(), 200);
    let cookie = set_cookie(&response);
    assert!(cookie.contains("max-age=1800"), "{cookie}");
    let after = session_expiry(&app.pool).await;
    assert!(after - before >= time::Duration::minutes(24), "{before} -> {after}");
    assert!(after > time::OffsetDateTime::now_utc() + time::Duration::minutes(29));

    // Gone past its deadline, it ends.
    idle_for(&app.pool, 31).await;
    let response = browser.get("/").await;
    assert_eq!(response.status(), 303);
    assert!(location(&response).starts_with("/sign-in"));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_session_is_not_written_at_every_request(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.admin().await;
    let browser = app.browser();
    browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    idle_for(&app.pool, 5).await;
    let before = session_expiry(&app.pool).await;
    // Saved less than a minute ago (at sign-in): these leave the row alone.
    for _ in 0..3 {
        let response = browser.get("/").await;
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("set-cookie").is_none());
    }
    assert_eq!(session_expiry(&app.pool).await, before);
}

#[sqlx::test(migrations = "../migrations")]
async fn signed_in_pages_are_kept_out_of_caches(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.admin().await;
    let browser = app.browser();
    browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    for path in ["/", "/audit", "/account", "/audit/export.csv"] {
        let response = browser.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response.headers().get("cache-control").map(|v| v.to_str().unwrap()),
            Some("no-store"),
            "{path}"
        );
    }
    let server_fn = browser
        .client
        .post(browser.url("/api/me"))
        .header("origin", browser.url(""))
        .send()
        .await
        .unwrap();
    assert_eq!(server_fn.headers()["cache-control"], "no-store");
}

/// A running job with no runner behind it, written straight to the
/// database: the stream reads only the database.
async fn running_job(pool: &PgPool, actor: &domain::accounts::Operator) -> i64 {
    let secret: i64 =
        sqlx::query_scalar("INSERT INTO secrets (purpose, sealed) VALUES ('test:unused', '\\x00') RETURNING id")
            .fetch_one(pool)
            .await
            .unwrap();
    let host: i64 = sqlx::query_scalar(
        "INSERT INTO hosts (name, ssh_address, ssh_port, ssh_user, private_key_secret, public_key, host_key,
                            host_key_fingerprint, app_dir, web_service, wsgi_service, site_url)
         VALUES ('quiet', '127.0.0.1', 22, 'ocp', $1, 'ssh-ed25519 AAAA', 'ssh-ed25519 AAAA', 'SHA256:x',
                 '/srv/app', 'nginx', 'gunicorn', 'http://127.0.0.1/') RETURNING id",
    )
    .bind(secret)
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::query_scalar(
        "INSERT INTO jobs (host_id, action, mutating, command_line, actor_id, actor, status, started_at)
         VALUES ($1, 'webapp.check_prerequisites', false, 'true', $2, $3, 'running', now()) RETURNING id",
    )
    .bind(host)
    .bind(actor.id)
    .bind(actor.username.as_str())
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn print_line(pool: &PgPool, job: i64, seq: i64, line: &str) {
    // A chunk of one line, as the job's writer stores a line that came alone.
    sqlx::query(
        "INSERT INTO job_output_chunks (job_id, first_seq, line_count, stderr, lines) VALUES ($1, $2, 1, false, $3 || E'\\n')",
    )
        .bind(job)
        .bind(seq)
        .bind(line)
        .execute(pool)
        .await
        .unwrap();
}

/// Reads the event stream until `wanted` shows, returning what came.
async fn read_until(
    stream: &mut (impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    seen: &mut String,
    wanted: &str,
) {
    use futures::StreamExt;
    // One deadline for the whole wait: keep-alive comments must not extend it.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while !seen.contains(wanted) {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .unwrap_or_else(|_| panic!("no {wanted:?} within 20 s: {seen}"))
            .unwrap_or_else(|| panic!("the stream ended before {wanted:?}: {seen}"))
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

/// Reads the rest of the stream; it must end (the safety net is generous:
/// the assertion is that it ends, not how fast).
async fn read_to_end(stream: &mut (impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin)) -> String {
    use futures::StreamExt;
    let mut rest = String::new();
    let ended = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(chunk) => rest.push_str(&String::from_utf8_lossy(&chunk)),
                Err(_) => break,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream went on: {rest}");
    rest
}

#[sqlx::test(migrations = "../migrations")]
async fn the_live_job_stream_stops_at_sign_out(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    let job = running_job(&app.pool, &admin).await;
    let browser = app.browser();
    browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let response = browser.get(&format!("/jobs/{job}/events")).await;
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let mut seen = String::new();
    read_until(&mut stream, &mut seen, "\"status\":\"running\"").await;
    print_line(&app.pool, job, 1, "before sign-out").await;
    read_until(&mut stream, &mut seen, "before sign-out").await;

    browser.post_form("/sign-out", &[]).await;
    print_line(&app.pool, job, 2, "after sign-out").await;
    let rest = read_to_end(&mut stream).await;
    assert!(!rest.contains("after sign-out"), "{rest}");
}

#[sqlx::test(migrations = "../migrations")]
async fn the_live_job_stream_stops_when_the_account_is_disabled(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    let operator = app.operator(&admin).await;
    let job = running_job(&app.pool, &admin).await;
    let browser = app.browser();
    browser.sign_in(OPERATOR, OPERATOR_PASSWORD).await;
    let response = browser.get(&format!("/jobs/{job}/events")).await;
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let mut seen = String::new();
    read_until(&mut stream, &mut seen, "\"status\":\"running\"").await;

    app.console
        .accounts
        .set_enabled(&admin, &Default::default(), operator.id, false)
        .await
        .unwrap();
    print_line(&app.pool, job, 1, "after disable").await;
    let rest = read_to_end(&mut stream).await;
    assert!(!rest.contains("after disable"), "{rest}");
}

/// A request still in flight when its session is signed out saves the
/// session as it ends (an active session is saved about once a minute):
/// saving only updates a stored session, so it stays signed out.
#[sqlx::test(migrations = "../migrations")]
async fn a_session_signed_out_during_a_request_is_not_written_back(pool: PgPool) {
    use tower_sessions::SessionStore;
    let app = spawn_app(pool).await;
    app.admin().await;
    let browser = app.browser();
    browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let id: tower_sessions::session::Id = browser.session_cookie().unwrap().parse().unwrap();
    let rows = server::session::SessionRows::new(
        tower_sessions_sqlx_store::PostgresStore::new(app.pool.clone()),
        app.pool.clone(),
        app.console.sessions.clone(),
    );
    // The in-flight request loaded the session…
    let loaded = rows.load(&id).await.unwrap().expect("the signed-in session");
    // …the operator signs out meanwhile…
    assert_eq!(browser.post_form("/sign-out", &[]).await.status(), 303);
    // …and the request ends, saving what it loaded.
    rows.save(&loaded).await.unwrap();
    assert!(rows.load(&id).await.unwrap().is_none());
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM tower_sessions.session")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);
}

/// The same session, presented to a second console process on the same
/// database (each process remembers sessions and operators for a while).
fn same_session_on(other: &TestApp, browser: &Browser) -> Browser {
    let there = other.browser();
    let url = other.address.parse().unwrap();
    let cookie = format!("ocpizza_session={}", browser.session_cookie().unwrap());
    there.jar.add_cookie_str(&cookie, &url);
    there
}

/// How long a change made through one process takes to end the session on
/// another: the first request there is expected to be refused already; the
/// bound only keeps a loaded machine from failing the test on a scheduling
/// hiccup of the announcement.
async fn refused_soon(browser: &Browser) {
    let started = std::time::Instant::now();
    loop {
        let response = browser.get("/").await;
        if response.status() == 303 {
            assert!(location(&response).starts_with("/sign-in"));
            return;
        }
        assert_eq!(response.status(), 200);
        assert!(
            started.elapsed() < std::time::Duration::from_millis(500),
            "the other process still serves the session"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn signing_out_on_one_console_process_ends_the_session_on_the_others(pool: PgPool) {
    let first = spawn_app(pool).await;
    let second = spawn_app_beside(&first).await;
    first.admin().await;
    let here = first.browser();
    here.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let there = same_session_on(&second, &here);
    // Both processes have served (and remember) the session.
    for _ in 0..3 {
        assert_eq!(here.get("/").await.status(), 200);
        assert_eq!(there.get("/").await.status(), 200);
    }

    assert_eq!(here.post_form("/sign-out", &[]).await.status(), 303);

    refused_soon(&there).await;
    assert_eq!(here.get("/").await.status(), 303);
}

#[sqlx::test(migrations = "../migrations")]
async fn disabling_an_account_on_one_console_process_ends_its_sessions_on_the_others(pool: PgPool) {
    let first = spawn_app(pool).await;
    let second = spawn_app_beside(&first).await;
    let admin = first.admin().await;
    let operator = first.operator(&admin).await;
    let admin_browser = first.browser();
    admin_browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let here = first.browser();
    here.sign_in(OPERATOR, OPERATOR_PASSWORD).await;
    let there = same_session_on(&second, &here);
    for _ in 0..3 {
        assert_eq!(there.get("/").await.status(), 200);
    }

    // The admin disables the account through the first process's page.
    let disabled = admin_browser
        .client
        .post(admin_browser.url("/api/accounts/enabled"))
        .header("origin", admin_browser.url(""))
        .form(&[("account_id", operator.id.to_string()), ("enabled", "false".to_owned())])
        .send()
        .await
        .unwrap();
    assert!(disabled.status().is_success(), "{}", disabled.status());

    refused_soon(&there).await;
    assert_eq!(here.get("/").await.status(), 303);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_password_changed_on_one_console_process_ends_the_other_sessions_everywhere(pool: PgPool) {
    let first = spawn_app(pool).await;
    let second = spawn_app_beside(&first).await;
    first.admin().await;
    let changer = first.browser();
    changer.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let elsewhere = first.browser();
    elsewhere.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let there = same_session_on(&second, &elsewhere);
    for _ in 0..3 {
        assert_eq!(there.get("/").await.status(), 200);
    }

    let changed = changer
        .client
        .post(changer.url("/api/me/password"))
        .header("origin", changer.url(""))
        .form(&[
            ("current_password", ADMIN_PASSWORD),
            ("new_password", "a brand new oven at 480 degrees"),
            ("confirmation", "a brand new oven at 480 degrees"),
        ])
        .send()
        .await
        .unwrap();
    assert!(changed.status().is_success(), "{}", changed.status());

    refused_soon(&there).await;
    // The session that changed it carries on, on either process.
    assert_eq!(changer.get("/").await.status(), 200);
    assert_eq!(same_session_on(&second, &changer).get("/").await.status(), 200);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_dashboard_lists_an_event_recorded_elsewhere_at_once(pool: PgPool) {
    let first = spawn_app(pool).await;
    let second = spawn_app_beside(&first).await;
    let admin = first.admin().await;
    let here = first.browser();
    here.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let there = same_session_on(&second, &here);
    // Both processes have shown (and remember) the newest events.
    for _ in 0..3 {
        for browser in [&here, &there] {
            let home = browser.get("/").await.text().await.unwrap();
            assert!(home.contains("session.sign_in") && !home.contains(OPERATOR));
        }
    }

    // Recorded by neither process: the test's own handle on the database.
    first.operator(&admin).await;

    let started = std::time::Instant::now();
    for browser in [&here, &there] {
        while !browser.get("/").await.text().await.unwrap().contains(OPERATOR) {
            assert!(
                started.elapsed() < std::time::Duration::from_millis(500),
                "the dashboard still lists the events as they were"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}
