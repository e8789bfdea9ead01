//! The console's configuration: one typed struct read from flags and from the
//! environment (a `.env` file in the working directory is honoured, as the
//! operations manual suggests). The README lists every setting.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Clone, Parser)]
#[command(name = "ocpizza-console", version, about = "OC Pizza operations console")]
pub struct Config {
    /// PostgreSQL server to use. Without it, the console runs its own private
    /// cluster in the data directory (unix socket only, no TCP port).
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,

    /// The tables' owner, when DATABASE_URL is an external server: the
    /// console applies migrations as this role and grants DATABASE_URL's
    /// role only what it needs (on the audit log: read and insert). Unset:
    /// migrations run as DATABASE_URL's role.
    #[arg(long, env = "CONSOLE_MIGRATION_DATABASE_URL", hide_env_values = true, global = true)]
    pub migration_database_url: Option<String>,

    /// Seconds between two signed checkpoints of the audit chain's head
    /// (written to <data dir>/audit-checkpoints and to the log; also at
    /// shutdown).
    #[arg(long, env = "CONSOLE_AUDIT_CHECKPOINT_SECONDS", default_value_t = 60, global = true)]
    pub audit_checkpoint_seconds: u64,

    /// Who may restore a database from a backup: `operator` (operators and
    /// admins) or `admin` (admins only).
    #[arg(long, env = "CONSOLE_RESTORE_ROLE", default_value = "operator", value_parser = restore_role, global = true)]
    pub restore_role: domain::accounts::Role,

    /// A PostgreSQL server where backups are verified: the console creates a
    /// scratch database there, restores the backup into it with the local
    /// pg_restore, counts its rows, and drops it (a role allowed to CREATE
    /// and DROP databases; never the app's production server). Default: the
    /// embedded cluster, when the console runs on it.
    #[arg(long, env = "CONSOLE_VERIFY_DATABASE_URL", hide_env_values = true, global = true)]
    pub verify_database_url: Option<String>,

    /// The longest the backup scheduler and the site probes sleep between
    /// two looks at what is due (they wake at the next due slot sooner):
    /// how soon a schedule or a probe setting saved by another console
    /// process is seen.
    #[arg(long, env = "CONSOLE_SCHEDULER_SECONDS", default_value_t = 30, global = true)]
    pub scheduler_seconds: u64,

    /// PEM certificates of authorities the console trusts besides the
    /// system's, for the site probes and the alert channels (an internal
    /// authority a site's, a webhook's or an SMTP server's certificate
    /// comes from).
    #[arg(long, env = "CONSOLE_CA_FILE", global = true)]
    pub ca_file: Option<std::path::PathBuf>,

    /// Where the console reports its own errors (a Sentry DSN,
    /// `https://<key>@<host>/<project>`): error-level log events and
    /// panics, with their request id. Unset: reported to nobody.
    #[arg(long, env = "CONSOLE_SENTRY_DSN", hide_env_values = true, global = true)]
    pub sentry_dsn: Option<String>,

    /// Where the console keeps its state (the embedded cluster, its lock).
    #[arg(long, env = "CONSOLE_DATA_DIR", default_value = "data", global = true)]
    pub data_dir: PathBuf,

    /// Where database backups are kept (encrypted). Default: <data dir>/backups.
    /// Keep it off the managed host: the page warns when it is on it.
    #[arg(long, env = "CONSOLE_BACKUP_DIR", global = true, conflicts_with = "backup_s3_bucket")]
    pub backup_dir: Option<PathBuf>,

    /// Keep the backups in this bucket of an S3-compatible object storage
    /// (Linode Object Storage, any S3) instead of a directory.
    #[arg(long, env = "CONSOLE_BACKUP_S3_BUCKET", global = true)]
    pub backup_s3_bucket: Option<String>,

    /// Where in the bucket the backups go (e.g. `ocpizza-console`).
    #[arg(long, env = "CONSOLE_BACKUP_S3_PREFIX", default_value = "", global = true)]
    pub backup_s3_prefix: String,

    /// The object storage's URL (e.g. https://fr-par-1.linodeobjects.com);
    /// AWS S3 when not given.
    #[arg(long, env = "CONSOLE_BACKUP_S3_ENDPOINT", global = true)]
    pub backup_s3_endpoint: Option<String>,

