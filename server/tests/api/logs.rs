//! The console's own log, in both formats and at the most talkative level,
//! after a staff member's first day: the setup link used, sign-ins (one
//! wrong), a password changed, an account created, the staging host
//! registered with a pasted private key, a job run on it. None of the
//! secrets typed in, nor the private key, nor the setup token once used,
//! may be found in it.

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
