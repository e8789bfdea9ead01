//! A local double of the three APIs the console reads the app's CI state
//! and errors from — GitHub Actions under `/github`, Travis CI under
//! `/travis`, Sentry under `/sentry` — answering with the providers' own
//! response formats (`server/tests/peers/integrations/*.json`), checking
//! each provider's token and headers as the real API does, and keeping
//! every request it saw.
//!
//! Repositories (CI) name the state of their builds: `oc-pizza/site-passing`,
//! `oc-pizza/site-failing`, `oc-pizza/site-running`; any other is unknown
//! (404). Sentry knows the project `oc-pizza/site`.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

const GITHUB_REPOSITORY: &str = include_str!("../peers/integrations/github-repository.json");
const GITHUB_RUNS: &str = include_str!("../peers/integrations/github-workflow-runs.json");
const TRAVIS_REPOSITORY: &str = include_str!("../peers/integrations/travis-repository.json");
const TRAVIS_BUILDS: &str = include_str!("../peers/integrations/travis-builds.json");
const SENTRY_PROJECT: &str = include_str!("../peers/integrations/sentry-project.json");
const SENTRY_ISSUES: &str = include_str!("../peers/integrations/sentry-issues.json");

/// A request the double answered.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
}

#[derive(Clone)]
struct Shared {
    tokens: Tokens,
    /// The commit Travis's newest build is of.
    commit: Arc<Mutex<String>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// The tokens each API accepts, made at run time.
#[derive(Clone, Debug)]
pub struct Tokens {
    pub github: String,
    pub travis: String,
    pub sentry: String,
}

pub struct IntegrationDouble {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub tokens: Tokens,
    shared: Shared,
}

impl IntegrationDouble {
    pub async fn start() -> Self {
        let token = |prefix: &str| format!("{prefix}{}", uuid::Uuid::new_v4().simple());
        let tokens = Tokens {
            github: token("ghp_"),
            travis: token(""),
            sentry: token("sntryu_"),
        };
        let shared = Shared {
            tokens: tokens.clone(),
            commit: Arc::new(Mutex::new(String::new())),
            seen: Arc::new(Mutex::new(Vec::new())),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = axum::Router::new().fallback(answer).with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { base, tokens, shared }
    }

    /// Travis's newest build is of `commit` from now on.
    pub fn builds_of(&self, commit: &str) {
        *self.shared.commit.lock().unwrap() = commit.to_owned();
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }
}

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).expect("a fixture is JSON")
}

fn error(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// What a repository's name says of its builds: (GitHub status,
/// conclusion, Travis state) for the second workflow and the newest build.
fn scenario(repository: &str) -> Option<(&'static str, Option<&'static str>, &'static str)> {
    match repository {
        "oc-pizza/site-passing" => Some(("completed", Some("success"), "passed")),
        "oc-pizza/site-failing" => Some(("completed", Some("failure"), "failed")),
        "oc-pizza/site-running" => Some(("in_progress", None, "started")),
        _ => None,
    }
}

async fn answer(State(shared): State<Shared>, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or_default().to_owned();
    shared.seen.lock().unwrap().push(Seen {
        path: path.clone(),
        query: query.clone(),
        headers: headers.clone(),
    });
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let param = |name: &str| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    if let Some(rest) = path.strip_prefix("/github/repos/") {
        if header("authorization") != format!("Bearer {}", shared.tokens.github) {
            return error(
                StatusCode::UNAUTHORIZED,
                json!({ "message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401" }),
            );
        }
        let (repository, runs) = match rest.strip_suffix("/actions/runs") {
            Some(repository) => (repository, true),
            None => (rest, false),
        };
        let Some((status, conclusion, _)) = scenario(repository) else {
            return error(
                StatusCode::NOT_FOUND,
                json!({ "message": "Not Found", "documentation_url": "https://docs.github.com/rest/repos/repos#get-a-repository", "status": "404" }),
            );
        };
        if !runs {
            let mut found = fixture(GITHUB_REPOSITORY);
            found["full_name"] = json!(repository);
            found["name"] = json!(repository.split('/').nth(1));
            return Json(found).into_response();
        }
        // GitHub keeps the runs of the commit asked for.
        let sha = param("head_sha").unwrap_or_default();
        let mut found = fixture(GITHUB_RUNS);
        for run in found["workflow_runs"].as_array_mut().unwrap() {
            run["head_sha"] = json!(sha);
            run["head_commit"]["id"] = json!(sha);
        }
        found["workflow_runs"][1]["status"] = json!(status);
        found["workflow_runs"][1]["conclusion"] = json!(conclusion);
        return Json(found).into_response();
    }
    if let Some(rest) = path.strip_prefix("/travis/repo/") {
        if header("travis-api-version") != "3" {
            // Without it, the legacy API answers, which has no such path.
            return error(StatusCode::NOT_FOUND, json!({ "file": "not found" }));
        }
        if header("authorization") != format!("token {}", shared.tokens.travis) {
            return error(
                StatusCode::FORBIDDEN,
                json!({ "@type": "error", "error_type": "login_required", "error_message": "login required" }),
            );
        }
        let (slug, builds) = match rest.strip_suffix("/builds") {
            Some(slug) => (slug, true),
            None => (rest, false),
        };
        let repository = slug.replace("%2F", "/").replace("%2f", "/");
        let Some((_, _, state)) = scenario(&repository) else {
            return error(
                StatusCode::NOT_FOUND,
                json!({ "@type": "error", "error_type": "not_found", "error_message": "repository not found (or insufficient access)", "resource_type": "repository" }),
            );
        };
        if !builds {
            let mut found = fixture(TRAVIS_REPOSITORY);
            found["slug"] = json!(repository);
            return Json(found).into_response();
        }
        let mut found = fixture(TRAVIS_BUILDS);
        let newest = &mut found["builds"][0];
        newest["commit"]["sha"] = json!(shared.commit.lock().unwrap().clone());
        newest["state"] = json!(state);
        if state == "started" {
            newest["finished_at"] = Value::Null;
        }
        return Json(found).into_response();
    }
    if let Some(rest) = path.strip_prefix("/sentry/api/0/projects/") {
        if header("authorization") != format!("Bearer {}", shared.tokens.sentry) {
            return error(StatusCode::UNAUTHORIZED, json!({ "detail": "Invalid token" }));
        }
        return match rest {
            "oc-pizza/site/" => Json(fixture(SENTRY_PROJECT)).into_response(),
            "oc-pizza/site/issues/" if param("query").as_deref() == Some("is:unresolved") => {
                Json(fixture(SENTRY_ISSUES)).into_response()
            }
            _ => error(
                StatusCode::NOT_FOUND,
                json!({ "detail": "The requested resource does not exist" }),
            ),
        };
    }
    error(StatusCode::NOT_FOUND, json!({ "detail": "no such path" }))
}
