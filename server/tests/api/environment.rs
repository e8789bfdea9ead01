//! The app's environment variables (manual §4.1.1) on the staging host's
//! real `.env` and Django stand-in: import, set, apply (the stand-in shows
//! the new value; the file is mode 0600), drift of a hand-edited file, and
//! secrets that appear nowhere — not in a page, an answer, the log, the
//! job's output, the audit log, nor the host's process list while the file
//! is written. Bad names and values are refused and change nothing.
//!
//! These tests change the staging app's `.env` and restart its Gunicorn:
//! they hold the staging host alone ([`staging_database_alone`]) and put
//! the file back as they found it.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

use app::env_api::{DriftView, EnvView};
use domain::error::DomainError;
use domain::hosts::KeyChoice;
use domain::jobs::{JobStatus, StepName, StepStatus};
use sqlx::PgPool;

use crate::backups::{finished, staging_database_alone};
use crate::helpers::*;
use crate::hosts::{private_key, register, staging};

/// The staging app's `.env`, put back as it was (and Gunicorn restarted
/// with it) when dropped.
struct KeptEnvFile {
    path: PathBuf,
    text: String,
}

impl KeptEnvFile {
    fn keep() -> Self {
        let path = PathBuf::from(staging("STAGING_APP_DIR")).join(".env");
        let text = std::fs::read_to_string(&path).unwrap();
        Self { path, text }
    }

    /// A value of the file as the staging host wrote it (`NAME=value`).
    fn value(&self, name: &str) -> String {
        self.text
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} in the staging .env"))
            .to_owned()
    }
}

impl Drop for KeptEnvFile {
    fn drop(&mut self) {
        std::fs::write(&self.path, &self.text).unwrap();
        std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let restarted = Command::new(staging("STAGING_SERVICE_COMMAND"))
            .args(["gunicorn", "restart"])
            .output()
            .unwrap();
        assert!(restarted.status.success());
    }
}

