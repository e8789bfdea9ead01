//! `spawn_app`: a console on port 0 over a test database, and the few things
//! tests do with it.

use std::sync::Arc;

use clap::Parser;
use domain::accounts::{Operator, Role};
use domain::audit::Provenance;
use domain::secrets::{MasterKey, SecretBox};
use domain::Console;
use leptos::config::LeptosOptions;
use reqwest::cookie::{CookieStore, Jar};
use reqwest::redirect::Policy;
use reqwest::{Client, Response};
use server::config::Config;
use server::startup::{Application, Database};
use sqlx::PgPool;

pub const ADMIN: &str = "admin.test";
pub const ADMIN_PASSWORD: &str = "a pizza oven at 450 degrees";
pub const OPERATOR: &str = "operateur";
pub const OPERATOR_PASSWORD: &str = "quatre fromages sans ananas";
pub const VIEWER: &str = "lecteur";
pub const VIEWER_PASSWORD: &str = "des olives noires et des capres";
/// The role the test consoles serve as (one per server; its rights are
/// granted in each test database).
pub const CONSOLE_ROLE: &str = "console_app_test";

pub struct TestApp {
    pub address: String,
    /// A superuser connection: what an attacker with the database has.
    pub pool: PgPool,
    /// The console's own connection (its restricted role).
    pub console_pool: PgPool,
    /// The console's master key (64 hex digits), for its sub-commands.
    pub master_key: String,
    pub console: Console,
    /// The console's data directory: a fresh temporary one, never the
    /// working directory's `data/`.
    pub data_dir: TempDataDir,
}

/// A port free on loopback now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A temporary directory, removed when dropped.
pub struct TempDataDir(pub std::path::PathBuf);

