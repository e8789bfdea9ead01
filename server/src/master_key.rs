//! The master key that seals every secret. From CONSOLE_MASTER_KEY (64 hex
//! digits) when set; otherwise from `<data dir>/master.key`, generated on
//! first start (mode 0600) — but only while the database holds no sealed
//! secret: a missing key with secrets stored stops the console, since a new
//! key could never open them. A key file other users may read is refused.
//!
//! Rotation (`rotate-master-key`) re-seals every secret under a new key in
//! one transaction. It never overwrites a key file: the new key is created
//! exclusively as `master.key.next` (fsynced, with its directory) before the
//! database uses it, the old key stays as `master.key.previous.<key id>`,
//! and only then does `master.key.next` replace `master.key`. A rotation
//! interrupted at any point leaves keys that open every secret, and
//! `rotate-master-key` run again finishes it with the `master.key.next` it
//! finds. Every key left behind still opens what it sealed.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{bail, Context, Result};
use domain::secrets::{MasterKey, SecretBox, SecretStore};
use sqlx::PgPool;

use crate::config::Config;

const FILE: &str = "master.key";
const NEXT: &str = "master.key.next";
const PREVIOUS: &str = "master.key.previous";

/// The box every secret goes through, for this configuration. Fails, saying
/// what to do, when the database holds secrets none of the configured keys
/// opens (a lost or wrong key): nothing is generated or changed then.
pub async fn open(config: &Config, pool: &PgPool) -> Result<SecretBox> {
    let sealer = match &config.master_key {
        Some(text) => {
            let mut sealer =
                SecretBox::new(MasterKey::decode(text).context("CONSOLE_MASTER_KEY is not 64 hex digits")?);
            if let Some(previous) = &config.previous_master_key {
                sealer = sealer.also_opening(
                    MasterKey::decode(previous).context("CONSOLE_PREVIOUS_MASTER_KEY is not 64 hex digits")?,
                );
            }
            sealer
        }
        None => from_files(&config.data_dir, pool).await?,
    };
    let (total, unreadable) = SecretStore::new(pool.clone(), sealer.clone())
        .readability()
        .await
        .context("reading the secret store")?;
    if unreadable > 0 {
        let given = match config.master_key {
            Some(_) => "CONSOLE_MASTER_KEY (and CONSOLE_PREVIOUS_MASTER_KEY)".to_owned(),
            None => format!("the master.key files in {}", config.data_dir.display()),
        };
        bail!(
            "{unreadable} of the {total} secrets in the database are sealed under a master key that {given} do not \
             hold: restore the master key backed up with this database, then start again"
        );
    }
    Ok(sealer)
}

/// `master.key`, created when missing only if no secret is stored, and the
/// keys a rotation left behind.
async fn from_files(dir: &Path, pool: &PgPool) -> Result<SecretBox> {
    let path = dir.join(FILE);
    let primary = match read(&path)? {
        Some(key) => key,
        None => {
            let stored = domain::secrets::stored_count(pool)
                .await
                .context("counting the stored secrets")?;
            if stored > 0 {
                let interrupted = if dir.join(NEXT).exists() {
                    " (master.key.next is there: a rotation was interrupted, see \"Recovering an interrupted \
                     rotation\" in the README)"
                } else {
                    ""
                };
                bail!(
                    "{} is missing while the database holds {stored} sealed secrets: restore master.key from your \
                     backup (mode 0600) or set CONSOLE_MASTER_KEY{interrupted}; the console does not generate a new \
                     key, which could never open them",
                    path.display()
                );
            }
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let key = MasterKey::generate();
            create_exclusive(&path, &key)?;
            tracing::warn!(path = %path.display(), "generated a new master key: back it up with the database, secrets cannot be read without it");
            key
        }
    };
    let mut sealer = SecretBox::new(primary);
    for extra in left_behind(dir)? {
        if let Some(key) = read(&extra)? {
            sealer = sealer.also_opening(key);
        }
    }
    Ok(sealer)
}

/// `master.key.next` and every `master.key.previous*` in `dir`.
fn left_behind(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut found = vec![dir.join(NEXT)];
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        if entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.starts_with(PREVIOUS))
        {
            found.push(entry.path());
        }
    }
    found.sort();
    Ok(found)
}

