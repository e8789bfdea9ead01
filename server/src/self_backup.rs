//! `backup-self` and `restore-self`: the console's own state, kept so that
//! the console survives the loss of the server it runs on.
//!
//! The archive is a tar file of three members:
//! - `manifest.json`: the format, the console's version, the schema, when it
//!   was written, the id of the master key the secrets are sealed under
//!   (never the key), and each member's SHA-256;
//! - `audit-checkpoints`: the signed checkpoints of the audit chain's head,
//!   read *before* the dump begins, so every checkpoint names a row the dump
//!   holds and `verify-audit` passes on the restored copy;
//! - `console.dump`: `pg_dump --format=custom` of the console's database,
//!   one consistent snapshot taken while the console keeps serving
//!   (sessions left out: staff sign in again after a restore).
//!
//! The master key is written apart (`--key-output`): whoever holds the
//! archive and the key reads every secret, so they are kept in different
//! places. The backups of the managed site are not in the archive: they
//! live in the backup directory or bucket, which is kept off this server.
//!
//! `restore-self` checks everything it can before it changes anything (the
//! archive's checksums, its schema against this console's, the key against
//! the manifest, an empty database and data directory), restores in one
//! transaction, installs the key and the checkpoints, applies the newer
//! migrations, then opens the secrets and walks the audit chain, and says
//! what it found.
//!
//! Both land in the audit log, as any action does: `console.backup` in the
//! backed-up console's log once the archive is written (or failed), so the
//! archive never holds its own record; `console.restore` as the first row
//! the restored log adds, after its chain was walked.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use domain::audit::{Actor, AuditAction, AuditEntry, ChainStatus, Outcome};
use domain::backups::libpq;
use domain::secrets::MasterKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::postgres::PgConnectOptions;

use crate::config::Config;
use crate::embedded_postgres::{self, EmbeddedPostgres};
use crate::master_key;
use crate::startup::Database;

const FORMAT: u32 = 1;
const MANIFEST: &str = "manifest.json";
const CHECKPOINTS: &str = "audit-checkpoints";
const DUMP: &str = "console.dump";
/// The sessions' rows, left out of the dump (their table is kept).
const SESSIONS: &str = "tower_sessions.session";

/// What the archive says of itself.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub console_version: String,
    pub schema: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub written_at: time::OffsetDateTime,
    /// The master key's id (a digest of it, never the key).
    pub master_key_id: String,
    pub dump_sha256: String,
    pub dump_bytes: u64,
    /// Absent when the data directory held no checkpoint yet.
    pub checkpoints_sha256: Option<String>,
}

/// A PostgreSQL server reached as the tables' owner, for PostgreSQL's own
/// programs.
struct Owner {
    options: PgConnectOptions,
    password: Option<String>,
}

impl Owner {
    /// The owner of an external database: CONSOLE_MIGRATION_DATABASE_URL,
    /// else DATABASE_URL.
    fn external(config: &Config) -> Result<Option<Self>> {
        let (url, setting) = match (&config.migration_database_url, &config.database_url) {
            (Some(url), _) => (url, "CONSOLE_MIGRATION_DATABASE_URL"),
            (None, Some(url)) => (url, "DATABASE_URL"),
            (None, None) => return Ok(None),
        };
        Ok(Some(Self {
            options: url
                .parse()
                .with_context(|| format!("{setting} is not a valid PostgreSQL URL"))?,
            password: crate::config::url_password(url, setting)?,
        }))
    }

    fn embedded(options: PgConnectOptions) -> Self {
        Self {
            options,
            password: None,
        }
    }

    fn command(&self, program: &Path) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(program);
        for inherited in libpq::INHERITED {
            command.env_remove(inherited);
        }
        command
            .envs(libpq::environment(&self.options, self.password.as_deref()))
            .arg("--no-password")
            .kill_on_drop(true);
        command
    }
}

