//! What the benches share: a fresh database, the console binary started on
//! it, a signed-in client, process memory readings, and `wrk` on a page.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use domain::secrets::{MasterKey, SecretBox};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Executor, PgPool};

pub const ADMIN: &str = "bench.admin";
pub const PASSWORD: &str = "a bench password of some length";

/// A database created for one bench run, dropped by [`BenchDatabase::drop_it`].
pub struct BenchDatabase {
    pub url: String,
    pub pool: PgPool,
    admin: PgPool,
    name: String,
}

impl BenchDatabase {
    pub async fn create() -> anyhow::Result<Self> {
        Self::create_as(&format!("bench_{}", std::process::id()), None).await
    }

    /// A database named `name` (a copy of `template` when given), migrated.
    pub async fn create_as(name: &str, template: Option<&str>) -> anyhow::Result<Self> {
        let admin = Self::admin().await?;
        match template {
            // A file copy: much faster than the default for a large database.
            Some(template) => {
                let copy = format!("CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY");
                alone_on(&admin, template, &copy).await?;
            }
            None => {
                admin.execute(format!("CREATE DATABASE {name}").as_str()).await?;
            }
        }
        let base = std::env::var("DATABASE_URL").expect("DATABASE_URL: see scripts/bench");
        let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
        let options: PgConnectOptions = url.parse()?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options.disable_statement_logging())
            .await?;
        domain::MIGRATOR.run(&pool).await?;
        Ok(Self {
            url,
            pool,
            admin,
            name: name.to_owned(),
        })
    }

    async fn admin() -> anyhow::Result<PgPool> {
        let base = std::env::var("DATABASE_URL").expect("DATABASE_URL: see scripts/bench");
        Ok(PgPoolOptions::new().max_connections(1).connect(&base).await?)
    }

    /// Whether a database named `name` exists.
    pub async fn exists(name: &str) -> anyhow::Result<bool> {
        Ok(
            sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)")
                .bind(name)
                .fetch_one(&Self::admin().await?)
                .await?,
        )
    }

    /// Drops the database `name` if it exists (a run interrupted while
    /// filling it).
    pub async fn drop_if_exists(name: &str) -> anyhow::Result<()> {
        Self::admin()
            .await?
            .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
            .await?;
        Ok(())
    }

    /// Closes the pool and keeps the database, renamed `name`, for later
    /// runs to copy.
    pub async fn keep_as(self, name: &str) -> anyhow::Result<()> {
        self.pool.close().await;
        alone_on(
            &self.admin,
            &self.name,
            &format!("ALTER DATABASE {} RENAME TO {name}", self.name),
        )
        .await
    }

    pub async fn drop_it(self) -> anyhow::Result<()> {
        self.pool.close().await;
        self.admin
            .execute(format!("DROP DATABASE {} WITH (FORCE)", self.name).as_str())
            .await?;
        Ok(())
    }
}

