//! `ocpizza-console doctor`: what a running install needs, checked, one
//! line per check, each failure with its fix. Read-only: it changes
//! nothing (it does not migrate, generate a key, or write to a host).
//!
//! With the embedded PostgreSQL and the console running, the data
//! directory is the console's: the doctor then reaches its cluster over its
//! socket (run as the console's user), or, failing that, checks the
//! console's own `/healthz` and says the checks that need the database
//! (schema, secrets, hosts, clocks) are skipped.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use domain::audit::{Actor, Provenance};
use domain::schema::{database_version, version_of};
use sqlx::PgPool;

use crate::config::Config;
use crate::startup::Database;

/// Clocks further apart than this break TOTP codes, TLS and the audit
/// log's order.
const CLOCK_SKEW: i64 = 30;

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass(String),
    Fail { problem: String, fix: String },
    Skipped(String),
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub check: String,
    pub outcome: Outcome,
}

impl Line {
    fn pass(check: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            check: check.into(),
            outcome: Outcome::Pass(detail.into()),
        }
    }

    fn fail(check: impl Into<String>, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            check: check.into(),
            outcome: Outcome::Fail {
                problem: problem.into(),
                fix: fix.into(),
            },
        }
    }

    fn skipped(check: impl Into<String>, why: impl Into<String>) -> Self {
        Self {
            check: check.into(),
            outcome: Outcome::Skipped(why.into()),
        }
    }

    pub fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Fail { .. })
    }
}

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.outcome {
            Outcome::Pass(detail) => write!(f, "ok    {}: {detail}", self.check),
            Outcome::Fail { problem, fix } => write!(f, "FAIL  {}: {problem}\n      fix: {fix}", self.check),
            Outcome::Skipped(why) => write!(f, "skip  {}: {why}", self.check),
        }
    }
}

/// Every check, in order.
pub async fn examine(config: &Config) -> Vec<Line> {
    let directory = data_directory(&config.data_dir);
    let key = master_key(config);
    // Read-only: the embedded cluster is not created in a directory that is
    // not right, and the secrets are not opened (which would generate a
    // key) without a usable one.
    let embedded_unusable = config.database_url.is_none() && directory.failed();
    let key_usable = !key.failed();
    let mut lines = vec![directory, key, public_url(config), tls(config)];
    if embedded_unusable {
        lines.push(Line::skipped("database", "the data directory holding it is not right"));
        return lines;
    }
    match open_database(config).await {
        Ok(database) => {
            lines.push(Line::pass("database", "PostgreSQL answers"));
            lines.extend(with_database(config, &database, key_usable).await);
            if let Err(error) = database.close().await {
                tracing::warn!(%error, "could not close the database");
            }
        }
        Err(Unavailable::HeldByTheConsole(line)) => {
            lines.push(line);
            for check in ["schema", "clock: database", "secrets", "hosts"] {
                lines.push(Line::skipped(check, "the running console holds the embedded database"));
            }
        }
        Err(Unavailable::Failed(line)) => lines.push(line),
    }
    lines
}

fn data_directory(dir: &Path) -> Line {
    const CHECK: &str = "data directory";
    let shown = dir.display();
    let metadata = match std::fs::metadata(dir) {
        Ok(metadata) => metadata,
        Err(error) => {
            return Line::fail(
                CHECK,
                format!("{shown}: {error}"),
                format!("create it for the console's user: install -d -m 700 {shown}"),
            )
        }
    };
    let me = nix::unistd::Uid::effective().as_raw();
    if metadata.uid() != me {
        return Line::fail(
            CHECK,
            format!(
                "{shown} belongs to uid {}, the console runs as uid {me}",
                metadata.uid()
            ),
            format!("chown -R {me} {shown}"),
        );
    }
    let mode = metadata.permissions().mode() & 0o777;
    // 0711 is what the embedded cluster sets when PostgreSQL runs as its own
    // user (it must pass through, never list or write).
    if mode & 0o066 != 0 {
        return Line::fail(
            CHECK,
            format!("{shown} has mode {mode:04o}: other users may read or write it"),
            format!("chmod 700 {shown}"),
        );
    }
    Line::pass(CHECK, format!("{shown}, mode {mode:04o}, owned by the console's user"))
}