/// `backup-self`: writes the archive to `output` (atomically: a partial
/// file never takes its name) and, when asked, the master key to
/// `key_output`. Runs beside a serving console.
pub async fn backup(config: &Config, output: &Path, key_output: Option<&Path>) -> Result<Manifest> {
    let key = master_key::current(config)?.with_context(|| {
        format!(
            "no master key: neither CONSOLE_MASTER_KEY nor {}/master.key (has this console ever started?)",
            config.data_dir.display()
        )
    })?;
    if let Some(path) = key_output {
        ensure!(
            !path.exists(),
            "{} exists already: the key is written to a new file only",
            path.display()
        );
    }
    // Read before the dump begins: every checkpoint then names a row the
    // dump holds.
    let checkpoints = match fs::read(config.data_dir.join(CHECKPOINTS)) {
        Ok(bytes) => Some(bytes),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => return Err(error).context("reading the audit checkpoints"),
    };
    let partial_dump = sibling(output, ".dump.partial");
    let database = ReachedDatabase::reach(config).await?;
    let written = async {
        let schema = database.dump(&partial_dump).await?;
        let (dump_sha256, dump_bytes) = digest_file(&partial_dump)?;
        let manifest = Manifest {
            format: FORMAT,
            console_version: env!("CARGO_PKG_VERSION").to_owned(),
            schema,
            written_at: time::OffsetDateTime::now_utc(),
            master_key_id: key.id_hex(),
            dump_sha256,
            dump_bytes,
            checkpoints_sha256: checkpoints.as_deref().map(|bytes| hex::encode(Sha256::digest(bytes))),
        };
        write_archive(output, &manifest, checkpoints.as_deref(), &partial_dump)?;
        if let Some(path) = key_output {
            master_key::export(path, &key)?;
        }
        anyhow::Ok(manifest)
    }
    .await;
    let _ = fs::remove_file(&partial_dump);
    // In the log either way (after the dump: the archive does not hold its
    // own record); a failure the log cannot take is still the one said.
    let entry = match &written {
        Ok(manifest) => AuditEntry::new(
            Actor::System,
            AuditAction::ConsoleBackup,
            &output.display().to_string(),
            Outcome::Success,
        )
        .detail("schema", manifest.schema)
        .detail("dump_bytes", manifest.dump_bytes)
        .detail("master_key_written", key_output.is_some()),
        Err(error) => AuditEntry::new(
            Actor::System,
            AuditAction::ConsoleBackup,
            &output.display().to_string(),
            Outcome::Failure,
        )
        .detail("error", format!("{error:#}")),
    };
    let recorded = database.record(config, entry.detail("via", "command line")).await;
    database.leave().await?;
    let manifest = written?;
    recorded.context("the archive is written, but the audit log did not take its record")?;
    Ok(manifest)
}

/// The console's database reached as its tables' owner, beside a serving
/// console or not: the embedded cluster is started (then stopped) when no
/// console runs it.
struct ReachedDatabase {
    owner: Owner,
    started: Option<EmbeddedPostgres>,
}

impl ReachedDatabase {
    async fn reach(config: &Config) -> Result<Self> {
        if let Some(owner) = Owner::external(config)? {
            return Ok(Self { owner, started: None });
        }
        if let Some(options) = embedded_postgres::running_in(&config.data_dir)? {
            return Ok(Self {
                owner: Owner::embedded(options),
                started: None,
            });
        }
        let data_dir = config.data_dir.clone();
        ensure!(
            data_dir.join("postgres").exists() || data_dir.join(embedded_postgres::LOCATION_FILE).exists(),
            "{} holds no embedded database: give the console's data directory (--data-dir) or DATABASE_URL",
            data_dir.display()
        );
        let embedded = tokio::task::spawn_blocking(move || EmbeddedPostgres::start(&data_dir)).await??;
        Ok(Self {
            owner: Owner::embedded(embedded.console_options()),
            started: Some(embedded),
        })
    }

    /// Dumps the database to `path`; returns its schema version.
    async fn dump(&self, path: &Path) -> Result<i64> {
        let schema = {
            let pool = sqlx::PgPool::connect_with(self.owner.options.clone())
                .await
                .context("connecting to the console's database")?;
            let schema = domain::schema::database_version(&pool).await;
            pool.close().await;
            schema?
        };
        ensure!(schema > 0, "the database holds no console (no migration applied)");
        let pg_dump = embedded_postgres::find_bin_dir_with("pg_dump")?.join("pg_dump");
        let output = self
            .owner
            .command(&pg_dump)
            .args(["--format=custom", "--exclude-table-data", SESSIONS, "--file"])
            .arg(path)
            .output()
            .await
            .with_context(|| format!("running {}", pg_dump.display()))?;
        ensure!(
            output.status.success(),
            "pg_dump failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
        Ok(schema)
    }

    /// Appends `entry` to the audit log (its chain's key opened with the
    /// master key, as a serving console does).
    async fn record(&self, config: &Config, entry: AuditEntry) -> Result<()> {
        let pool = sqlx::PgPool::connect_with(self.owner.options.clone())
            .await
            .context("connecting to the console's database")?;
        let recorded = async {
            let console = config.console(pool.clone()).await?;
            entry.record_alone(console.pool()).await?;
            anyhow::Ok(())
        }
        .await;
        pool.close().await;
        recorded
    }

    /// Stops the embedded cluster when it was started here.
    async fn leave(self) -> Result<()> {
        if let Some(embedded) = self.started {
            tokio::task::spawn_blocking(move || embedded.stop()).await??;
        }
        Ok(())
    }
}

fn write_archive(output: &Path, manifest: &Manifest, checkpoints: Option<&[u8]>, dump: &Path) -> Result<()> {
    let partial = sibling(output, ".partial");
    let written = (|| {
        let file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&partial)
            .with_context(|| format!("creating {}", partial.display()))?;
        let mut archive = tar::Builder::new(file);
        let manifest = serde_json::to_vec_pretty(manifest)?;
        append(&mut archive, MANIFEST, manifest.len() as u64, manifest.as_slice())?;
        if let Some(checkpoints) = checkpoints {
            append(&mut archive, CHECKPOINTS, checkpoints.len() as u64, checkpoints)?;
        }
        let dump_file = File::open(dump)?;
        append(&mut archive, DUMP, dump_file.metadata()?.len(), dump_file)?;
        let file = archive.into_inner()?;
        file.sync_all()?;
        fs::rename(&partial, output).with_context(|| format!("naming the archive {}", output.display()))?;
        anyhow::Ok(())
    })();
    if written.is_err() {
        let _ = fs::remove_file(&partial);
    }
    written
}