/// Re-seals every secret under a new key and installs it. Returns how many
/// secrets were re-sealed.
pub async fn rotate(config: &Config, store: &SecretStore) -> Result<u64> {
    if config.master_key.is_some() {
        let new_key = MasterKey::generate();
        let (count, _) = store.rotate(new_key.clone()).await?;
        println!(
            "re-sealed {count} secrets. Set CONSOLE_MASTER_KEY={} and keep the old key in \
             CONSOLE_PREVIOUS_MASTER_KEY until every console has restarted.",
            new_key.encode().as_str()
        );
        return Ok(count);
    }
    let dir = &config.data_dir;
    let (file, next) = (dir.join(FILE), dir.join(NEXT));
    let old_key = read(&file)?.with_context(|| format!("{} is missing", file.display()))?;
    // The new key is on disk before the database uses it: a crash at any
    // point leaves keys that open every secret. One found there was left by
    // an interrupted rotation: finish with it, never replace it.
    let new_key = match read(&next)? {
        Some(key) => {
            println!(
                "{} exists (a rotation was interrupted): finishing the rotation with it",
                next.display()
            );
            key
        }
        None => {
            let key = MasterKey::generate();
            create_exclusive(&next, &key)?;
            key
        }
    };
    let (count, _) = store.rotate(new_key).await?;
    // Keep the old key under a name of its own (a second link to the same
    // file), then let the new key take its place.
    let previous = dir.join(format!("{PREVIOUS}.{}", old_key.id_hex()));
    match fs::hard_link(&file, &previous) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            let kept = read(&previous)?;
            if kept.map(|k| k.id_hex()) != Some(old_key.id_hex()) {
                bail!(
                    "{} exists and holds another key: move it aside, then run rotate-master-key again",
                    previous.display()
                );
            }
        }
        Err(error) => return Err(error).with_context(|| format!("keeping the old key as {}", previous.display())),
    }
    fs::rename(&next, &file).with_context(|| format!("installing {}", file.display()))?;
    sync_dir(dir)?;
    Ok(count)
}

/// The key that seals new secrets for this configuration, without creating
/// one: CONSOLE_MASTER_KEY, else `<data dir>/master.key` (`None` when
/// neither is there).
pub fn current(config: &Config) -> Result<Option<MasterKey>> {
    match &config.master_key {
        Some(text) => Ok(Some(
            MasterKey::decode(text).context("CONSOLE_MASTER_KEY is not 64 hex digits")?,
        )),
        None => read(&config.data_dir.join(FILE)),
    }
}

/// Reads a key file given by hand (`restore-self --key`), with the same
/// checks as the console's own.
pub fn read_file(path: &Path) -> Result<MasterKey> {
    read(path)?.with_context(|| format!("{} does not exist", path.display()))
}

/// Installs `key` as `<dir>/master.key`, which must not exist yet.
pub fn install(dir: &Path, key: &MasterKey) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    create_exclusive(&dir.join(FILE), key)
}

/// Writes `key` to a new file at `path` (mode 0600), for safekeeping.
pub fn export(path: &Path, key: &MasterKey) -> Result<()> {
    create_exclusive(path, key)
}

/// Reads a key file; refuses one that other users may read or change.
fn read(path: &Path) -> Result<Option<MasterKey>> {
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
    };
    let mode = file.metadata()?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "{path} is open to other users (mode {mode:04o}): run `chmod 600 {path}` and start again",
            path = path.display()
        );
    }
    let text = domain::secrets::Zeroizing::new(
        std::io::read_to_string(file).with_context(|| format!("reading {}", path.display()))?,
    );
    Ok(Some(
        MasterKey::decode(&text).with_context(|| format!("{} is not a master key", path.display()))?,
    ))
}

/// Writes a key to a file that must not exist yet (O_EXCL, mode 0600), then
/// makes the file and its directory entry durable.
fn create_exclusive(path: &Path, key: &MasterKey) -> Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    file.write_all(key.encode().as_bytes())?;
    file.sync_all()?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))
}
