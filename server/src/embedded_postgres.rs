//! The embedded default: with no DATABASE_URL, the console runs a private
//! PostgreSQL cluster in its data directory, with the installed PostgreSQL's
//! `initdb` and `pg_ctl`. It listens on a unix socket only (no TCP port), in
//! a directory only its owner can enter, and is stopped cleanly when the
//! console stops. A lock file keeps a second console off the same directory.
//!
//! PostgreSQL refuses to run as root: when the console runs as root, the
//! cluster belongs to (and runs as) the `postgres` system user. That user
//! must be able to reach the cluster's files: when the data directory lies
//! inside a directory it cannot enter (a clone in root's home, mode 0700),
//! the cluster's files live instead in
//! `/var/lib/ocpizza-console-dev/clusters/<digest of the data directory>`, owned
//! by `postgres`; the log says so and `<data dir>/postgres.location` names
//! the place. The operator's home directory is never opened up.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};
use nix::fcntl::{Flock, FlockArg};
use nix::unistd::{Gid, Uid, User};
use sha2::Digest;
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
        // Everything that can make the data directory unusable is said
        // before anything is created.
        let run_as = unprivileged_owner()?;
        check_can_create(data_dir)?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
        let data_dir = data_dir.canonicalize()?;
        let lock = take_lock(&data_dir)?;
        let bin_dir = find_bin_dir()?;
        let home = cluster_home(&data_dir, run_as)?;
        let embedded = Self {
            cluster: home.join("postgres"),
            socket_dir: home.join("run"),
            log_dir: home.join("log"),
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

    /// PostgreSQL's programs the cluster runs with (`pg_restore` too).
    pub fn bin_dir(&self) -> &std::path::Path {
        &self.bin_dir
    }

    /// The role the console serves with: it may read and insert the audit
    /// log, never rewrite it (see `database_role`). The superuser only
    /// creates the database and runs the migrations.
    pub const APP_ROLE: &'static str = "console_app";

    /// Connection options for the console's own database, as [`Self::APP_ROLE`].
    pub fn app_options(&self) -> PgConnectOptions {
        self.console_options().username(Self::APP_ROLE)
    }

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
        // Debian's PostgreSQL tells systemd it is ready when it finds this:
        // only the console says when the service is.
        command.env_remove("NOTIFY_SOCKET");
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

/// Where the cluster's directories (`postgres/`, `run/`, `log/`) go: the
/// data directory itself, unless the console runs as root and the
/// `postgres` user cannot enter the data directory's parent; then a
/// directory of its own under [`RELOCATED_CLUSTERS`], named after the data
/// directory so each console keeps its own cluster.
fn cluster_home(data_dir: &Path, run_as: Option<(Uid, Gid)>) -> Result<PathBuf> {
    let Some((uid, gid)) = run_as else {
        return Ok(data_dir.to_owned());
    };
    let parent = data_dir.parent().unwrap_or(Path::new("/"));
    if can_enter(parent, uid, gid) {
        // The postgres user must be able to pass through (not list) it.
        fs::set_permissions(data_dir, fs::Permissions::from_mode(0o711))?;
        return Ok(data_dir.to_owned());
    }
    if data_dir.join("postgres").join("PG_VERSION").exists() {
        bail!(
            "the embedded cluster in {} cannot be used: the postgres user cannot enter {}; \
             move the data directory to a place it can reach, or let it enter that directory (chmod o+x)",
            data_dir.display(),
            parent.display()
        );
    }
    let digest = sha2::Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
    let home = Path::new(RELOCATED_CLUSTERS).join(&hex::encode(digest)[..16]);
    for dir in [
        Path::new(RELOCATED_CLUSTERS).parent().unwrap_or(Path::new("/")),
        Path::new(RELOCATED_CLUSTERS),
    ] {
        fs::DirBuilder::new().recursive(true).mode(0o711).create(dir)?;
    }
    fs::DirBuilder::new().recursive(true).mode(0o700).create(&home)?;
    nix::unistd::chown(home.as_path(), Some(uid), Some(gid))?;
    fs::write(data_dir.join(LOCATION_FILE), format!("{}\n", home.display()))?;
    tracing::info!(
        data_dir = %data_dir.display(),
        cluster = %home.display(),
        "the postgres user cannot enter {} (the embedded cluster runs as postgres when the console runs as root): \
         its files live in {}, owned by postgres",
        parent.display(),
        home.display()
    );
    Ok(home)
}

/// When a console serves from `data_dir` (it holds the directory's lock),
/// how to reach its running cluster: its socket, as its superuser (the
/// socket admits the data directory's owner only). `None` when no console
/// holds it.
pub fn running_in(data_dir: &Path) -> Result<Option<PgConnectOptions>> {
    let file = match File::open(data_dir.join("console.lock")) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error).with_context(|| format!("opening {}/console.lock", data_dir.display())),
    };
    if Flock::lock(file, FlockArg::LockSharedNonblock).is_ok() {
        // Nobody holds it (ours is released as it drops).
        return Ok(None);
    }
    let home = match fs::read_to_string(data_dir.join(LOCATION_FILE)) {
        Ok(place) => PathBuf::from(place.trim()),
        Err(_) => data_dir.to_owned(),
    };
    Ok(Some(
        PgConnectOptions::new()
            .socket(home.join("run"))
            .username(SUPERUSER)
            .database(DATABASE),
    ))
}