fn append(archive: &mut tar::Builder<File>, name: &str, size: u64, data: impl Read) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o600);
    header.set_mtime(time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64);
    header.set_cksum();
    archive
        .append_data(&mut header, name, data)
        .with_context(|| format!("writing {name} into the archive"))
}

/// What a restore found, once done.
#[derive(Debug)]
pub struct Restored {
    pub manifest: Manifest,
    pub accounts: i64,
    pub hosts: usize,
    pub secrets: u64,
    pub audit_rows: u64,
}

/// `restore-self`: brings an archive back into this configuration's
/// (empty) database and (new) data directory, with its master key from
/// `key_file` (or CONSOLE_MASTER_KEY).
pub async fn restore(config: &Config, input: &Path, key_file: Option<&Path>) -> Result<Restored> {
    let key = match (key_file, &config.master_key) {
        (Some(path), _) => master_key::read_file(path)?,
        (None, Some(_)) => master_key::current(config)?.context("CONSOLE_MASTER_KEY")?,
        (None, None) => bail!("give the master key written with the archive: --key FILE (or CONSOLE_MASTER_KEY)"),
    };
    let data_dir = &config.data_dir;
    let mut installed = vec![(CHECKPOINTS, "audit checkpoints")];
    if config.master_key.is_none() {
        installed.push(("master.key", "a master key"));
    }
    for (file, what) in installed {
        ensure!(
            !data_dir.join(file).exists(),
            "{} already holds {what} ({file}): restore into a new data directory (nothing was changed)",
            data_dir.display()
        );
    }
    fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let dump_path = data_dir.join("restore-self.dump.partial");
    let result = restore_with(config, input, &key, &dump_path).await;
    let _ = fs::remove_file(&dump_path);
    result
}

