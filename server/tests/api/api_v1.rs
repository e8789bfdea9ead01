//! The JSON API under `/api/v1` and its tokens: issued from the account's
//! page, used with `curl`, refused for every reason the issue lists, each
//! refusal and each action audited; the OpenAPI document checked by
//! `openapi-spec-validator` and fuzzed by schemathesis (both from PyPI,
//! installed by `.ci/setup`).

use std::time::Duration;

use domain::jobs::JobStatus;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::backups::{finished, register_staging, staging_database_alone};
use crate::helpers::*;

/// A client with no cookie jar: what a script is.
fn script() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Issues a token from the account's page (its server function), as the
/// signed-in `browser`: the secret, shown once.
async fn issue(browser: &Browser, name: &str, scope: &str, days: &str) -> reqwest::Response {
    browser
        .post_form("/api/tokens/issue", &[("name", name), ("scope", scope), ("days", days)])
        .await
}

async fn issued_secret(browser: &Browser, name: &str, scope: &str) -> String {
    let answer = issue(browser, name, scope, "90").await;
    assert_eq!(answer.status(), 200);
    let issued: Value = answer.json().await.unwrap();
    let secret = issued["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("ocp_") && secret.len() == 68, "{secret}");
    secret
}

async fn signed_in(app: &TestApp, username: &str, password: &str) -> Browser {
    let browser = app.browser();
    assert_eq!(browser.sign_in(username, password).await.status(), 303);
    browser
}

struct Api<'a> {
    app: &'a TestApp,
    token: String,
}

impl Api<'_> {
    async fn get(&self, path: &str) -> reqwest::Response {
        script()
            .get(format!("{}{path}", self.app.address))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        script()
            .post(format!("{}{path}", self.app.address))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

/// Every text cell of every table of the console's database that holds
/// `needle`, as `table`.
async fn tables_holding(pool: &PgPool, needle: &str) -> Vec<String> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT format('%I.%I', table_schema, table_name) FROM information_schema.tables
         WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut holding = Vec::new();
    for table in tables {
        let found: bool = sqlx::query_scalar(&format!(
            "SELECT EXISTS (SELECT 1 FROM {table} t WHERE t::text LIKE '%' || $1 || '%')"
        ))
        .bind(needle)
        .fetch_one(pool)
        .await
        .unwrap();
        if found {
            holding.push(table);
        }
    }
    holding
}

