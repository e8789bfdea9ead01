//! The CI state of what each host runs and Sentry's issues (manual §8.1),
//! read from a local double of GitHub Actions, Travis CI and Sentry that
//! answers in their own formats ([`crate::integration_doubles`]): the
//! staging host deployed for real, the CI provider saved (a wrong token or
//! an unknown repository refused, nothing stored), its state for the
//! deployed commit — passed, failed, running — on the Supervision page and
//! the home page; Sentry's link without a token, its issues with one. The
//! tokens are never shown nor recorded, only sealed.

use app::integrations_api::IntegrationsView;
use domain::hosts::KeyChoice;
use domain::integrations::Purpose;
use domain::integrations::{CiState, IntegrationProvider};
use sqlx::PgPool;

use crate::backups::staging_database_alone;
use crate::deploys::{deployed, git};
use crate::helpers::*;
use crate::hosts::{private_key, register};
use crate::integration_doubles::IntegrationDouble;

/// The form as the Supervision page posts it.
async fn save(browser: &Browser, provider: &str, api_url: &str, project: &str, token: &str) -> reqwest::Response {
    browser
        .post_form(
            "/api/integrations/save",
            &[
                ("integration[provider]", provider),
                ("integration[api_url]", api_url),
                ("integration[project]", project),
                ("integration[secret_token]", token),
            ],
        )
        .await
}