    /// The object storage's region (Linode: the cluster, e.g. fr-par-1).
    #[arg(long, env = "CONSOLE_BACKUP_S3_REGION", default_value = "us-east-1", global = true)]
    pub backup_s3_region: String,

    /// The access key's id.
    #[arg(long, env = "CONSOLE_BACKUP_S3_ACCESS_KEY_ID", global = true)]
    pub backup_s3_access_key_id: Option<String>,

    /// The access key's secret: give it in the environment (a command
    /// line shows in `ps`).
    #[arg(
        long,
        env = "CONSOLE_BACKUP_S3_SECRET_ACCESS_KEY",
        hide_env_values = true,
        global = true
    )]
    pub backup_s3_secret_access_key: Option<Hidden>,

    /// The size of each part of an upload in MiB (at least 5): what one
    /// running backup holds in memory, twice, on its way to the bucket.
    #[arg(long, env = "CONSOLE_BACKUP_S3_PART_MIB", default_value_t = 8, global = true)]
    pub backup_s3_part_mib: usize,

    /// The Linode API the console calls (manual §5.1): its base URL.
    #[arg(
        long,
        env = "CONSOLE_LINODE_API_URL",
        default_value = "https://api.linode.com/v4/",
        global = true
    )]
    pub linode_api_url: String,

    /// With no Linode token stored, talk to the console's local double of
    /// the API (the demo: labelled "Linode simulé" everywhere it shows).
    #[arg(long, env = "CONSOLE_LINODE_SIMULATED", global = true)]
    pub linode_simulated: bool,

    /// How often a power job asks the API where its event stands, in
    /// milliseconds.
    #[arg(long, env = "CONSOLE_LINODE_POLL_MS", default_value_t = 2000, global = true)]
    pub linode_poll_ms: u64,

    /// The master key sealing every secret (64 hex digits). Without it, the
    /// key in <data dir>/master.key is used, generated on first start.
    #[arg(long, env = "CONSOLE_MASTER_KEY", hide_env_values = true, global = true)]
    pub master_key: Option<String>,

    /// The key before the last rotation, while consoles restart onto the new one.
    #[arg(long, env = "CONSOLE_PREVIOUS_MASTER_KEY", hide_env_values = true, global = true)]
    pub previous_master_key: Option<String>,

    /// Address and port to listen on. Defaults to cargo-leptos' site address
    /// (LEPTOS_SITE_ADDR), else 127.0.0.1:3000.
    #[arg(long, env = "CONSOLE_LISTEN", global = true)]
    pub listen: Option<SocketAddr>,

    /// The address staff type in their browser (e.g. https://console.ocpizza.fr):
    /// the only origin state-changing requests may come from, the only host
    /// requests may name, and the base of the setup link. Required when the
    /// console listens on a non-loopback address; on loopback it defaults to
    /// http://<listen address> (or http://localhost:<port>).
    #[arg(long, env = "CONSOLE_PUBLIC_URL", global = true)]
    pub public_url: Option<url::Url>,

    /// The certificate chain (PEM, the server's first) the console serves
    /// HTTPS with, itself. With CONSOLE_TLS_KEY; read again on SIGHUP.
    /// Unset: plain HTTP (behind a TLS-terminating proxy, or on loopback).
    #[arg(long, env = "CONSOLE_TLS_CERT", global = true, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The certificate's private key (PEM), readable by the console only.
    #[arg(long, env = "CONSOLE_TLS_KEY", global = true, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Whether cookies carry `Secure` and responses carry HSTS. `auto`: when
    /// the public URL is https (set it when behind a TLS-terminating proxy).
    #[arg(long, env = "CONSOLE_SECURE_COOKIES", value_enum, default_value_t = SecureCookies::Auto, global = true)]
    pub secure_cookies: SecureCookies,

    /// Take the client address from the last X-Forwarded-For hop (only
    /// behind a proxy that sets it).
    #[arg(long, env = "CONSOLE_TRUST_FORWARDED_FOR", global = true)]
    pub trust_forwarded_for: bool,

    /// Minutes of inactivity after which a session ends.
    #[arg(long, env = "CONSOLE_SESSION_IDLE_MINUTES", default_value_t = 30, global = true)]
    pub session_idle_minutes: u32,

    /// Hours after sign-in after which a session ends, active or not.
    #[arg(long, env = "CONSOLE_SESSION_ABSOLUTE_HOURS", default_value_t = 12, global = true)]
    pub session_absolute_hours: u32,

    /// Seconds between two saves of an active session's idle deadline (each
    /// save pushes it back by the idle timeout; saving at every request
    /// would write the session row at every click).
    #[arg(long, env = "CONSOLE_SESSION_REFRESH_SECONDS", default_value_t = 60, global = true)]
    pub session_refresh_seconds: u32,

    /// The bearer token `/metrics` asks for (`Authorization: Bearer <token>`),
    /// at least 32 characters. Unset: `/metrics` answers 404.
    #[arg(long, env = "CONSOLE_METRICS_TOKEN", hide_env_values = true, global = true)]
    pub metrics_token: Option<String>,

    /// Seconds to wait for a host's SSH port to answer and accept the key.
    #[arg(long, env = "CONSOLE_SSH_CONNECT_TIMEOUT", default_value_t = 10, global = true)]
    pub ssh_connect_timeout: u64,

    /// Seconds a remote command may run before it is failed.
    #[arg(long, env = "CONSOLE_SSH_COMMAND_TIMEOUT", default_value_t = 300, global = true)]
    pub ssh_command_timeout: u64,

    /// Oldest NGINX the prerequisites check accepts without a warning.
    #[arg(long, env = "CONSOLE_REQUIRED_NGINX", default_value = "1.21.6", global = true)]
    pub required_nginx: String,

    /// Oldest Gunicorn accepted without a warning.
    #[arg(long, env = "CONSOLE_REQUIRED_GUNICORN", default_value = "20.1", global = true)]
    pub required_gunicorn: String,

    /// Oldest PostgreSQL accepted without a warning.
    #[arg(long, env = "CONSOLE_REQUIRED_POSTGRESQL", default_value = "12.9", global = true)]
    pub required_postgresql: String,

    /// Log format: human-readable text, or one JSON object a line.
    #[arg(long, env = "CONSOLE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// Log filter, in tracing's EnvFilter syntax.
    #[arg(
        long,
        env = "RUST_LOG",
        default_value = "info,sqlx=warn,tower_sessions=warn",
        global = true
    )]
    pub log_filter: String,

    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Config {
    /// The command line (and environment), with `--version` naming the
    /// schema this console migrates its database to.
    pub fn parsed() -> Self {
        use clap::{CommandFactory, FromArgMatches};
        let version = format!(
            "{} (schema {})",
            env!("CARGO_PKG_VERSION"),
            domain::schema::version_of(&domain::MIGRATOR)
        );
        // Once per process: the command line keeps it until the end.
        let version: &'static str = Box::leak(version.into_boxed_str());
        let matches = Self::command().version(version).get_matches();
        Self::from_arg_matches(&matches).unwrap_or_else(|error| error.exit())
    }
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the console (the default).
    Serve,
    /// Apply the database migrations and exit.
    Migrate,
    /// Create an admin account. The password is read from the
    /// CONSOLE_ADMIN_PASSWORD variable or, failing that, from standard input.
    CreateAdmin {
        #[arg(long)]
        username: String,
    },
    /// Checks what a running install needs (data directory, master key,
    /// public URL, database and schema, secrets, each host with its pinned
    /// key, clocks): one line per check, a fix for each failure; exit 1
    /// when one fails. Changes nothing.
    Doctor,
    /// Walk the audit log's hash chain and name the first broken link.
    VerifyAudit,
    /// Re-seal every stored secret under a new master key.
    RotateMasterKey,
    /// Write the console's own state to one archive: its database (one
    /// consistent snapshot, taken while the console serves) and its audit
    /// checkpoints; with --key-output, the master key to a separate file.
    /// Run it as the console's user (the embedded database admits no one
    /// else). The site's backups are not in it: keep their directory or
    /// bucket off this server.
    BackupSelf {
        /// The archive to write (replaced if it exists; written to a
        /// temporary name first).
        #[arg(long)]
        output: PathBuf,
        /// Also write the master key here (a new file, mode 0600). Keep it
        /// apart from the archive: together they open every secret.
        #[arg(long)]
        key_output: Option<PathBuf>,
    },
    /// Bring back an archive written by backup-self into an empty database
    /// and a new data directory (a new machine), with its master key; then
    /// open the secrets and walk the audit chain.
    RestoreSelf {
        /// The archive written by backup-self.
        #[arg(long)]
        input: PathBuf,
        /// The master key written with it (or set CONSOLE_MASTER_KEY).
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Register the local staging host (scripts/staging-host) as the demo
    /// host, if no host is registered yet. Its key is pinned from the host
    /// key file on this machine.
    RegisterDemoHost {
        /// The staging host's settings file (DIR/host.env).
        #[arg(long)]
        host_env: std::path::PathBuf,
    },
    /// Serve the demo account's local double of the Linode API on a
    /// loopback address until stopped (for the browser tests: the API a
    /// real token is entered for). The token it accepts is written to
    /// --token-file, never printed.
    LinodeDouble {
        #[arg(long)]
        listen: std::net::SocketAddr,
        #[arg(long)]
        token_file: std::path::PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SecureCookies {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl Config {
    /// The domain handle this configuration describes, over `pool` (whose
    /// migrations have run). Fails when the stored secrets cannot be opened
    /// with the configured master key (see `master_key::open`).
    pub async fn console(&self, pool: sqlx::PgPool) -> anyhow::Result<domain::Console> {
        let ssh = domain::ssh::SshSettings {
            connect_timeout: std::time::Duration::from_secs(self.ssh_connect_timeout),
            command_timeout: std::time::Duration::from_secs(self.ssh_command_timeout),
            keepalive_interval: std::time::Duration::from_secs(15),
        };
        let sealer = crate::master_key::open(self, &pool).await?;
        let mut console = domain::Console::with_ssh(pool, sealer, ssh).with_backup_storage(self.backup_storage()?);
        console.backups = console.backups.clone().with_restore_role(self.restore_role);
        // The audit chain's key, opened before anything is written to the
        // log; its head is checkpointed in the data directory.
        console.audit = console.audit.clone().with_checkpoints(self.audit_checkpoints());
        console.audit.unlock(&console.secrets).await?;
        let api = domain::linode::LinodeApi::new(
            &self.linode_api_url,
            std::time::Duration::from_secs(5),
            std::time::Duration::from_secs(30),
        )
        .with_context(|| format!("CONSOLE_LINODE_API_URL: {}", self.linode_api_url))?;
        let simulator = match self.linode_simulated {
            true => Some(crate::linode_double::simulator().await?),
            false => None,
        };
        console = console.with_linode(api, simulator);
        console.linode = console
            .linode
            .clone()
            .with_poll(std::time::Duration::from_millis(self.linode_poll_ms.max(100)));
        if let Some(path) = &self.ca_file {
            let pem = std::fs::read(path).with_context(|| format!("CONSOLE_CA_FILE: {}", path.display()))?;
            console = console
                .with_trusted_roots(&pem)
                .with_context(|| format!("CONSOLE_CA_FILE holds no PEM certificate: {}", path.display()))?;
        }
        console.required_versions = domain::hosts::RequiredVersions {
            nginx: self.required_nginx.clone(),
            gunicorn: self.required_gunicorn.clone(),
            postgresql: self.required_postgresql.clone(),
        };
        Ok(console)
    }

    /// Where the backups are kept: the configured bucket, else the
    /// configured directory, else `<data dir>/backups`.
    pub fn backup_storage(&self) -> anyhow::Result<domain::storage::BackupStorage> {
        use domain::storage::{BackupStorage, S3Settings};
        let Some(bucket) = &self.backup_s3_bucket else {
            let directory = self.backup_dir.clone().unwrap_or_else(|| self.data_dir.join("backups"));
            return Ok(BackupStorage::directory(directory));
        };
        let (Some(access_key_id), Some(secret)) = (&self.backup_s3_access_key_id, &self.backup_s3_secret_access_key)
        else {
            anyhow::bail!(
                "the S3 backup storage needs its access key: CONSOLE_BACKUP_S3_ACCESS_KEY_ID and CONSOLE_BACKUP_S3_SECRET_ACCESS_KEY"
            );
        };
        Ok(BackupStorage::s3(S3Settings {
            bucket: bucket.clone(),
            prefix: self.backup_s3_prefix.clone(),
            endpoint: self.backup_s3_endpoint.clone(),
            region: self.backup_s3_region.clone(),
            access_key_id: access_key_id.clone(),
            secret_access_key: domain::secrets::Zeroizing::new(secret.0.clone()),
            part_size: self.backup_s3_part_mib.saturating_mul(1024 * 1024),
        })?)
    }

    /// Where the signed checkpoints of the audit chain are appended.
    pub fn audit_checkpoints(&self) -> domain::audit::CheckpointFile {
        domain::audit::CheckpointFile::new(self.data_dir.join("audit-checkpoints"))
    }

    pub fn listen_address(&self) -> SocketAddr {
        self.listen
            .or_else(|| std::env::var("LEPTOS_SITE_ADDR").ok().and_then(|a| a.parse().ok()))
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 3000)))
    }

    /// Refuses, in one line saying what to set, a configuration the console
    /// must not serve with.
    pub fn check_serving(&self) -> anyhow::Result<()> {
        let listen = self.listen_address();
        match &self.public_url {
            None if !listen.ip().is_loopback() => anyhow::bail!(
                "CONSOLE_PUBLIC_URL (--public-url) is required when listening on {listen}, a non-loopback address: \
                 set it to the URL staff open (e.g. https://console.example.com)"
            ),
            Some(url) if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() => {
                anyhow::bail!("CONSOLE_PUBLIC_URL must be an http:// or https:// URL with a host name, not {url}")
            }
            Some(url) if self.serves_tls() && url.scheme() != "https" => anyhow::bail!(
                "CONSOLE_PUBLIC_URL is {url} but the console serves HTTPS itself (CONSOLE_TLS_CERT): \
                 set it to the https:// address staff open"
            ),
            _ => {}
        }
        if self
            .metrics_token
            .as_ref()
            .is_some_and(|token| token.trim().chars().count() < 32)
        {
            anyhow::bail!("CONSOLE_METRICS_TOKEN must be at least 32 characters (e.g. `openssl rand -hex 32`)");
        }
        Ok(())
    }

    /// The session cookie's name: with `Secure` cookies, the `__Host-`
    /// prefix makes browsers refuse it unless it is Secure, host-only and
    /// for the whole site, so a sibling domain cannot plant or shadow it.
    pub fn session_cookie_name(&self) -> &'static str {
        if self.secure() {
            "__Host-ocpizza_session"
        } else {
            "ocpizza_session"
        }
    }

    /// Whether the console is served over HTTPS (directly or via a proxy).
    pub fn secure(&self) -> bool {
        match self.secure_cookies {
            SecureCookies::Always => true,
            SecureCookies::Never => false,
            SecureCookies::Auto => self.serves_tls() || self.public_url.as_ref().is_some_and(|u| u.scheme() == "https"),
        }
    }

    /// Whether the console terminates TLS itself (CONSOLE_TLS_CERT and
    /// CONSOLE_TLS_KEY).
    pub fn serves_tls(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
    }

    /// The scheme staff reach the listening socket with.
    pub fn scheme(&self) -> &'static str {
        if self.serves_tls() {
            "https"
        } else {
            "http"
        }
    }
}

/// The password a PostgreSQL URL carries (percent-decoded), for
/// PostgreSQL's programs, which get it in their environment.
pub fn url_password(url: &str, setting: &str) -> anyhow::Result<Option<String>> {
    let parsed = url::Url::parse(url).with_context(|| format!("{setting} is not a valid PostgreSQL URL"))?;
    parsed
        .password()
        .map(|p| {
            percent_encoding::percent_decode_str(p)
                .decode_utf8()
                .map(|p| p.into_owned())
        })
        .transpose()
        .with_context(|| format!("{setting}'s password is not valid UTF-8"))
}

/// A configuration value that never shows in a log or a `Debug` print.
#[derive(Clone)]
pub struct Hidden(pub String);

impl std::fmt::Debug for Hidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[hidden]")
    }
}

impl std::str::FromStr for Hidden {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Self(text.to_owned()))
    }
}

/// `CONSOLE_RESTORE_ROLE`: `operator` or `admin` (a viewer never restores).
fn restore_role(text: &str) -> Result<domain::accounts::Role, String> {
    use domain::accounts::Role;
    match text.parse::<Role>() {
        Ok(role @ (Role::Operator | Role::Admin)) => Ok(role),
        _ => Err("operator or admin".into()),
    }
}
