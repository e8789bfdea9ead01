//! Forms posted without JavaScript: the browser is sent back to the page
//! with the refusal and the values typed (never a password), and the page
//! shows both; an accepted form comes back saying so, with no value; a
//! button that starts a job opens the job's page; what an accepted form
//! answered is shown once on the page it comes back to.

use sqlx::PgPool;

use crate::helpers::{
    location, spawn_app, ADMIN, ADMIN_PASSWORD, OPERATOR, OPERATOR_PASSWORD, VIEWER, VIEWER_PASSWORD,
};

/// A plain HTML form post from the accounts page, as a browser without
/// JavaScript sends it.
async fn post_without_script(
    browser: &crate::helpers::Browser,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    post_without_script_from(browser, "/accounts", path, form).await
}

/// A plain HTML form post from page `from`, as a browser without
/// JavaScript sends it.
async fn post_without_script_from(
    browser: &crate::helpers::Browser,
    from: &str,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    browser
        .client
        .post(browser.url(path))
        .header("origin", browser.url(""))
        .header("referer", browser.url(from))
        .header("accept", "text/html,application/xhtml+xml")
        .form(form)
        .send()
        .await
        .expect("the console answers")
}

/// A page opened as a browser opens it (asking for HTML).
async fn visit(browser: &crate::helpers::Browser, address: &str) -> String {
    let page = browser
        .client
        .get(address)
        .header("accept", "text/html,application/xhtml+xml");
    page.send().await.expect("the console answers").text().await.unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_refused_account_form_comes_back_with_its_error_and_values_but_not_the_password(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.admin().await;
    let browser = app.browser();
    browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let form = [("username", "lucie.caisse"), ("role", "viewer"), ("password", "court")];

    let refused = post_without_script(&browser, "/api/accounts/create", &form).await;
    assert!(refused.status().is_redirection(), "{}", refused.status());
    let back = location(&refused);
    assert!(back.contains("__err="), "{back}");
    assert!(back.contains("__typed.username=lucie.caisse"), "{back}");
    assert!(back.contains("__typed.role=viewer"), "{back}");
    assert!(
        !back.contains("court"),
        "the password never goes into an address: {back}"
    );

    let page = browser.client.get(&back).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Le mot de passe doit compter au moins 12 caractères."));
    assert!(page.contains(r#"value="lucie.caisse""#));

    let form = [
        ("username", "lucie.caisse"),
        ("role", "viewer"),
        ("password", "quatre saisons au four"),
    ];
    let accepted = post_without_script(&browser, "/api/accounts/create", &form).await;
    let back = location(&accepted);
    assert!(!back.contains("__typed") && !back.contains("__err"), "{back}");
    let page = visit(&browser, &back).await;
    assert!(page.contains(r#"id="account-created""#));
    // Said once: the page seen again does not say it a second time.
    assert!(!visit(&browser, &back).await.contains(r#"id="account-created""#));
}

/// Manual §5.2 without JavaScript: the host page's buttons are forms. An
/// operator's restart starts the job and opens its page (it is not the
/// form's page); a viewer's comes back to the host
/// page with the refusal, and no job is started.
#[sqlx::test(migrations = "../migrations")]
async fn a_host_button_posted_without_javascript_opens_its_jobs_page(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    app.operator(&admin).await;
    app.viewer(&admin).await;
    let host = crate::backups::register_staging(&app, &admin).await;
    let host_page = format!("/server/{}", host.id);
    let host_id = host.id.to_string();
    let form = [("host_id", host_id.as_str()), ("action", "host.check_prerequisites")];

    let viewer = app.browser();
    viewer.sign_in(VIEWER, VIEWER_PASSWORD).await;
    let refused = post_without_script_from(&viewer, &host_page, "/api/jobs/start", &form).await;
    assert!(refused.status().is_redirection(), "{}", refused.status());
    let back = location(&refused);
    assert!(
        back.contains(&format!("{host_page}?")) && back.contains("__err="),
        "{back}"
    );
    let jobs = app.console.jobs.jobs_on_host(host.id, 10).await.unwrap();
    assert!(jobs.is_empty(), "a viewer starts nothing");

    let operator = app.browser();
    operator.sign_in(OPERATOR, OPERATOR_PASSWORD).await;
    let started = post_without_script_from(&operator, &host_page, "/api/jobs/start", &form).await;
    assert!(started.status().is_redirection(), "{}", started.status());
    let job_page = location(&started);
    let job: i64 = job_page
        .strip_prefix("/jobs/")
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("the job's own page, as it is: {job_page}"));
    let job = crate::backups::finished(&app, job).await;
    assert_eq!(job.action, "host.check_prerequisites");
    let page = operator.client.get(operator.url(&job_page)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains(r#"id="command-line""#));
}

/// A backup schedule saved without JavaScript: the page comes back with the
/// schedule's form open (it closes once a schedule is saved) so that its
/// error, then its "saved" notice, is seen; the summary shows what was saved.
#[sqlx::test(migrations = "../migrations")]
async fn a_schedule_saved_without_javascript_says_so_in_its_open_form(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    let host = crate::backups::register_staging(&app, &admin).await;
    let host_id = host.id.to_string();
    let browser = app.browser();
    browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let form = |cron: &'static str| {
        [
            ("host_id", host_id.clone()),
            ("schedule[enabled]", "on".to_owned()),
            ("schedule[cron]", cron.to_owned()),
            ("schedule[time_zone]", "UTC".to_owned()),
            ("schedule[keep_last]", "7".to_owned()),
            ("schedule[keep_daily]", "7".to_owned()),
            ("schedule[keep_weekly]", "4".to_owned()),
            ("schedule[keep_monthly]", "6".to_owned()),
        ]
    };
    // The schedule form's opening tag, as the page has it.
    let tag = |page: &str| -> String {
        let at = page
            .find(r#"class="schedule-form""#)
            .expect("the schedule's form is on the page");
        let start = page[..at].rfind("<details").unwrap_or(at);
        let end = at + page[at..].find('>').unwrap_or(0);
        page[start..=end].to_owned()
    };
    let is_open = |page: &str| tag(page).contains(" open");

    let first = form("15 4 * * *");
    let fields: Vec<(&str, &str)> = first.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let saved = post_without_script_from(&browser, "/backups", "/api/backups/schedule", &fields).await;
    let page = visit(&browser, &location(&saved)).await;
    assert!(
        is_open(&page),
        "the form that says it was saved is open: {}",
        tag(&page)
    );
    assert!(page.contains("Planification enregistrée."));
    assert!(page.contains("« 15 4 * * * » (UTC)"));

    // Saved once: the page alone shows the form closed...
    let plain = browser
        .client
        .get(browser.url("/backups"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!is_open(&plain), "a saved schedule's form is folded: {}", tag(&plain));
    // ... and a refusal brings it back open, with its error.
    let wrong = form("tous les soirs");
    let fields: Vec<(&str, &str)> = wrong.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = post_without_script_from(&browser, "/backups", "/api/backups/schedule", &fields).await;
    let page = visit(&browser, &location(&refused)).await;
    assert!(is_open(&page), "the refused form is open: {}", tag(&page));
    assert!(
        page.contains("Cette expression cron n&#39;est pas valide")
            || page.contains("Cette expression cron n'est pas valide")
    );
}

/// An API token issued without JavaScript: the page the browser comes back
/// to shows its secret once (it cannot travel in the address); meanwhile
/// the session held it sealed, never in clear; the next visit shows it no
/// more.
#[sqlx::test(migrations = "../migrations")]
async fn a_token_issued_without_javascript_shows_its_secret_once(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    app.admin().await;
    let browser = app.browser();
    browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let form = [("name", "Supervision externe"), ("scope", "read"), ("days", "30")];

    let issued = post_without_script_from(&browser, "/account", "/api/tokens/issue", &form).await;
    assert!(issued.status().is_redirection(), "{}", issued.status());
    let back = location(&issued);
    assert!(!back.contains("ocp_"), "no secret in an address: {back}");
    let sessions: Vec<Vec<u8>> = sqlx::query_scalar("SELECT data FROM tower_sessions.session")
        .fetch_all(&pool)
        .await
        .unwrap();

    let page = visit(&browser, &back).await;
    let shown = page
        .split(r#"id="token-secret""#)
        .nth(1)
        .and_then(|rest| rest.split('>').nth(1))
        .and_then(|rest| rest.split('<').next())
        .expect("the secret is on the page the form came back to");
    assert!(shown.starts_with("ocp_") && shown.len() > 40, "{shown}");
    assert!(page.contains("Supervision externe"));
    // The example names the console's own address.
    assert!(page.contains(&format!("{}/api/v1/hosts", browser.url(""))), "{page}");
    assert!(
        sessions
            .iter()
            .all(|data| !data.windows(shown.len()).any(|w| w == shown.as_bytes())),
        "the session never holds the secret in clear"
    );
    // The token works: the secret shown is the real one.
    let hosts = browser.get_bearing("/api/v1/hosts", shown).await;
    assert_eq!(hosts.status(), 200);

    let again = visit(&browser, &back).await;
    assert!(!again.contains(shown) && !again.contains(r#"id="token-secret""#));
}