async fn report(browser: &Browser) -> IntegrationsView {
    let answer = browser.post_form("/api/integrations", &[]).await;
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

/// The state the page reports for the one host.
async fn host_state(browser: &Browser) -> CiState {
    let view = report(browser).await;
    assert_eq!(view.hosts.len(), 1);
    match &view.hosts[0].report {
        Some(Ok((state, _))) => *state,
        other => panic!("no CI state: {other:?}"),
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn the_ci_state_of_the_deployed_commit_is_read_from_github_actions_and_travis(pool: PgPool) {
    let _turn = staging_database_alone().await;
    let app = spawn_app(pool.clone()).await;
    let admin = app.admin().await;
    let host = register(&app, &admin, KeyChoice::paste(private_key())).await;
    let double = IntegrationDouble::start().await;
    let browser = app.browser();
    browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let page = browser.get("/monitoring").await.text().await.unwrap();
    assert!(page.contains("id=\"ci-none\""), "no CI provider yet");

    let deploy = deployed(&app, &admin, host.id, "main").await;
    assert!(deploy.status.finished());
    let head = git(&["rev-parse", "HEAD"]);
    double.builds_of(&head);
    let github = format!("{}/github", double.base);
    let token = double.tokens.github.clone();

    // Refused, said next to its field, nothing stored, the refusal audited.
    let wrong_token = save(
        &browser,
        "github-actions",
        &github,
        "oc-pizza/site-passing",
        "ghp_not_the_right_one",
    )
    .await;
    assert_eq!(wrong_token.status(), 400);
    assert!(wrong_token
        .text()
        .await
        .unwrap()
        .contains("integration-failure-token-refused"));
    let unknown = save(&browser, "github-actions", &github, "oc-pizza/ailleurs", &token).await;
    assert_eq!(unknown.status(), 400);
    assert!(unknown.text().await.unwrap().contains("integration-failure-not-found"));
    let plain_http = save(
        &browser,
        "github-actions",
        "http://ci.example.org",
        "oc-pizza/site-passing",
        &token,
    )
    .await;
    assert_eq!(plain_http.status(), 400);
    assert!(plain_http.text().await.unwrap().contains("error-integration-api-url"));
    assert_eq!(app.console.integrations.settings(Purpose::Ci).await.unwrap(), None);
    assert_eq!(app.audit_count("integration.save", "failure").await, 2);

    // Saved: the deployed commit's workflow runs, each with its link.
    let saved = save(&browser, "github-actions", &github, "oc-pizza/site-passing", &token).await;
    assert_eq!(saved.status(), 200, "{}", saved.text().await.unwrap());
    let view = report(&browser).await;
    let ci = view.ci.as_ref().expect("saved");
    assert_eq!(
        (ci.provider, ci.project.as_str(), ci.token_set),
        (IntegrationProvider::GithubActions, "oc-pizza/site-passing", true)
    );
    let host_ci = &view.hosts[0];
    assert_eq!(host_ci.branch.as_deref(), Some("main"));
    assert_eq!(host_ci.commit.as_ref().unwrap().0, head[..7]);
    let Some(Ok((CiState::Passed, builds))) = &host_ci.report else {
        panic!("passed: {:?}", host_ci.report)
    };
    let names: Vec<&str> = builds.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["Tests", "Lint"]);
    assert!(builds[0]
        .url
        .as_deref()
        .unwrap()
        .starts_with("https://github.com/oc-pizza/site/actions/runs/"));
    // Asked as GitHub documents it: the commit, the API version, the token.
    let asked = double
        .seen()
        .into_iter()
        .rfind(|s| s.path.ends_with("/actions/runs"))
        .expect("the runs were asked for");
    assert!(asked.query.contains(&format!("head_sha={head}")));
    assert_eq!(asked.headers["x-github-api-version"], "2022-11-28");
    assert_eq!(asked.headers["accept"], "application/vnd.github+json");

    // Kept a minute: the page shown again asks nothing more.
    let asked_before = double.seen().len();
    report(&browser).await;
    assert_eq!(double.seen().len(), asked_before);

    // Another repository whose runs failed, another still running (the
    // token kept when the field is left empty).
    save(&browser, "github-actions", &github, "oc-pizza/site-failing", "").await;
    assert_eq!(host_state(&browser).await, CiState::Failed);
    save(&browser, "github-actions", &github, "oc-pizza/site-running", "").await;
    assert_eq!(host_state(&browser).await, CiState::Running);
    let home = browser.get("/").await.text().await.unwrap();
    assert!(home.contains("data-ci-state=\"running\""), "the home page shows it");

    // Travis CI: its own token and API version header; its build's state.
    let travis = format!("{}/travis", double.base);
    let travis_token = double.tokens.travis.clone();
    let no_token = save(&browser, "travis-ci", &travis, "oc-pizza/site-failing", "").await;
    assert_eq!(no_token.status(), 400, "the GitHub token is not Travis's");
    let saved = save(&browser, "travis-ci", &travis, "oc-pizza/site-failing", &travis_token).await;
    assert_eq!(saved.status(), 200, "{}", saved.text().await.unwrap());
    assert_eq!(host_state(&browser).await, CiState::Failed);
    let asked = double
        .seen()
        .into_iter()
        .rfind(|s| s.path.ends_with("/builds"))
        .expect("the builds were asked for");
    assert!(asked.path.contains("oc-pizza%2Fsite-failing"), "{}", asked.path);
    assert!(asked.query.contains("branch.name=main"), "{}", asked.query);
    save(&browser, "travis-ci", &travis, "oc-pizza/site-passing", "").await;
    assert_eq!(host_state(&browser).await, CiState::Passed);
    let page = browser.get("/monitoring").await.text().await.unwrap();
    assert!(page.contains("data-ci-state=\"passed\""));
    assert!(page.contains(&head[..7]));

    // An API that cannot be reached: refused, said next to its address.
    let unreachable = save(&browser, "travis-ci", "http://127.0.0.1:9", "oc-pizza/site-running", "").await;
    assert_eq!(unreachable.status(), 400);
    assert!(unreachable
        .text()
        .await
        .unwrap()
        .contains("integration-failure-no-connection"));
    assert_eq!(host_state(&browser).await, CiState::Passed, "what was saved stays");

    // The token sealed: its secret's bytes are not the token.
    let sealed: Vec<Vec<u8>> = sqlx::query_scalar("SELECT sealed FROM secrets WHERE purpose = 'integration-token'")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(sealed.len(), 1, "one token stored, the replaced ones erased");
    assert!(!sealed[0]
        .windows(travis_token.len())
        .any(|w| w == travis_token.as_bytes()));

    // Removed: the token erased with it; audited without any token.
    let removed = browser.post_form("/api/integrations/remove", &[("ci", "true")]).await;
    assert_eq!(removed.status(), 200);
    assert_eq!(app.console.integrations.settings(Purpose::Ci).await.unwrap(), None);
    let tokens: i64 = sqlx::query_scalar("SELECT count(*) FROM secrets WHERE purpose = 'integration-token'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(tokens, 0);
    assert_eq!(app.audit_count("integration.save", "success").await, 5);
    assert_eq!(app.audit_count("integration.save", "failure").await, 4);
    assert_eq!(app.audit_count("integration.remove", "success").await, 1);
    let audit = format!("{:?}", app.audit_rows().await);
    let details: Vec<String> = sqlx::query_scalar("SELECT details::text FROM audit_log")
        .fetch_all(&pool)
        .await
        .unwrap();
    for token in [&token, &travis_token] {
        assert!(!audit.contains(token.as_str()) && !details.iter().any(|d| d.contains(token.as_str())));
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn sentry_is_a_link_without_a_token_and_lists_its_unresolved_issues_with_one(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let admin = app.admin().await;
    let double = IntegrationDouble::start().await;
    let browser = app.browser();
    browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let sentry = format!("{}/sentry", double.base);

    // No token: the project's link alone, the API not asked.
    let saved = save(&browser, "sentry", &sentry, "oc-pizza/site", "").await;
    assert_eq!(saved.status(), 200, "{}", saved.text().await.unwrap());
    let view = report(&browser).await;
    assert_eq!(
        view.sentry_link.as_deref(),
        Some(format!("{sentry}/organizations/oc-pizza/projects/site/").as_str())
    );
    assert_eq!(view.issues, None);
    assert!(double.seen().is_empty());

    // A wrong token, an unknown project: refused, the link kept as it was.
    let wrong = save(&browser, "sentry", &sentry, "oc-pizza/site", "sntryu_wrong_token").await;
    assert_eq!(wrong.status(), 400);
    let unknown = save(&browser, "sentry", &sentry, "oc-pizza/ailleurs", &double.tokens.sentry).await;
    assert_eq!(unknown.status(), 400);
    assert_eq!(report(&browser).await.issues, None);

    // With its token: the latest unresolved issues, on the page.
    let saved = save(&browser, "sentry", &sentry, "oc-pizza/site", &double.tokens.sentry).await;
    assert_eq!(saved.status(), 200);
    let view = report(&browser).await;
    let issues = view.issues.expect("read").expect("listed");
    let ids: Vec<&str> = issues.iter().map(|i| i.short_id.as_str()).collect();
    assert_eq!(ids, ["SITE-1A", "SITE-1B"]);
    assert_eq!(issues[0].title, "ZeroDivisionError: division by zero");
    assert_eq!((issues[0].count.as_str(), issues[0].user_count), ("150", 12));
    let page = browser.get("/monitoring").await.text().await.unwrap();
    assert!(page.contains("SITE-1A") && page.contains("PayPalConnectionError: timed out"));
    assert!(!page.contains(&double.tokens.sentry), "the token is never shown");
    let asked = double
        .seen()
        .into_iter()
        .rfind(|s| s.path.ends_with("/issues/"))
        .unwrap();
    assert!(asked.query.contains("query=is%3Aunresolved"), "{}", asked.query);

    // A viewer sees them; the form is not theirs to post.
    let viewer = app.viewer(&admin).await;
    let reader = app.browser();
    reader.sign_in(viewer.username.as_str(), VIEWER_PASSWORD).await;
    assert!(matches!(report(&reader).await.issues, Some(Ok(issues)) if issues.len() == 2));
    let refused = save(&reader, "sentry", &sentry, "oc-pizza/site", "").await;
    assert_eq!(refused.status(), 403);
    assert_eq!(
        report(&reader).await.errors.map(|e| e.provider),
        Some(IntegrationProvider::Sentry)
    );
}