async fn restore_with(config: &Config, input: &Path, key: &MasterKey, dump_path: &Path) -> Result<Restored> {
    let (manifest, checkpoints) = unpack(input, dump_path)?;
    let this_schema = domain::schema::version_of(&domain::MIGRATOR);
    ensure!(
        manifest.schema <= this_schema,
        "the archive's schema is {}, newer than this console's ({this_schema}): restore it with console {} or later",
        manifest.schema,
        manifest.console_version
    );
    ensure!(
        manifest.master_key_id == key.id_hex(),
        "this master key is not the one the archive's secrets are sealed under (key {}, the archive's {}): \
         give the key written with this archive",
        key.id_hex(),
        manifest.master_key_id
    );
    let database = Database::open(config).await?;
    let restored = async {
        let owner = match (&database.embedded, Owner::external(config)?) {
            (Some(embedded), _) => Owner::embedded(embedded.console_options()),
            (None, Some(owner)) => owner,
            (None, None) => bail!("no database: set DATABASE_URL, or use the embedded one"),
        };
        let tables = domain::schema::table_count(database.owner.as_ref().unwrap_or(&database.pool)).await?;
        ensure!(
            tables == 0,
            "the database already holds {tables} tables: restore into an empty database (nothing was changed)"
        );
        let bin_dir = match &database.embedded {
            Some(embedded) => embedded.bin_dir().to_owned(),
            None => embedded_postgres::find_bin_dir_with("pg_restore")?,
        };
        let output = owner
            .command(&bin_dir.join("pg_restore"))
            .args([
                "--no-owner",
                "--no-acl",
                "--exit-on-error",
                "--single-transaction",
                "--dbname",
            ])
            .arg(owner.options.get_database().unwrap_or(EmbeddedPostgres::DATABASE))
            .arg(dump_path)
            .output()
            .await
            .context("running pg_restore")?;
        ensure!(
            output.status.success(),
            "pg_restore failed, the database is left empty ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
        if config.master_key.is_none() {
            master_key::install(&config.data_dir, key)?;
        }
        if let Some(checkpoints) = &checkpoints {
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(config.data_dir.join(CHECKPOINTS))?;
            file.write_all(checkpoints)?;
            file.sync_all()?;
        }
        // An archive of an older schema is brought up to this console's.
        database.migrate().await?;
        let console = config.console(database.pool.clone()).await?;
        let (secrets, unreadable) = console.secrets.readability().await?;
        ensure!(
            unreadable == 0,
            "{unreadable} of {secrets} secrets do not open with the key"
        );
        let audit_rows = match console.audit.verify().await? {
            ChainStatus::Intact { rows } => rows,
            ChainStatus::Broken { id, reason } => {
                bail!("the restored audit log is broken at row {id}: {}", reason.explain())
            }
        };
        let accounts = console.accounts.count().await?;
        let hosts = console.hosts.list().await?.len();
        // After the walk: the restore is the first row the new log adds.
        let written_at = manifest
            .written_at
            .format(&time::format_description::well_known::Rfc3339)?;
        AuditEntry::new(
            Actor::System,
            AuditAction::ConsoleRestore,
            &input.display().to_string(),
            Outcome::Success,
        )
        .detail("written_at", written_at)
        .detail("console_version", manifest.console_version.as_str())
        .detail("schema", manifest.schema)
        .detail("audit_rows_verified", audit_rows)
        .detail("via", "command line")
        .record_alone(console.pool())
        .await?;
        anyhow::Ok((accounts, hosts, secrets, audit_rows))
    }
    .await;
    database.close().await?;
    let (accounts, hosts, secrets, audit_rows) = restored?;
    Ok(Restored {
        manifest,
        accounts,
        hosts,
        secrets,
        audit_rows,
    })
}

/// Reads the archive: its manifest, its checkpoints, and its dump written
/// to `dump_path`, each checked against the manifest's digest.
fn unpack(input: &Path, dump_path: &Path) -> Result<(Manifest, Option<Vec<u8>>)> {
    let file = File::open(input).with_context(|| format!("opening {}", input.display()))?;
    let mut archive = tar::Archive::new(file);
    let mut manifest: Option<Manifest> = None;
    let mut checkpoints = None;
    let mut dump = None;
    let not_an_archive = || format!("{} is not an archive written by backup-self", input.display());
    for entry in archive.entries().with_context(not_an_archive)? {
        let mut entry = entry.with_context(not_an_archive)?;
        let name = entry.path()?.to_string_lossy().into_owned();
        match name.as_str() {
            MANIFEST => {
                let mut text = String::new();
                entry.read_to_string(&mut text)?;
                manifest = Some(serde_json::from_str(&text).with_context(not_an_archive)?);
            }
            CHECKPOINTS => {
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes)?;
                checkpoints = Some(bytes);
            }
            DUMP => {
                let mut file = fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(dump_path)?;
                let mut hasher = Sha256::new();
                let mut buffer = vec![0; 1 << 16];
                loop {
                    let read = entry.read(&mut buffer)?;
                    if read == 0 {
                        break;
                    }
                    hasher.update(&buffer[..read]);
                    file.write_all(&buffer[..read])?;
                }
                dump = Some(hex::encode(hasher.finalize()));
            }
            _ => {}
        }
    }
    let manifest = manifest.with_context(not_an_archive)?;
    ensure!(
        manifest.format == FORMAT,
        "{} is of archive format {}, this console reads format {FORMAT}",
        input.display(),
        manifest.format
    );
    ensure!(
        dump.as_deref() == Some(manifest.dump_sha256.as_str()),
        "{}: the database dump is missing or damaged (its SHA-256 differs from the manifest's)",
        input.display()
    );
    ensure!(
        checkpoints.as_deref().map(|bytes| hex::encode(Sha256::digest(bytes))) == manifest.checkpoints_sha256,
        "{}: the audit checkpoints are missing or damaged (their SHA-256 differs from the manifest's)",
        input.display()
    );
    Ok((manifest, checkpoints))
}

fn digest_file(path: &Path) -> Result<(String, u64)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let bytes = std::io::copy(&mut file, &mut hasher)?;
    Ok((hex::encode(hasher.finalize()), bytes))
}

/// `path` with `suffix` added to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(suffix);
    path.with_file_name(name)
}
