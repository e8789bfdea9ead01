//! The console's own log, in both formats and at the most talkative level,
//! after a staff member's first day: the setup link used, sign-ins (one
//! wrong), a password changed, an account created, the staging host
//! registered with a pasted private key, a job run on it. None of the
//! secrets typed in, nor the private key, nor the setup token once used,
//! may be found in it. Its errors reach Sentry when a DSN is set (a local
//! double of Sentry's envelope endpoint), and nobody otherwise.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::redirect::Policy;
use sqlx::PgPool;

const ADMIN: &str = "chef.journal";
const ADMIN_PASSWORD: &str = "four a bois allume des sept heures";
const NEW_ADMIN_PASSWORD: &str = "pate reposee quarante huit heures";
const WRONG_PASSWORD: &str = "reine sans jambon ni champignons";
const OPERATOR_PASSWORD: &str = "mozzarella di bufala campana";

fn staging(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run the tests through scripts/test"))
}

/// The running binary and every line it wrote to its log so far.
struct LoggedConsole {
    child: Child,
    base: String,
    log: Arc<Mutex<Vec<String>>>,
    data_dir: std::path::PathBuf,
}

impl LoggedConsole {
    fn start(database_url: &str, format: &str) -> Self {
        Self::start_with(database_url, format, &[])
    }