fn master_key(config: &Config) -> Line {
    const CHECK: &str = "master key";
    if let Some(text) = &config.master_key {
        return match domain::secrets::MasterKey::decode(text) {
            Ok(_) => Line::pass(CHECK, "from CONSOLE_MASTER_KEY"),
            Err(_) => Line::fail(
                CHECK,
                "CONSOLE_MASTER_KEY is not 64 hex digits",
                "set it to the key backed up with this database",
            ),
        };
    }
    let path = config.data_dir.join("master.key");
    let shown = path.display();
    let metadata = match std::fs::metadata(&path) {
        Ok(metadata) => metadata,
        Err(_) => {
            return Line::fail(
                CHECK,
                format!("{shown} is missing"),
                format!(
                    "restore the master key backed up with this database to {shown} (mode 600); a new one is \
                     generated at start only while the database holds no secret"
                ),
            )
        }
    };
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Line::fail(
            CHECK,
            format!("{shown} has mode {mode:04o}: other users may read the key that opens every secret"),
            format!("chmod 600 {shown}"),
        );
    }
    let me = nix::unistd::Uid::effective().as_raw();
    if metadata.uid() != me {
        return Line::fail(
            CHECK,
            format!("{shown} belongs to uid {}, not the console's", metadata.uid()),
            format!("chown {me} {shown}"),
        );
    }
    match std::fs::read_to_string(&path).map(|text| domain::secrets::MasterKey::decode(text.trim())) {
        Ok(Ok(_)) => Line::pass(CHECK, format!("{shown}, mode {mode:04o}")),
        _ => Line::fail(
            CHECK,
            format!("{shown} does not hold a key (64 hex digits)"),
            "restore the master key backed up with this database",
        ),
    }
}

fn public_url(config: &Config) -> Line {
    const CHECK: &str = "public URL";
    let listen = config.listen_address();
    match &config.public_url {
        None if listen.ip().is_loopback() && config.serves_tls() => Line::pass(
            CHECK,
            format!("none, listening on https://{listen} (this machine only): Secure cookies and HSTS"),
        ),
        None if listen.ip().is_loopback() => Line::pass(
            CHECK,
            format!("none, listening on {listen} (this machine only): cookies are not marked Secure"),
        ),
        None => Line::fail(
            CHECK,
            format!("CONSOLE_PUBLIC_URL is not set while listening on {listen}"),
            "set CONSOLE_PUBLIC_URL to the https:// address staff open (see the README's TLS section)",
        ),
        Some(url) if url.scheme() == "https" && config.secure() => {
            Line::pass(CHECK, format!("{url}: Secure cookies and HSTS"))
        }
        Some(url) if url.scheme() == "https" => Line::fail(
            CHECK,
            format!("{url} is https but CONSOLE_SECURE_COOKIES=never"),
            "remove CONSOLE_SECURE_COOKIES (auto follows the URL)",
        ),
        Some(url) if url.host_str().is_some_and(is_loopback_host) => {
            Line::pass(CHECK, format!("{url} (this machine only)"))
        }
        Some(url) => Line::fail(
            CHECK,
            format!("{url} is plain HTTP: passwords and session cookies cross the network in clear"),
            "serve the console over HTTPS (NGINX in front, see the README) and set CONSOLE_PUBLIC_URL to https://…",
        ),
    }
}