impl TempDataDir {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("ocpizza-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a temporary data directory");
        Self(dir)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A browser-like client: its own cookie jar, redirects not followed (tests
/// look at them).
pub struct Browser {
    pub client: Client,
    pub jar: Arc<Jar>,
    address: String,
}

pub async fn spawn_app(pool: PgPool) -> TestApp {
    spawn_app_with(pool, &[]).await
}

pub async fn spawn_app_with(pool: PgPool, args: &[&str]) -> TestApp {
    let leptos = LeptosOptions::builder().output_name("ocpizza-console").build();
    spawn_app_serving(pool, args, leptos).await
}

/// A console serving the site described by `leptos` (its files, their names).
pub async fn spawn_app_serving(pool: PgPool, args: &[&str], leptos: LeptosOptions) -> TestApp {
    spawn_app_keyed(pool, args, leptos, MasterKey::generate()).await
}

/// A second console process on `first`'s database, with its master key.
pub async fn spawn_app_beside(first: &TestApp) -> TestApp {
    spawn_app_beside_with(first, &[]).await
}

/// A second console process on `first`'s database, with `args`.
pub async fn spawn_app_beside_with(first: &TestApp, args: &[&str]) -> TestApp {
    let leptos = LeptosOptions::builder().output_name("ocpizza-console").build();
    let master_key = MasterKey::decode(&first.master_key).expect("the first console's master key");
    spawn_app_keyed(first.pool.clone(), args, leptos, master_key).await
}

/// A console on `pool` sealing with `master_key` (64 hex digits): the
/// console of a database restored elsewhere.
pub async fn spawn_app_on(pool: PgPool, master_key: &str) -> TestApp {
    let leptos = LeptosOptions::builder().output_name("ocpizza-console").build();
    let master_key = MasterKey::decode(master_key).expect("a master key");
    spawn_app_keyed(pool, &[], leptos, master_key).await
}

async fn spawn_app_keyed(pool: PgPool, args: &[&str], leptos: LeptosOptions, master_key: MasterKey) -> TestApp {
    let master_key_text = master_key.encode();
    let data_dir = TempDataDir::new();
    let data_dir_text = data_dir.path().to_str().expect("a UTF-8 temporary path").to_owned();
    let mut argv = vec![
        "ocpizza-console",
        "--listen",
        "127.0.0.1:0",
        "--master-key",
        master_key_text.as_str(),
        "--data-dir",
        data_dir_text.as_str(),
    ];
    argv.extend_from_slice(args);
    let config = Config::parse_from(argv);
    let backup_storage = config.backup_storage().expect("the backup storage's settings");
    let trusted_roots = config
        .ca_file
        .as_ref()
        .map(|path| std::fs::read(path).expect("the authorities file"));
    // The console serves as a role of its own, as in production: it may
    // read and insert the audit log, never rewrite it; the test's
    // superuser pool is the owner that migrates.
    server::database_role::create_login_role(&pool, CONSOLE_ROLE)
        .await
        .expect("the console's role");
    let console_options = (*pool.connect_options()).clone().username(CONSOLE_ROLE);
    let console_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect_with(console_options)
        .await
        .expect("the console's role connects");
    let database = Database {
        pool: console_pool.clone(),
        owner: Some(pool.clone()),
        embedded: None,
    };
    let application = Application::build_on(config, leptos, database)
        .await
        .expect("the console starts");
    let address = format!("http://{}", application.address());
    tokio::spawn(application.run_until_stopped());
    TestApp {
        address,
        console_pool,
        master_key: master_key_text.to_string(),
        console: {
            // The same audit checkpoints as the app's.
            let mut console =
                Console::new(pool.clone(), SecretBox::new(master_key)).with_backup_storage(backup_storage);
            console.audit = console
                .audit
                .clone()
                .with_checkpoints(domain::audit::CheckpointFile::new(
                    data_dir.path().join("audit-checkpoints"),
                ));
            // The same authorities as the app's (`--ca-file`).
            match &trusted_roots {
                Some(pem) => console.with_trusted_roots(pem).expect("PEM certificates"),
                None => console,
            }
        },
        pool,
        data_dir,
    }
}

impl TestApp {
    pub fn browser(&self) -> Browser {
        self.browser_named("")
    }

    /// A browser that says it is `user_agent` (none when empty).
    pub fn browser_named(&self, user_agent: &str) -> Browser {
        let jar = Arc::new(Jar::default());
        let mut client = Client::builder().cookie_provider(jar.clone()).redirect(Policy::none());
        if !user_agent.is_empty() {
            client = client.user_agent(user_agent.to_owned());
        }
        let client = client.build().expect("a client");
        Browser {
            client,
            jar,
            address: self.address.clone(),
        }
    }

    /// Creates an admin straight in the domain (as the CLI does).
    pub async fn admin(&self) -> Operator {
        self.console
            .setup
            .create_admin_from_cli(ADMIN, ADMIN_PASSWORD)
            .await
            .expect("admin created");
        self.operator_named(ADMIN).await
    }

    /// Creates an operator account, as `by` (an admin).
    pub async fn operator(&self, by: &Operator) -> Operator {
        self.console
            .accounts
            .create(by, &Provenance::default(), OPERATOR, Role::Operator, OPERATOR_PASSWORD)
            .await
            .expect("operator created");
        self.operator_named(OPERATOR).await
    }

    /// Creates a viewer account, as `by` (an admin).
    pub async fn viewer(&self, by: &Operator) -> Operator {
        self.console
            .accounts
            .create(by, &Provenance::default(), VIEWER, Role::Viewer, VIEWER_PASSWORD)
            .await
            .expect("viewer created");
        self.operator_named(VIEWER).await
    }

    async fn operator_named(&self, name: &str) -> Operator {
        let (id, epoch): (i64, i32) = sqlx::query_as("SELECT id, session_epoch FROM accounts WHERE username = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .unwrap();
        self.console
            .accounts
            .operator_for_session(id, epoch)
            .await
            .unwrap()
            .unwrap()
    }

    /// (actor, action, target, outcome) of every audit row, oldest first.
    pub async fn audit_rows(&self) -> Vec<(String, String, String, String)> {
        sqlx::query_as("SELECT actor, action, target, outcome FROM audit_log ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .unwrap()
    }

    pub async fn audit_count(&self, action: &str, outcome: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = $1 AND outcome = $2")
            .bind(action)
            .bind(outcome)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

impl Browser {
    /// What `/metrics` answers `token` (the console's metrics token).
    pub async fn metrics(&self, token: &str) -> String {
        self.get_bearing("/metrics", token).await.text().await.unwrap()
    }

    /// A GET carrying `token` as its bearer (a scraper's, a script's).
    pub async fn get_bearing(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("the console answers")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("the console answers")
    }

    /// A same-origin form post, as the console's own pages send it.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.client
            .post(self.url(path))
            .header("origin", &self.address)
            .form(form)
            .send()
            .await
            .expect("the console answers")
    }

    pub async fn sign_in(&self, username: &str, password: &str) -> Response {
        self.post_form(
            "/sign-in",
            &[("username", username), ("password", password), ("next", "/")],
        )
        .await
    }

    /// The session cookie's value, if the jar holds one.
    pub fn session_cookie(&self) -> Option<String> {
        let url = self.address.parse().unwrap();
        let header = self.jar.cookies(&url)?;
        header
            .to_str()
            .ok()?
            .split(';')
            .filter_map(|c| c.trim().split_once('='))
            .find(|(k, _)| *k == "ocpizza_session")
            .map(|(_, v)| v.to_owned())
    }
}

pub fn location(response: &Response) -> String {
    response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// Runs `statement` (with `$1` bound to `id`) as a superuser would behind
/// the audit log's triggers: what an attacker with database access could do.
pub async fn behind_the_triggers(pool: &PgPool, statement: &str, id: i64) {
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query(statement).bind(id).execute(&mut *conn).await.unwrap();
    sqlx::query("SET session_replication_role = origin")
        .execute(&mut *conn)
        .await
        .unwrap();
}

/// The response's `Set-Cookie`, lower-cased.
pub fn set_cookie(response: &Response) -> String {
    response
        .headers()
        .get("set-cookie")
        .expect("a Set-Cookie header")
        .to_str()
        .unwrap()
        .to_lowercase()
}

/// The lines a spawned console writes to its standard error (its log), as
/// they come.
pub fn log_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::{BufRead, BufReader};
    let stderr = child.stderr.take().expect("the console's stderr is piped");
    let (sender, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    lines
}

/// The console's log lines written on this test's thread (the app spawned by
/// `#[sqlx::test]` runs on the same single-threaded runtime).
pub struct CapturedLog(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLog {
    pub fn install() -> (Self, tracing::subscriber::DefaultGuard) {
        // tracing caches, once per process, whether each log line is wanted,
        // asking the thread that reaches it first. A test thread with no
        // subscriber would answer "never" for every thread, this one
        // included, and the line would be lost (tokio-rs/tracing#3611): a
        // global subscriber that keeps nothing makes every thread answer
        // "wanted", and this thread's own subscriber below writes it.
        static EVERY_THREAD_LISTENS: std::sync::Once = std::sync::Once::new();
        EVERY_THREAD_LISTENS.call_once(|| {
            tracing::subscriber::set_global_default(tracing_subscriber::registry())
                .expect("no other global subscriber in the tests");
        });
        let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = {
            let buffer = buffer.clone();
            move || CapturedLogWriter(buffer.clone())
        };
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(writer)
            .finish();
        (Self(buffer), tracing::subscriber::set_default(subscriber))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

struct CapturedLogWriter(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
