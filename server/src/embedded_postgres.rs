//! The embedded default: with no DATABASE_URL, the console runs a private
//! PostgreSQL cluster in its data directory, with the installed PostgreSQL's
//! `initdb` and `pg_ctl`. It listens on a unix socket only (no TCP port), in
//! a directory only its owner can enter, and is stopped cleanly when the
//! console stops. A lock file keeps a second console off the same directory.
//!
//! PostgreSQL refuses to run as root: when the console runs as root, the
//! cluster belongs to (and runs as) the `postgres` system user.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};
use nix::fcntl::{Flock, FlockArg};
use nix::unistd::{Gid, Uid, User};
use sqlx::postgres::PgConnectOptions;

const SUPERUSER: &str = "console";
const DATABASE: &str = "console";

pub struct EmbeddedPostgres {
    cluster: PathBuf,
    socket_dir: PathBuf,
    log_dir: PathBuf,
    bin_dir: PathBuf,
    run_as: Option<(Uid, Gid)>,
    _lock: Flock<File>,
}

impl EmbeddedPostgres {
    /// Takes the data directory's lock, creates the cluster on first use,
    /// and starts it. Fails with a clear message when another console holds
    /// the directory.
    pub fn start(data_dir: &Path) -> Result<Self> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
        let data_dir = data_dir.canonicalize()?;
        let lock = take_lock(&data_dir)?;
        let run_as = unprivileged_owner()?;
        if run_as.is_some() {
            // The postgres user must be able to pass through (not list) it.
            fs::set_permissions(&data_dir, fs::Permissions::from_mode(0o711))?;
        }
        let bin_dir = find_bin_dir()?;
        let cluster = data_dir.join("postgres");
        let socket_dir = data_dir.join("run");
        let log_dir = data_dir.join("log");
        let embedded = Self {
            cluster,
            socket_dir,
            log_dir,
            bin_dir,
            run_as,
            _lock: lock,
        };
        embedded.prepare_directories()?;
        if !embedded.cluster.join("PG_VERSION").exists() {
            tracing::info!(cluster = %embedded.cluster.display(), "creating the embedded PostgreSQL cluster");
            embedded.run(
                "initdb",
                &[
                    "-D",
                    path_str(&embedded.cluster)?,
                    "-U",
                    SUPERUSER,
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-locale",
                    "--no-instructions",
                ],
            )?;
        }
        if embedded.pg_ctl_status_running() {
            // Left running by a console that was killed: we hold the lock, so
            // nobody else uses it. Restart it under our control.
            tracing::warn!("a cluster left running by an earlier console was found; restarting it");
            embedded.stop_cluster()?;
        }
        let options = format!(
            "-c listen_addresses='' -k {} -c unix_socket_permissions=0700",
            path_str(&embedded.socket_dir)?
        );
        let log = embedded.log_dir.join("postgres.log");
        embedded.run(
            "pg_ctl",
            &[
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                path_str(&embedded.cluster)?,
                "-l",
                path_str(&log)?,
                "-o",
                &options,
            ],
        )?;
        tracing::info!(socket = %embedded.socket_dir.display(), "embedded PostgreSQL started");
        Ok(embedded)
    }

    /// Connection options for the cluster's maintenance database.
    pub fn admin_options(&self) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.socket_dir)
            .username(SUPERUSER)
            .database("postgres")
    }

    /// Connection options for the console's own database.
    pub fn console_options(&self) -> PgConnectOptions {
        self.admin_options().database(DATABASE)
    }

    pub const DATABASE: &'static str = DATABASE;

    /// Stops the cluster (fast shutdown: open sessions are ended, data is
    /// flushed) and waits for it.
    pub fn stop(self) -> Result<()> {
        self.stop_cluster()?;
        tracing::info!("embedded PostgreSQL stopped");
        Ok(())
    }

    fn stop_cluster(&self) -> Result<()> {
        self.run(
            "pg_ctl",
            &["stop", "-w", "-t", "60", "-m", "fast", "-D", path_str(&self.cluster)?],
        )
    }

    fn pg_ctl_status_running(&self) -> bool {
        let Ok(cluster) = path_str(&self.cluster) else {
            return false;
        };
        self.command("pg_ctl")
            .args(["status", "-D", cluster])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn prepare_directories(&self) -> Result<()> {
        for dir in [&self.cluster, &self.socket_dir, &self.log_dir] {
            fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
            if let Some((uid, gid)) = self.run_as {
                nix::unistd::chown(dir.as_path(), Some(uid), Some(gid))?;
            }
        }
        Ok(())
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin_dir.join(program));
        command.current_dir(&self.socket_dir).env("LC_ALL", "C.UTF-8");
        // Its own process group: a Ctrl-C in the terminal reaches the console,
        // which then stops the cluster in order, not the cluster directly.
        command.process_group(0);
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid.as_raw()).gid(gid.as_raw());
        }
        command
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<()> {
        let output = self
            .command(program)
            .args(args)
            .output()
            .with_context(|| format!("running {}", self.bin_dir.join(program).display()))?;
        if !output.status.success() {
            bail!(
                "{program} failed ({}): {}{}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim(),
                String::from_utf8_lossy(&output.stdout).trim()
            );
        }
        Ok(())
    }
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str()
        .ok_or_else(|| anyhow!("the path {} is not valid UTF-8", path.display()))
}

/// Takes an exclusive lock on `<data dir>/console.lock` and writes our pid in
/// it; if another process holds it, says which one.
fn take_lock(data_dir: &Path) -> Result<Flock<File>> {
    let path = data_dir.join("console.lock");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(mut lock) => {
            lock.set_len(0)?;
            lock.rewind()?;
            writeln!(lock, "{}", std::process::id())?;
            Ok(lock)
        }
        Err((mut file, _)) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            bail!(
                "another console (pid {}) is already running on the data directory {}; \
                 stop it first, or give this one its own --data-dir",
                holder.trim(),
                data_dir.display()
            )
        }
    }
}

fn unprivileged_owner() -> Result<Option<(Uid, Gid)>> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    let user = User::from_name("postgres")?.ok_or_else(|| {
        anyhow!("running as root, the embedded cluster needs the 'postgres' system user (apt-get install postgresql)")
    })?;
    Ok(Some((user.uid, user.gid)))
}

/// Finds the installed PostgreSQL's programs: PG_BIN_DIR, else the newest
/// /usr/lib/postgresql/<version>/bin, else the PATH.
fn find_bin_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    let initdb = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .find(|dir| dir.join("initdb").exists());
    initdb.ok_or_else(|| {
        anyhow!(
            "PostgreSQL's initdb was not found: install PostgreSQL (apt-get install postgresql) or set DATABASE_URL"
        )
    })
}