#[sqlx::test(migrations = "../migrations")]
async fn a_token_runs_an_action_and_reads_its_output_then_revoked_is_refused_and_its_secret_is_nowhere(pool: PgPool) {
    let (log, _guard) = CapturedLog::install();
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    app.operator(&admin).await;
    let host = register_staging(&app, &admin).await;
    let browser = signed_in(&app, OPERATOR, OPERATOR_PASSWORD).await;
    let secret = issued_secret(&browser, "CI checks", "operate").await;
    let api = Api {
        app: &app,
        token: secret.clone(),
    };

    // The hosts and their state.
    let hosts = api.get("/api/v1/hosts").await;
    assert_eq!(hosts.status(), 200);
    assert_eq!(hosts.headers()["cache-control"], "no-store");
    let hosts: Value = hosts.json().await.unwrap();
    assert_eq!(hosts[0]["id"], host.id);
    assert_eq!(hosts[0]["name"], "staging");
    assert!(["up", "down", "unknown"].contains(&hosts[0]["site"]["state"].as_str().unwrap()));

    // An action started, polled to its end, its output read a page at a time.
    let started = api
        .post(
            &format!("/api/v1/hosts/{}/jobs", host.id),
            json!({"action": "host.check_prerequisites"}),
        )
        .await;
    assert_eq!(started.status(), 202);
    let job_id = started.json::<Value>().await.unwrap()["job_id"].as_i64().unwrap();
    let state = loop {
        let state: Value = api.get(&format!("/api/v1/jobs/{job_id}")).await.json().await.unwrap();
        if state["finished"] == true {
            break state;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(state["status"], "succeeded", "{state}");
    assert_eq!(state["actor"], OPERATOR);
    let mut lines = Vec::new();
    let mut cursor = 0;
    loop {
        let page: Value = api
            .get(&format!("/api/v1/jobs/{job_id}/output?after={cursor}&limit=2"))
            .await
            .json()
            .await
            .unwrap();
        let got = page["lines"].as_array().unwrap();
        assert!(got.len() <= 2);
        lines.extend(got.iter().map(|l| l["text"].as_str().unwrap().to_owned()));
        match page["next"].as_i64() {
            Some(next) => cursor = next,
            None => break,
        }
    }
    let stored: Vec<String> = app
        .console
        .jobs
        .output_after(job_id, 0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.line)
        .collect();
    assert!(stored.len() > 2, "several pages were read");
    assert_eq!(lines, stored);
    // A cursor past every line, up to the largest an id can hold: an empty
    // page, never a server error (schemathesis found the overflow).
    for cursor in [stored.len() as i64, i64::MAX] {
        let past = api
            .get(&format!("/api/v1/jobs/{job_id}/output?after={cursor}&limit=5000"))
            .await;
        assert_eq!(past.status(), 200, "after={cursor}");
        let page: Value = past.json().await.unwrap();
        assert_eq!(page["lines"], json!([]), "after={cursor}");
        assert_eq!(page["next"], Value::Null, "after={cursor}");
    }

    // Audited exactly as from the page, the token named.
    let (actor, details): (String, Value) = sqlx::query_as(
        "SELECT actor, details FROM audit_log WHERE action = 'host.check_prerequisites' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(actor, OPERATOR);
    assert_eq!(details["token"], "CI checks");

    // The page lists it with its last use and address, never its secret.
    let mine = browser.post_form("/api/tokens/mine", &[]).await.text().await.unwrap();
    let listed: Value = serde_json::from_str(&mine).unwrap();
    assert_eq!(listed[0]["name"], "CI checks");
    assert_eq!(listed[0]["last_used_from"], "127.0.0.1");
    assert!(listed[0]["last_used"].is_string());
    assert!(!mine.contains(&secret));
    let page = browser.get("/account").await.text().await.unwrap();
    assert!(page.contains("CI checks") && !page.contains(&secret));

    // Revoked in one click: refused at once, audited.
    let token_id = listed[0]["id"].as_i64().unwrap().to_string();
    let revoked = browser
        .post_form("/api/tokens/revoke", &[("token_id", &token_id)])
        .await;
    assert_eq!(revoked.status(), 200);
    let refused = api.get("/api/v1/hosts").await;
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.headers()["www-authenticate"],
        "Bearer realm=\"ocpizza-console\""
    );
    assert_eq!(refused.json::<Value>().await.unwrap()["code"], "unauthorized");
    assert_eq!(app.audit_count("token.create", "success").await, 1);
    assert_eq!(app.audit_count("token.revoke", "success").await, 1);
    assert_eq!(app.audit_count("request.bad_token", "denied").await, 1);

    // Only its digest is stored: the secret is in no table, no log line.
    assert_eq!(tables_holding(&app.pool, &secret).await, Vec::<String>::new());
    assert_eq!(tables_holding(&app.pool, &secret[4..20]).await, Vec::<String>::new());
    let digest: i64 = sqlx::query_scalar("SELECT count(*) FROM api_tokens WHERE secret_digest = sha256($1::bytea)")
        .bind(secret.as_bytes())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(digest, 1);
    let logged = log.text();
    assert!(
        logged.contains("listening on"),
        "the console's log was captured: {logged}"
    );
    assert!(!logged.contains(&secret[4..20]));
}

#[sqlx::test(migrations = "../migrations")]
async fn each_bad_token_and_each_bad_request_gets_a_clear_json_refusal(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    let operator = app.operator(&admin).await;
    app.viewer(&admin).await;
    let host = register_staging(&app, &admin).await;
    let operator_browser = signed_in(&app, OPERATOR, OPERATOR_PASSWORD).await;
    let viewer_browser = signed_in(&app, VIEWER, VIEWER_PASSWORD).await;

    // A token never has more than its account: a viewer gets no operate
    // token; bad names and lives are refused by field.
    let refused = issue(&viewer_browser, "mine", "operate", "90").await;
    assert_eq!(refused.status(), 400);
    assert_eq!(refused.json::<Value>().await.unwrap()["Invalid"]["field"], "scope");
    for (name, days, field) in [
        ("", "90", "name"),
        ("ok", "0", "days"),
        ("ok", "366", "days"),
        ("ok", "x", "days"),
    ] {
        let refused = issue(&operator_browser, name, "read", days).await;
        assert_eq!(refused.status(), 400, "{name} {days}");
        assert_eq!(refused.json::<Value>().await.unwrap()["Invalid"]["field"], field);
    }
    issued_secret(&operator_browser, "twice", "read").await;
    let taken = issue(&operator_browser, "twice", "read", "30").await;
    assert_eq!(
        taken.json::<Value>().await.unwrap()["Invalid"]["message"],
        "error-token-name-taken"
    );

    // A read token looks but does not act: 403, audited with its name.
    let read = Api {
        app: &app,
        token: issued_secret(&operator_browser, "monitoring", "read").await,
    };
    assert_eq!(read.get("/api/v1/hosts").await.status(), 200);
    let forbidden = read
        .post(
            &format!("/api/v1/hosts/{}/jobs", host.id),
            json!({"action": "webapp.restart_web_server"}),
        )
        .await;
    assert_eq!(forbidden.status(), 403);
    let body: Value = forbidden.json().await.unwrap();
    assert_eq!(body["code"], "forbidden");
    assert!(body["message"]["fr"].as_str().unwrap().contains("portée"));
    assert!(body["message"]["en"].as_str().unwrap().contains("scope"));
    let details: Value =
        sqlx::query_scalar("SELECT details FROM audit_log WHERE action = 'request.forbidden' ORDER BY id DESC LIMIT 1")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(details["token"], "monitoring");
    assert_eq!(app.audit_count("webapp.restart_web_server", "success").await, 0);

    // Malformed, unknown, absent: one answer; audited without the token.
    let unknown = format!("ocp_{}", "0".repeat(64));
    for presented in [Some("not a token"), Some(unknown.as_str()), None] {
        let mut request = script().get(format!("{}/api/v1/hosts", app.address));
        if let Some(token) = presented {
            request = request.bearer_auth(token);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), 401);
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["code"], "unauthorized");
    }
    let audited: Vec<String> =
        sqlx::query_scalar("SELECT details::text FROM audit_log WHERE action = 'request.bad_token'")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert!(!audited.is_empty());
    assert!(audited
        .iter()
        .all(|d| !d.contains("not a token") && !d.contains(&unknown)));

    // A signed-in browser's cookie opens nothing here.
    assert_eq!(operator_browser.get("/api/v1/hosts").await.status(), 401);

    // Bodies: unreadable 400, too large 413, not JSON 415, unknown field 400;
    // an unknown path 404, an unknown action 400 by field — all JSON.
    let operate = Api {
        app: &app,
        token: issued_secret(&operator_browser, "deploys", "operate").await,
    };
    let jobs = format!("{}/api/v1/hosts/{}/jobs", app.address, host.id);
    let send = |body: reqwest::RequestBuilder| async { body.bearer_auth(&operate.token).send().await.unwrap() };
    let cases = [
        (
            send(
                script()
                    .post(&jobs)
                    .header("content-type", "application/json")
                    .body("{"),
            )
            .await,
            400,
            "bad_request",
        ),
        (
            send(
                script()
                    .post(&jobs)
                    .header("content-type", "application/json")
                    .body(format!("{{\"action\":\"{}\"}}", "x".repeat(70_000))),
            )
            .await,
            413,
            "too_large",
        ),
        (
            send(script().post(&jobs).body("action=x")).await,
            415,
            "unsupported_media_type",
        ),
        (
            send(script().post(&jobs).json(&json!({"action": "x", "more": 1}))).await,
            400,
            "bad_request",
        ),
        (
            send(script().post(&jobs).json(&json!({"action": "rm -rf /"}))).await,
            400,
            "invalid",
        ),
        (
            send(script().get(format!("{}/api/v1/jobs/abc", app.address))).await,
            400,
            "bad_request",
        ),
        (
            send(script().get(format!("{}/api/v1/jobs/999999", app.address))).await,
            404,
            "not_found",
        ),
        (
            send(script().get(format!("{}/api/v1/nothing/here", app.address))).await,
            404,
            "not_found",
        ),
        (
            send(script().get(format!("{}/api/v1/backups?limit=0", app.address))).await,
            400,
            "invalid",
        ),
    ];
    for (answer, status, code) in cases {
        assert_eq!(answer.status(), status, "{code}");
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["code"], code, "{body}");
    }

    // Expired: refused, audited by its name.
    sqlx::query(
        "UPDATE api_tokens SET created_at = now() - interval '2 days', expires_at = now() - interval '1 day'
         WHERE name = 'monitoring'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    until(|| async { read.get("/api/v1/hosts").await.status() == 401 }).await;
    let expired: Value = sqlx::query_scalar(
        "SELECT details FROM audit_log WHERE action = 'request.bad_token' AND details->>'reason' = 'expired'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(expired["token_name"], "monitoring");

    // Its account disabled (by another process: told by the database):
    // its tokens stop working.
    assert_eq!(operate.get("/api/v1/hosts").await.status(), 200);
    app.console
        .accounts
        .set_enabled(&admin, &Default::default(), operator.id, false)
        .await
        .unwrap();
    until(|| async { operate.get("/api/v1/hosts").await.status() == 401 }).await;
}

/// Waits (5 s at most) for `condition`.
async fn until<F, Fut>(condition: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not within 5 s");
}

#[sqlx::test(migrations = "../migrations")]
async fn the_readme_s_curl_script_backs_up_a_host_and_waits_for_the_end(pool: PgPool) {
    let _turn = staging_database_alone().await;
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    app.operator(&admin).await;
    let host = register_staging(&app, &admin).await;
    let browser = signed_in(&app, OPERATOR, OPERATOR_PASSWORD).await;
    let secret = issued_secret(&browser, "CI backup", "operate").await;

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/api-backup");
    let output = tokio::process::Command::new(script)
        .arg(host.id.to_string())
        .env("CONSOLE_URL", &app.address)
        .env("CONSOLE_TOKEN", &secret)
        .output()
        .await
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        printed.contains("started") && printed.trim_end().ends_with("succeeded"),
        "{printed}"
    );

    // In the catalog, with its job and the reason; listed by cursor.
    let api = Api {
        app: &app,
        token: secret,
    };
    let page: Value = api
        .get(&format!("/api/v1/backups?host_id={}&limit=1", host.id))
        .await
        .json()
        .await
        .unwrap();
    let backup = &page["backups"][0];
    assert_eq!(backup["status"], "succeeded");
    assert_eq!(backup["reason"], "before deploy");
    assert_eq!(backup["actor"], OPERATOR);
    let job = finished(&app, backup["job_id"].as_i64().unwrap()).await;
    assert_eq!(job.status, JobStatus::Succeeded);
    let one: Value = api
        .get(&format!("/api/v1/backups/{}", backup["id"]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["sha256"], backup["sha256"]);
    // A second backup: the first page holds it, the cursor leads to the first.
    let second = api.post(&format!("/api/v1/hosts/{}/backups", host.id), json!({})).await;
    assert_eq!(second.status(), 202);
    let second_job = second.json::<Value>().await.unwrap()["job_id"].as_i64().unwrap();
    assert_eq!(finished(&app, second_job).await.status, JobStatus::Succeeded);
    let first_page: Value = api.get("/api/v1/backups?limit=1").await.json().await.unwrap();
    assert_eq!(first_page["backups"][0]["job_id"], second_job);
    let next = first_page["next"].as_i64().unwrap();
    let second_page: Value = api
        .get(&format!("/api/v1/backups?limit=1&before={next}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second_page["backups"][0]["id"], backup["id"]);
    assert!(second_page["next"].is_null());
    // Audited like the page's "Back up now", the token named.
    let tokens: Vec<Option<String>> =
        sqlx::query_scalar("SELECT details->>'token' FROM audit_log WHERE action = 'backup.run' ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert!(tokens.len() >= 2, "{tokens:?}");
    assert!(tokens.iter().all(|t| t.as_deref() == Some("CI backup")), "{tokens:?}");
}

/// The Python tools `.ci/setup` installs (`openapi-spec-validator`,
/// `schemathesis`).
fn api_tool(name: &str) -> String {
    let home = std::env::var("HOME").unwrap();
    let tool = format!("{home}/.cache/ocpizza-console/api-tools/bin/{name}");
    assert!(std::path::Path::new(&tool).exists(), "{tool} is missing: run .ci/setup");
    tool
}

#[sqlx::test(migrations = "../migrations")]
async fn the_openapi_document_is_valid_names_every_route_and_fuzzing_it_finds_no_server_error(pool: PgPool) {
    // The fuzzer's backups back the staging database up for real (its
    // random actions and branches are refused before reaching the host).
    let _turn = staging_database_alone().await;
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    app.operator(&admin).await;
    let host = register_staging(&app, &admin).await;
    let browser = signed_in(&app, OPERATOR, OPERATOR_PASSWORD).await;
    let secret = issued_secret(&browser, "fuzz", "operate").await;

    let answer = script()
        .get(format!("{}/api/v1/openapi.json", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let document: Value = answer.json().await.unwrap();
    assert_eq!(document, serde_json::to_value(server::api::document()).unwrap());

    // Every route, and nothing else.
    let mut operations: Vec<String> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| format!("{method} {path}"))
        })
        .collect();
    operations.sort();
    assert_eq!(
        operations,
        [
            "get /api/v1/backups",
            "get /api/v1/backups/{backup_id}",
            "get /api/v1/hosts",
            "get /api/v1/hosts/{host_id}/deploys",
            "get /api/v1/jobs/{job_id}",
            "get /api/v1/jobs/{job_id}/output",
            "post /api/v1/hosts/{host_id}/backups",
            "post /api/v1/hosts/{host_id}/deploys",
            "post /api/v1/hosts/{host_id}/jobs",
        ]
    );
    // Each is routed: without a token, 401 (not the 404 of an unknown path).
    for operation in &operations {
        let (method, path) = operation.split_once(' ').unwrap();
        let path = path
            .replace("{host_id}", &host.id.to_string())
            .replace("{job_id}", "1")
            .replace("{backup_id}", "1");
        let url = format!("{}{path}", app.address);
        let answer = match method {
            "get" => script().get(url),
            _ => script().post(url).json(&json!({})),
        }
        .send()
        .await
        .unwrap();
        assert_eq!(answer.status(), 401, "{operation}");
    }

    let file = app.data_dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&document).unwrap()).unwrap();
    let validated = std::process::Command::new(api_tool("openapi-spec-validator"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        validated.status.success(),
        "{}{}",
        String::from_utf8_lossy(&validated.stdout),
        String::from_utf8_lossy(&validated.stderr)
    );

    // Schemathesis, from the document: every operation with generated
    // (valid and invalid) input; no answer may be a 5xx, and every answer
    // must match the document.
    let fuzzed = tokio::process::Command::new(api_tool("schemathesis"))
        .args(["run", file.to_str().unwrap()])
        .args(["--url", &app.address])
        .args(["--header", &format!("Authorization: Bearer {secret}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--max-examples", "40", "--seed", "1", "--no-color"])
        .env("SCHEMATHESIS_HOOKS", "")
        // Its cache of past failures (.schemathesis/) goes to the test's
        // own directory, not the clone: every run starts from the seed.
        .current_dir(app.data_dir.path())
        .output()
        .await
        .unwrap();
    let report = String::from_utf8_lossy(&fuzzed.stdout);
    assert!(
        fuzzed.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&fuzzed.stderr)
    );
    println!("{report}");
}