/// As root, where clusters go whose data directory `postgres` cannot reach.
pub const RELOCATED_CLUSTERS: &str = "/var/lib/ocpizza-console-dev/clusters";
/// The file in the data directory that names a relocated cluster's place.
pub const LOCATION_FILE: &str = "postgres.location";

/// Whether `uid`/`gid` may pass through `dir` and every directory above it,
/// asked of the kernel itself (a child process under that identity).
fn can_enter(dir: &Path, uid: Uid, gid: Gid) -> bool {
    Command::new("test")
        .arg("-x")
        .arg(dir)
        .uid(uid.as_raw())
        .gid(gid.as_raw())
        .status()
        .is_ok_and(|status| status.success())
}

/// Refuses, in one line that says what to do, a data directory this user
/// cannot create or use: a file in its place, or a nearest existing parent
/// it cannot write to.
fn check_can_create(data_dir: &Path) -> Result<()> {
    let user = User::from_uid(Uid::effective())
        .ok()
        .flatten()
        .map(|user| user.name)
        .unwrap_or_else(|| Uid::effective().to_string());
    let advice = "choose another one with --data-dir or CONSOLE_DATA_DIR";
    let mut existing = data_dir.to_owned();
    loop {
        match fs::metadata(&existing) {
            Ok(metadata) if !metadata.is_dir() => bail!(
                "cannot use the data directory {}: {} is not a directory; {advice}",
                data_dir.display(),
                existing.display()
            ),
            Ok(_) => break,
            Err(_) => match existing.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => existing = parent.to_owned(),
                _ => {
                    existing = PathBuf::from(".");
                    break;
                }
            },
        }
    }
    let mode = nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK;
    if nix::unistd::access(&existing, mode).is_err() {
        bail!(
            "cannot use the data directory {}: user {user} may not write to {}; {advice}",
            data_dir.display(),
            existing.display()
        );
    }
    Ok(())
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
pub fn find_bin_dir() -> Result<PathBuf> {
    find_bin_dir_with("initdb")
}

/// Where PostgreSQL's `program` is (as [`find_bin_dir`] looks): the client
/// programs (`pg_dump`, `pg_restore`) are installed without the server's.
pub fn find_bin_dir_with(program: &str) -> Result<PathBuf> {
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
            bin.join(program).exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    let initdb = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .find(|dir| dir.join(program).exists());
    initdb.ok_or_else(|| {
        anyhow!(
            "PostgreSQL's {program} was not found: install PostgreSQL (apt-get install postgresql, or \
             postgresql-client with DATABASE_URL) or set PG_BIN_DIR"
        )
    })
}