/// The ENV the stand-in shows (its home page's `#env`).
async fn site_env() -> String {
    let html = reqwest::get(staging("STAGING_SITE_URL"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = html.find("<span id='env'>").expect("ENV on the page") + "<span id='env'>".len();
    html[start..].split('<').next().unwrap().to_owned()
}

fn invalid(error: &DomainError) -> Option<&'static str> {
    match error {
        DomainError::Invalid(invalid) => Some(invalid.message),
        _ => None,
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn applying_writes_the_file_mode_0600_the_app_sees_the_new_value_and_no_secret_shows_anywhere(pool: PgPool) {
    let _turn = staging_database_alone().await;
    let kept = KeptEnvFile::keep();
    let database_password = kept.value("POSTGRES_PASSWORD");
    let django_key = kept.value("DJANGO_SECRET_KEY");
    let (log, _guard) = CapturedLog::install();
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    app.operator(&admin).await;
    let host = register(&app, &admin, KeyChoice::paste(private_key())).await;
    let browser = app.browser();
    browser.sign_in(OPERATOR, OPERATOR_PASSWORD).await;
    let host_id = host.id.to_string();

    // Import: the host's file becomes the console's values.
    let imported: (Vec<String>, usize) = browser
        .post_form("/api/env/import", &[("host_id", &host_id)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        imported.0,
        [
            "ENV",
            "DJANGO_SECRET_KEY",
            "POSTGRES_USER",
            "POSTGRES_PASSWORD",
            "POSTGRES_PORT",
            "POSTGRES_DATABASE",
            "POSTGRES_HOST",
            "MAPS_API_KEY",
            "PAYPAL_API_KEY"
        ]
    );
    assert_eq!(imported.1, 0);

    // A plain value changed, then applied through the endpoints.
    let saved = browser
        .post_form(
            "/api/env/set",
            &[
                ("host_id", &host_id),
                ("name", "ENV"),
                ("secret_value", "Recette"),
                ("kind", "by-name"),
            ],
        )
        .await;
    assert_eq!(saved.status(), 200, "{}", saved.text().await.unwrap());
    let overview: EnvView = browser
        .post_form("/api/env/overview", &[("host_id", &host_id)])
        .await
        .json()
        .await
        .unwrap();
    let env = overview.variables.iter().find(|v| v.name == "ENV").unwrap();
    assert_eq!(
        (env.plain_value.as_deref(), env.secret, env.not_applied),
        (Some("Recette"), false, true)
    );
    let password = overview
        .variables
        .iter()
        .find(|v| v.name == "POSTGRES_PASSWORD")
        .unwrap();
    assert!(password.secret && password.set && password.plain_value.is_none() && !password.not_applied);

    // While the file is written, the host's process list is watched.
    let watching = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let watching = watching.clone();
        let secrets = [database_password.clone(), django_key.clone()];
        std::thread::spawn(move || {
            let mut seen = 0;
            while watching.load(std::sync::atomic::Ordering::Relaxed) {
                let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
                let list = String::from_utf8_lossy(&ps.stdout);
                assert!(
                    !secrets.iter().any(|s| list.contains(s.as_str())),
                    "a secret in the process list"
                );
                seen += 1;
            }
            seen
        })
    };
    let job: i64 = browser
        .post_form("/api/env/apply", &[("host_id", &host_id)])
        .await
        .json()
        .await
        .unwrap();
    let applied = finished(&app, job).await;
    watching.store(false, std::sync::atomic::Ordering::Relaxed);
    assert!(watcher.join().expect("no secret in the process list") > 0);
    assert_eq!(applied.status, JobStatus::Succeeded, "{:?}", applied.failure);
    let steps: Vec<(StepName, StepStatus)> = app
        .console
        .jobs
        .steps(job)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.name, s.status))
        .collect();
    assert_eq!(
        steps,
        [
            (StepName::WriteEnv, StepStatus::Succeeded),
            (StepName::RestartWsgi, StepStatus::Succeeded)
        ]
    );

    // The app sees it; the file is the owner's alone, written whole.
    assert_eq!(site_env().await, "Recette");
    let metadata = std::fs::metadata(&kept.path).unwrap();
    assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
    let written = std::fs::read_to_string(&kept.path).unwrap();
    assert!(written.contains("\nENV='Recette'\n"), "{written}");
    assert!(written.contains(&format!("POSTGRES_PASSWORD='{database_password}'")));
    let leftovers = std::fs::read_dir(staging("STAGING_APP_DIR"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(".env."))
        .count();
    assert_eq!(leftovers, 0, "no temporary file left");

    // Versions: the import, then the apply naming what it changed.
    let overview: EnvView = browser
        .post_form("/api/env/overview", &[("host_id", &host_id)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(overview.versions.len(), 2);
    assert_eq!(overview.versions[0].changed_names, ["ENV"]);
    assert!(overview.versions[0].written);
    assert!(overview.variables.iter().all(|v| !v.not_applied));

    // Nowhere: pages, answers, the job, the audit log, the console's log.
    let mut seen = vec![
        serde_json::to_string(&overview).unwrap(),
        browser
            .get(&format!("/server/{}/environment", host.id))
            .await
            .text()
            .await
            .unwrap(),
        browser.get(&format!("/server/{}", host.id)).await.text().await.unwrap(),
        browser.get(&format!("/jobs/{job}")).await.text().await.unwrap(),
        browser
            .get(&format!("/jobs/{job}/output.txt"))
            .await
            .text()
            .await
            .unwrap(),
        applied.command_line.clone(),
        log.text(),
    ];
    seen.extend(app.audit_rows().await.into_iter().map(|row| format!("{row:?}")));
    let details: Vec<String> = sqlx::query_scalar("SELECT details::text FROM audit_log")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    seen.extend(details);
    for text in &seen {
        for secret in [&database_password, &django_key] {
            assert!(
                !text.contains(secret.as_str()),
                "a secret in {}",
                &text[..text.len().min(200)]
            );
        }
    }
    assert!(
        seen.iter().any(|t| t.contains("POSTGRES_PASSWORD")),
        "the names are there"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_hand_edited_file_shows_as_drift_with_the_names_that_differ(pool: PgPool) {
    let _turn = staging_database_alone().await;
    let kept = KeptEnvFile::keep();
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    let operator = app.operator(&admin).await;
    let host = register(&app, &admin, KeyChoice::paste(private_key())).await;
    let environment = &app.console.environment;
    let browser = app.browser();
    browser.sign_in(OPERATOR, OPERATOR_PASSWORD).await;
    let drift = || async {
        let drift: Option<DriftView> = browser
            .post_form("/api/env/drift", &[("host_id", &host.id.to_string())])
            .await
            .json()
            .await
            .unwrap();
        drift
    };
    assert_eq!(drift().await, None, "nothing written nor imported: nothing to compare");
    environment
        .import(&operator, &Default::default(), host.id)
        .await
        .unwrap();
    assert_eq!(drift().await.unwrap().names, Vec::<String>::new());

    // By hand on the host: one value changed, one added.
    let edited = kept.text.replace("ENV=Production", "ENV=dev") + "EXTRA_FLAG=1\n";
    std::fs::write(&kept.path, edited).unwrap();
    let seen = drift().await.unwrap();
    assert_eq!(seen.names, ["ENV", "EXTRA_FLAG"]);
    let page = browser.get(&format!("/server/{}", host.id)).await.text().await.unwrap();
    assert!(page.contains("modifié hors de la console"), "the host page warns");
    assert!(page.contains("EXTRA_FLAG"));

    // Gone: said so.
    std::fs::remove_file(&kept.path).unwrap();
    assert!(drift().await.unwrap().file_missing);
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_names_and_values_are_refused_and_change_nothing(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let admin = app.admin().await;
    let operator = app.operator(&admin).await;
    let host = register(&app, &admin, KeyChoice::paste(private_key())).await;
    let environment = &app.console.environment;
    let set = |name: &'static str, value: &'static str, confirmed: bool| {
        let operator = &operator;
        async move {
            environment
                .set(operator, &Default::default(), host.id, name, None, value, confirmed)
                .await
        }
    };
    for (name, value, message) in [
        ("lower", "x", "error-env-name"),
        ("A-B", "x", "error-env-name"),
        ("9LIVES", "x", "error-env-name"),
        ("PAYPAL_API_KEY", "a\nDEBUG=1", "error-env-value-line"),
        ("PAYPAL_API_KEY", "a\0b", "error-env-value-line"),
        ("PAYPAL_API_KEY", "it's", "error-env-value-quote"),
        ("POSTGRES_PORT", "cinq", "error-env-port"),
    ] {
        let refused = set(name, value, false).await.unwrap_err();
        assert_eq!(invalid(&refused), Some(message), "{name}={value:?}");
    }
    // ENV=dev on a public site: refused unless confirmed.
    sqlx::query("UPDATE hosts SET site_url = 'https://www.ocpizza.fr/' WHERE id = $1")
        .bind(host.id)
        .execute(&pool)
        .await
        .unwrap();
    let refused = set("ENV", "dev", false).await.unwrap_err();
    assert_eq!(invalid(&refused), Some("error-env-not-production"));
    let overview = environment.overview(host.id).await.unwrap();
    assert!(overview.public_site);
    assert!(overview.variables.iter().all(|v| !v.set), "nothing stored");
    assert_eq!(app.audit_count("env.set", "success").await, 0);
    set("ENV", "dev", true).await.unwrap();

    // A viewer may not (audited); a generated key is secret and 50 long.
    let viewer = app.viewer(&admin).await;
    let denied = environment
        .generate_secret_key(&viewer, &Default::default(), host.id)
        .await
        .unwrap_err();
    assert!(matches!(denied, DomainError::Forbidden));
    assert_eq!(app.audit_count("env.set", "denied").await, 1);
    environment
        .generate_secret_key(&operator, &Default::default(), host.id)
        .await
        .unwrap();
    let key = environment
        .overview(host.id)
        .await
        .unwrap()
        .variables
        .into_iter()
        .find(|v| v.name == "DJANGO_SECRET_KEY")
        .unwrap();
    assert!(key.secret && key.set && key.plain_value.is_none());
    let sealed: i64 =
        sqlx::query_scalar("SELECT secret_id FROM app_env_vars WHERE host_id = $1 AND name = 'DJANGO_SECRET_KEY'")
            .bind(host.id)
            .fetch_one(&pool)
            .await
            .unwrap();
    let value = app
        .console
        .secrets
        .get_for(domain::secrets::SecretId(sealed), "app-env")
        .await
        .unwrap();
    assert_eq!(value.len(), 50);
    environment
        .remove(&operator, &Default::default(), host.id, "ENV")
        .await
        .unwrap();
    assert_eq!(app.audit_count("env.remove", "success").await, 1);
}