/// The certificate the console serves HTTPS with, when it does: readable,
/// matching its key, the key private, and not about to expire.
fn tls(config: &Config) -> Line {
    const CHECK: &str = "TLS";
    let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) else {
        return match &config.public_url {
            Some(url) if url.scheme() == "https" => {
                Line::pass(CHECK, "terminated in front of the console (the public URL is https)")
            }
            _ => Line::skipped(CHECK, "not served by the console (no CONSOLE_TLS_CERT)"),
        };
    };
    if let Ok(metadata) = std::fs::metadata(key) {
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o007 != 0 {
            return Line::fail(
                CHECK,
                format!(
                    "{} has mode {mode:04o}: other users may read the certificate's key",
                    key.display()
                ),
                format!("chmod 640 {}", key.display()),
            );
        }
    }
    let certificates = match crate::tls::Certificates::load(cert, key) {
        Ok(certificates) => certificates,
        Err(error) => {
            return Line::fail(
                CHECK,
                format!("{error:#}"),
                "give CONSOLE_TLS_CERT the certificate chain (PEM, the server's first) and CONSOLE_TLS_KEY its key",
            )
        }
    };
    let Some(not_after) = certificates.not_after() else {
        return Line::pass(
            CHECK,
            format!("serving {} (its end of validity is unreadable)", cert.display()),
        );
    };
    let days = (not_after - time::OffsetDateTime::now_utc()).whole_days();
    if days < RENEW_WITHIN_DAYS {
        return Line::fail(
            CHECK,
            format!(
                "the certificate in {} expires in {days} days ({not_after})",
                cert.display()
            ),
            "renew it (your ACME client, e.g. certbot renew), then `systemctl reload ocpizza-console` (SIGHUP)",
        );
    }
    Line::pass(
        CHECK,
        format!("the console serves HTTPS; its certificate is valid {days} more days"),
    )
}

/// A certificate expiring sooner than this fails the check: ACME clients
/// renew 30 days ahead, so it means renewals stopped.
const RENEW_WITHIN_DAYS: i64 = 14;