/// Runs `statement`, which needs the database `name` to itself: its
/// server processes end a moment after their connections close, and
/// autovacuum may come to look at what was just filled.
async fn alone_on(admin: &PgPool, name: &str, statement: &str) -> anyhow::Result<()> {
    let mut attempts = 0;
    loop {
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
            .bind(name)
            .execute(admin)
            .await?;
        match admin.execute(statement).await {
            Err(_) if attempts < 100 => attempts += 1,
            done => return Ok(done.map(drop)?),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The console binary, running on a bench database.
pub struct RunningConsole {
    pub child: Child,
    pub base: String,
    pub client: reqwest::Client,
    pub ready_after: Duration,
    pub master_key: MasterKey,
    pub data_dir: std::path::PathBuf,
}

impl RunningConsole {
    pub async fn start(database_url: &str) -> anyhow::Result<Self> {
        Self::start_with(database_url, &[]).await
    }

    /// Like [`RunningConsole::start`], with more settings in its environment.
    pub async fn start_with(database_url: &str, settings: &[(&str, &str)]) -> anyhow::Result<Self> {
        let binary = std::env::var("CONSOLE_BINARY").unwrap_or_else(|_| {
            let workspace = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
            let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| format!("{workspace}/target"));
            format!("{target}/release/ocpizza-console")
        });
        let master_key = MasterKey::generate();
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let started = Instant::now();
        // A data directory of its own, never the working directory's `data/`.
        let data_dir = std::env::temp_dir().join(format!("ocpizza-bench-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&data_dir)?;
        // BENCH_CONSOLE_LOG=<file>: the console's log goes there, to see
        // where its time goes (at BENCH_CONSOLE_LOG_FILTER, default info).
        let (log_level, log) = match std::env::var_os("BENCH_CONSOLE_LOG") {
            Some(path) => (
                std::env::var("BENCH_CONSOLE_LOG_FILTER").unwrap_or_else(|_| "info".into()),
                Stdio::from(std::fs::File::create(path)?),
            ),
            None => ("warn".into(), Stdio::null()),
        };
        let child = Command::new(&binary)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(&data_dir)
            .env("DATABASE_URL", database_url)
            .env("CONSOLE_MASTER_KEY", master_key.encode().as_str())
            .env("RUST_LOG", &log_level)
            .envs(settings.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()?;
        let base = format!("http://127.0.0.1:{port}");
        loop {
            if client
                .get(format!("{base}/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                break;
            }
            if started.elapsed() > Duration::from_secs(30) {
                anyhow::bail!("the console was not ready within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(Self {
            child,
            base,
            client,
            ready_after: started.elapsed(),
            master_key,
            data_dir,
        })
    }

    /// The domain handle over the same database and master key.
    pub fn console(&self, pool: &PgPool) -> domain::Console {
        domain::Console::new(pool.clone(), SecretBox::new(self.master_key.clone()))
    }

    /// Creates the bench admin and signs the client in; returns the cookie.
    pub async fn sign_in(&self, pool: &PgPool) -> anyhow::Result<String> {
        let console = self.console(pool);
        // The console keyed the audit chain; this process opens the key once
        // to write audit rows of its own.
        console.audit.unlock(&console.secrets).await?;
        console.setup.create_admin_from_cli(ADMIN, PASSWORD).await?;
        let response = self
            .client
            .post(format!("{}/sign-in", self.base))
            .header("origin", &self.base)
            .form(&[("username", ADMIN), ("password", PASSWORD), ("next", "/")])
            .send()
            .await?;
        Ok(response
            .headers()
            .get("set-cookie")
            .and_then(|c| c.to_str().ok())
            .and_then(|c| c.split(';').next())
            .unwrap_or_default()
            .to_owned())
    }

    /// The console's process id.
    pub fn child_id(&self) -> u32 {
        self.child.id()
    }

    /// A line of /proc/<pid>/status, in KiB.
    pub fn memory(&self, field: &str) -> u64 {
        status_field(&self.child.id().to_string(), field)
    }

    pub fn stop(mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

pub fn status_field(pid: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A `STAGING_*` setting (`scripts/bench` starts a staging host and exports them).
pub fn staging(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run scripts/bench"))
}

impl RunningConsole {
    /// The bench admin, as the domain knows it (after [`RunningConsole::sign_in`]).
    pub async fn admin(&self, pool: &PgPool) -> anyhow::Result<domain::accounts::Operator> {
        let (id, epoch): (i64, i32) = sqlx::query_as("SELECT id, session_epoch FROM accounts WHERE username = $1")
            .bind(ADMIN)
            .fetch_one(pool)
            .await?;
        self.console(pool)
            .accounts
            .operator_for_session(id, epoch)
            .await?
            .ok_or_else(|| anyhow::anyhow!("the bench admin is missing"))
    }

    /// Registers the staging host under `name`, its services controlled by
    /// `service_command`; returns the host's id.
    pub async fn register_staging(&self, pool: &PgPool, name: &str, service_command: String) -> anyhow::Result<i64> {
        let console = self.console(pool);
        let admin = self.admin(pool).await?;
        let port: u16 = staging("STAGING_SSH_PORT").parse()?;
        let fingerprint = console
            .hosts
            .read_host_key(&admin, "127.0.0.1", port)
            .await?
            .fingerprint;
        let registration = domain::hosts::HostRegistration {
            name: name.into(),
            ssh_address: staging("STAGING_SSH_ADDRESS"),
            ssh_port: port,
            ssh_user: staging("STAGING_SSH_USER"),
            key: domain::hosts::KeyChoice::paste(std::fs::read_to_string(staging("STAGING_SSH_KEY"))?),
            app_dir: staging("STAGING_APP_DIR"),
            web_service: "nginx".into(),
            wsgi_service: "gunicorn".into(),
            service_command,
            site_url: staging("STAGING_SITE_URL"),
        };
        Ok(console
            .hosts
            .register(&admin, &Default::default(), registration, &fingerprint)
            .await?
            .id)
    }

    /// Calls the `start_job` server function as the page does; returns the job id.
    pub async fn start_job(&self, host_id: i64, action: &str) -> anyhow::Result<i64> {
        let response = self
            .client
            .post(format!("{}/api/jobs/start", self.base))
            .header("origin", &self.base)
            .form(&[("host_id", host_id.to_string().as_str()), ("action", action)])
            .send()
            .await?;
        Ok(response.text().await?.trim().parse()?)
    }
}

/// `wrk --latency` on `url` as the signed-in `cookie`, 2 threads and 16
/// connections for `seconds`: its report.
pub fn wrk(url: &str, cookie: &str, seconds: u32) -> anyhow::Result<String> {
    wrk_with(url, &format!("Cookie: {cookie}"), seconds)
}

/// `wrk` as [`wrk`] does, sending `header` (`Name: value`) with each request.
pub fn wrk_with(url: &str, header: &str, seconds: u32) -> anyhow::Result<String> {
    let output = Command::new("wrk")
        .args(["-t2", "-c16", &format!("-d{seconds}s"), "--latency", "-H"])
        .arg(header)
        .arg(url)
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "wrk failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// BENCH_SECONDS, 10 by default: how long each measure lasts.
pub fn bench_seconds() -> u32 {
    std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
}

/// The figures of a `wrk --latency` run, a line each: requests per second,
/// the latency percentiles, and the non-2xx answers when there were any.
pub fn print_wrk_figures(text: &str) {
    let line = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .unwrap_or("?")
            .to_owned()
    };
    println!("{}", line("Requests/sec"));
    for percentile in ["50%", "75%", "90%", "99%"] {
        println!("latency p{}", line(percentile));
    }
    // wrk prints the line only when some answers were not 2xx or 3xx.
    match text.lines().map(str::trim).find(|l| l.starts_with("Non-2xx")) {
        Some(non_2xx) => println!("{non_2xx}"),
        None => println!("every answer 2xx or 3xx"),
    }
}