    /// The binary with `env` besides the database's URL.
    fn start_with(database_url: &str, format: &str, env: &[(&str, String)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let data_dir = std::env::temp_dir().join(format!("ocpizza-logs-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&data_dir).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_ocpizza-console"))
            .args(["--listen", &format!("127.0.0.1:{port}"), "--log-format", format])
            .arg("--data-dir")
            .arg(&data_dir)
            .env("DATABASE_URL", database_url)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "trace")
            .stderr(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stderr.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stdout.take().unwrap()),
        ] {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    log.lock().unwrap().push(line);
                }
            });
        }
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
            data_dir,
        }
    }

    fn text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    async fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(line) = self.log.lock().unwrap().iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {needle:?}:\n{}",
                self.text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for LoggedConsole {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// The URL of the database `pool` is on (a fresh one per test).
async fn url_of(pool: &PgPool) -> String {
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await
        .unwrap();
    let mut url = url::Url::parse(&staging("DATABASE_URL")).unwrap();
    url.set_path(&name);
    url.to_string()
}

/// A staff member's first day, through the console's HTTP interface.
async fn first_day(console: &LoggedConsole, pool: &PgPool) -> String {
    let line = console.wait_for("/setup?token=").await;
    let token = line
        .split("token=")
        .nth(1)
        .unwrap()
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect::<String>();
    console.wait_for("listening on").await;
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let post = |path: &str, form: Vec<(&str, String)>| {
        client
            .post(format!("{}{path}", console.base))
            .header("origin", &console.base)
            .form(&form)
            .send()
    };
    let created = post(
        "/setup",
        vec![
            ("token", token.clone()),
            ("username", ADMIN.into()),
            ("password", ADMIN_PASSWORD.into()),
            ("password_confirmation", ADMIN_PASSWORD.into()),
        ],
    )
    .await
    .unwrap();
    assert!(created.headers()["location"].to_str().unwrap().contains("created=1"));
    // The used link, tried again.
    let _ = client
        .get(format!("{}/setup?token={token}", console.base))
        .send()
        .await
        .unwrap();

    let sign_in = |password: &str| {
        post(
            "/sign-in",
            vec![
                ("username", ADMIN.into()),
                ("password", password.into()),
                ("next", "/".into()),
            ],
        )
    };
    sign_in(WRONG_PASSWORD).await.unwrap();
    let signed_in = sign_in(ADMIN_PASSWORD).await.unwrap();
    assert_eq!(signed_in.headers()["location"], "/", "the admin is signed in");

    let changed = post(
        "/api/me/password",
        vec![
            ("current_password", ADMIN_PASSWORD.into()),
            ("new_password", NEW_ADMIN_PASSWORD.into()),
            ("confirmation", NEW_ADMIN_PASSWORD.into()),
        ],
    )
    .await
    .unwrap();
    assert!(
        changed.status().is_success() || changed.status().is_redirection(),
        "{changed:?}"
    );
    sign_in(NEW_ADMIN_PASSWORD).await.unwrap();
    let created = post(
        "/api/accounts/create",
        vec![
            ("username", "pizzaiolo".into()),
            ("role", "operator".into()),
            ("password", OPERATOR_PASSWORD.into()),
        ],
    )
    .await
    .unwrap();
    assert!(created.status().is_success(), "{:?}", created.text().await);

    let fingerprint = String::from_utf8(
        Command::new("ssh-keygen")
            .args(["-lf", &staging("STAGING_HOST_KEY")])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .split_whitespace()
    .nth(1)
    .unwrap()
    .to_owned();
    let private_key = std::fs::read_to_string(staging("STAGING_SSH_KEY")).unwrap();
    let registered = post(
        "/api/hosts/register",
        vec![
            ("form[name]", "staging".into()),
            ("form[ssh_address]", staging("STAGING_SSH_ADDRESS")),
            ("form[ssh_port]", staging("STAGING_SSH_PORT")),
            ("form[ssh_user]", staging("STAGING_SSH_USER")),
            ("form[private_key]", private_key.clone()),
            ("form[app_dir]", staging("STAGING_APP_DIR")),
            ("form[web_service]", "nginx".into()),
            ("form[wsgi_service]", "gunicorn".into()),
            ("form[service_command]", staging("STAGING_SERVICE_COMMAND")),
            ("form[site_url]", staging("STAGING_SITE_URL")),
            ("form[fingerprint]", fingerprint),
        ],
    )
    .await
    .unwrap();
    let status = registered.status();
    let body = registered.text().await.unwrap();
    assert!(status.is_success(), "the host is registered: {status} {body}");
    let host_id: i64 = body.trim().parse().unwrap();
    // A job on it: the key is opened and used.
    let started = post(
        "/api/jobs/start",
        vec![
            ("host_id", host_id.to_string()),
            ("action", "host.check_prerequisites".into()),
        ],
    )
    .await
    .unwrap();
    assert!(started.status().is_success(), "{:?}", started.text().await);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status: String = sqlx::query_scalar("SELECT status FROM jobs ORDER BY id DESC LIMIT 1")
            .fetch_one(pool)
            .await
            .unwrap();
        if status == "succeeded" {
            break;
        }
        assert!(
            Instant::now() < deadline && matches!(status.as_str(), "queued" | "running"),
            "the check ended {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    token
}

/// The 40-character pieces of a private key's body: any of them in the log
/// means the key leaked, whatever the line breaks or escaping around it.
fn key_pieces(private_key: &str) -> Vec<String> {
    let body: String = private_key.lines().filter(|line| !line.starts_with("-----")).collect();
    body.as_bytes()
        .chunks(40)
        .filter(|piece| piece.len() == 40)
        .map(|piece| String::from_utf8(piece.to_vec()).unwrap())
        .collect()
}

async fn assert_clean_log(pool: PgPool, format: &str) {
    let console = LoggedConsole::start(&url_of(&pool).await, format);
    let token = first_day(&console, &pool).await;
    let log = console.text();
    assert!(log.lines().count() > 20, "the log was written at trace level:\n{log}");

    for password in [ADMIN_PASSWORD, NEW_ADMIN_PASSWORD, WRONG_PASSWORD, OPERATOR_PASSWORD] {
        assert!(!log.contains(password), "a password is in the {format} log");
        let encoded: String = url::form_urlencoded::byte_serialize(password.as_bytes()).collect();
        assert!(
            !log.contains(&encoded),
            "a password (form-encoded) is in the {format} log"
        );
    }
    let private_key = std::fs::read_to_string(staging("STAGING_SSH_KEY")).unwrap();
    for piece in key_pieces(&private_key) {
        assert!(!log.contains(&piece), "the private key is in the {format} log");
        let encoded: String = url::form_urlencoded::byte_serialize(piece.as_bytes()).collect();
        assert!(
            !log.contains(&encoded),
            "the private key (form-encoded) is in the {format} log"
        );
    }
    // The token is printed once, to be used; never again once it has been.
    let mentions = log.lines().filter(|line| line.contains(&token)).count();
    assert_eq!(mentions, 1, "the setup token is in the {format} log after use:\n{log}");
}

#[sqlx::test]
async fn the_text_log_never_holds_a_password_a_private_key_or_a_used_setup_token(pool: PgPool) {
    assert_clean_log(pool, "text").await;
}

#[sqlx::test]
async fn the_json_log_never_holds_a_password_a_private_key_or_a_used_setup_token(pool: PgPool) {
    assert_clean_log(pool, "json").await;
}

/// A double of Sentry's envelope endpoint (`POST /api/<project>/envelope/`)
/// keeping every envelope; its DSN.
async fn sentry_double() -> (String, Arc<Mutex<Vec<String>>>) {
    let envelopes = Arc::new(Mutex::new(Vec::new()));
    let kept = envelopes.clone();
    let router = axum::Router::new().route(
        "/api/42/envelope/",
        axum::routing::post(move |body: axum::body::Bytes| {
            let kept = kept.clone();
            async move {
                kept.lock().unwrap().push(String::from_utf8_lossy(&body).into_owned());
                axum::Json(serde_json::json!({ "id": uuid::Uuid::new_v4().simple().to_string() }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dsn = format!(
        "http://0123456789abcdef0123456789abcdef@{}/42",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (dsn, envelopes)
}

/// Signs the admin in on `console`; a client keeping its session.
async fn signed_in(console: &LoggedConsole) -> reqwest::Client {
    console.wait_for("listening on").await;
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let signed_in = client
        .post(format!("{}/sign-in", console.base))
        .header("origin", &console.base)
        .form(&[("username", ADMIN), ("password", ADMIN_PASSWORD), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.headers()["location"], "/", "the admin is signed in");
    client
}

/// A request that fails inside the console (the table it reads was moved
/// away): 500, and the request id the operator is shown.
async fn failing_request(console: &LoggedConsole, client: &reqwest::Client) -> String {
    let failed = client
        .post(format!("{}/api/integrations", console.base))
        .header("origin", &console.base)
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 500);
    failed.headers()["x-request-id"].to_str().unwrap().to_owned()
}

#[sqlx::test(migrations = "../migrations")]
async fn the_consoles_own_errors_are_reported_to_sentry_when_a_dsn_is_set_and_to_nobody_otherwise(pool: PgPool) {
    let (dsn, envelopes) = sentry_double().await;
    let url = url_of(&pool).await;
    let key = domain::secrets::MasterKey::generate().encode().to_string();
    let created = Command::new(env!("CARGO_BIN_EXE_ocpizza-console"))
        .args(["create-admin", "--username", ADMIN])
        .env("DATABASE_URL", &url)
        .env("CONSOLE_MASTER_KEY", &key)
        .env("CONSOLE_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));

    let reporting = LoggedConsole::start_with(
        &url,
        "text",
        &[("CONSOLE_MASTER_KEY", key.clone()), ("CONSOLE_SENTRY_DSN", dsn.clone())],
    );
    reporting.wait_for("errors are reported to Sentry").await;
    let client = signed_in(&reporting).await;
    sqlx::query("ALTER TABLE integrations RENAME TO integrations_moved")
        .execute(&pool)
        .await
        .unwrap();
    let request_id = failing_request(&reporting, &client).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let report = loop {
        let found = envelopes
            .lock()
            .unwrap()
            .iter()
            .find(|e| e.contains(&request_id))
            .cloned();
        if let Some(report) = found {
            break report;
        }
        assert!(
            Instant::now() < deadline,
            "no report of request {request_id} reached Sentry"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // An event (Sentry's level defaults to error) of the log's error.
    assert!(report.contains("{\"type\":\"event\""), "{report}");
    assert!(report.contains("\"message\":\"request failed\""), "{report}");
    assert!(!report.contains(ADMIN_PASSWORD), "no secret in a report");
    assert!(!report.contains(&key), "no secret in a report");
    drop(reporting);

    // No DSN: the same failure is logged, and reported to nobody.
    let reports = envelopes.lock().unwrap().len();
    let quiet = LoggedConsole::start_with(&url, "text", &[("CONSOLE_MASTER_KEY", key.clone())]);
    quiet.wait_for("errors are reported to nobody").await;
    let client = signed_in(&quiet).await;
    let request_id = failing_request(&quiet, &client).await;
    quiet.wait_for(&request_id).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(envelopes.lock().unwrap().len(), reports, "nothing sent");
    sqlx::query("ALTER TABLE integrations_moved RENAME TO integrations")
        .execute(&pool)
        .await
        .unwrap();
}