fn is_loopback_host(host: &str) -> bool {
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

enum Unavailable {
    /// The running console holds the embedded database (its line said so).
    HeldByTheConsole(Line),
    Failed(Line),
}

async fn open_database(config: &Config) -> Result<Database, Unavailable> {
    match Database::open(config).await {
        Ok(database) => Ok(database),
        Err(error) if config.database_url.is_none() && format!("{error:#}").contains("already running") => {
            // The running console's own cluster, over its socket (which
            // admits the console's user: the doctor run as that user).
            if let Ok(Some(options)) = crate::embedded_postgres::running_in(&config.data_dir) {
                if let Ok(pool) = sqlx::PgPool::connect_with(options).await {
                    return Ok(Database {
                        pool,
                        owner: None,
                        embedded: None,
                    });
                }
            }
            Err(Unavailable::HeldByTheConsole(running_console(config).await))
        }
        Err(error) => Err(Unavailable::Failed(Line::fail(
            "database",
            format!("{error:#}"),
            match config.database_url {
                Some(_) => "check DATABASE_URL (host, port, role, password) and that PostgreSQL runs",
                None => "check that PostgreSQL's programs are installed (apt-get install postgresql)",
            },
        ))),
    }
}

/// The database as the running console sees it: its `/healthz`.
async fn running_console(config: &Config) -> Line {
    let url = format!("{}://{}/healthz", config.scheme(), config.listen_address());
    let answer = async {
        // Its own listening socket, by address: the certificate names the
        // public host, not this address; only liveness is asked.
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .danger_accept_invalid_certs(true)
            .build()?;
        let body = client.get(&url).send().await?.bytes().await?;
        Ok::<_, reqwest::Error>(serde_json::from_slice::<serde_json::Value>(&body).unwrap_or_default())
    }
    .await;
    match answer {
        Ok(body) if body["database"] == true => {
            Line::pass("database", format!("the running console reaches it ({url})"))
        }
        Ok(body) => Line::fail(
            "database",
            format!("the running console says: {body}"),
            "read the service's log (journalctl -u ocpizza-console)",
        ),
        Err(error) => Line::fail(
            "database",
            format!("a console holds the data directory but {url} does not answer: {error}"),
            "restart the service (systemctl restart ocpizza-console)",
        ),
    }
}

async fn with_database(config: &Config, database: &Database, key_usable: bool) -> Vec<Line> {
    let pool = &database.pool;
    let mut lines = vec![schema(pool).await, database_clock(pool).await];
    if !key_usable {
        lines.push(Line::skipped("secrets", "no usable master key (above)"));
        lines.push(Line::skipped("hosts", "no usable master key (above)"));
        return lines;
    }
    let console = match config.console(pool.clone()).await {
        Ok(console) => console,
        Err(error) => {
            lines.push(Line::fail(
                "secrets",
                format!("{error:#}"),
                "restore the master key backed up with this database",
            ));
            return lines;
        }
    };
    lines.push(match console.secrets.readability().await {
        Ok((total, 0)) => Line::pass("secrets", format!("the master key opens all {total}")),
        Ok((total, unreadable)) => Line::fail(
            "secrets",
            format!("{unreadable} of {total} sealed under another key"),
            "restore the master key backed up with this database",
        ),
        Err(error) => Line::fail("secrets", error.to_string(), "check the database"),
    });
    match console.hosts.list().await {
        Ok(hosts) if hosts.is_empty() => lines.push(Line::skipped("hosts", "none registered")),
        Ok(hosts) => {
            for host in hosts {
                lines.push(host_line(&console, &host).await);
            }
        }
        Err(error) => lines.push(Line::fail("hosts", error.to_string(), "check the database")),
    }
    lines
}

async fn schema(pool: &PgPool) -> Line {
    let console = version_of(&domain::MIGRATOR);
    match database_version(pool).await {
        Ok(version) if version == console => Line::pass("schema", format!("{version}, this console's")),
        Ok(version) if version < console => Line::fail(
            "schema",
            format!("{version}, older than this console's {console}"),
            "start the service (it migrates at start) or run `ocpizza-console migrate`",
        ),
        Ok(version) => Line::fail(
            "schema",
            format!("{version}, newer than this console's {console}: a newer console migrated it"),
            "install the newer version of the console again",
        ),
        Err(error) => Line::fail("schema", error.to_string(), "check the database"),
    }
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn clock_line(check: String, theirs: i64) -> Line {
    let skew = theirs - now_unix();
    if skew.abs() <= CLOCK_SKEW {
        Line::pass(check, format!("within {}s of this machine", skew.abs()))
    } else {
        Line::fail(
            check,
            format!("{skew:+}s from this machine's clock"),
            "keep both clocks in sync (systemd-timesyncd or chrony)",
        )
    }
}

async fn database_clock(pool: &PgPool) -> Line {
    match sqlx::query_scalar::<_, f64>("SELECT extract(epoch FROM now())::float8")
        .fetch_one(pool)
        .await
    {
        Ok(theirs) => clock_line("clock: database".into(), theirs as i64),
        Err(error) => Line::fail("clock: database", error.to_string(), "check the database"),
    }
}

/// A host reached with its pinned key, and its clock.
async fn host_line(console: &domain::Console, host: &domain::hosts::Host) -> Line {
    let check = format!("host {}", host.name.as_str());
    let session = match console
        .hosts
        .connect(host, &Actor::System, &Provenance::default())
        .await
    {
        Ok(session) => session,
        Err(error) => {
            return Line::fail(
                check,
                error.to_string(),
                "check the host's address and sshd, and that its key is the one pinned (Serveur page)",
            )
        }
    };
    let date = domain::ssh::RemoteCommand::program("date").fixed("+%s");
    let answer = session.answer(&date).await;
    session.close().await;
    match answer {
        Ok((Some(0), lines)) => match lines.first().and_then(|l| l.trim().parse::<i64>().ok()) {
            Some(theirs) => match clock_line(check.clone(), theirs) {
                Line {
                    outcome: Outcome::Pass(detail),
                    ..
                } => Line::pass(check, format!("reached with its pinned key; clock {detail}")),
                failed => failed,
            },
            None => Line::fail(check, "`date +%s` answered nothing readable", "check the host's shell"),
        },
        Ok((code, _)) => Line::fail(
            check,
            format!("`date +%s` ended with {code:?}"),
            "check the host's shell",
        ),
        Err(error) => Line::fail(check, error.to_string(), "check the host's sshd"),
    }
}
