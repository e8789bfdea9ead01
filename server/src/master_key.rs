//! The master key that seals every secret. From CONSOLE_MASTER_KEY (64 hex
//! digits) when set; otherwise from `<data dir>/master.key`, generated on
//! first start (mode 0600). Rotation (`rotate-master-key`) re-seals every
//! secret under a new key in one transaction; keys it leaves behind
//! (`master.key.previous`, `master.key.next` after an interrupted rotation,
//! CONSOLE_PREVIOUS_MASTER_KEY) still open what they sealed.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use domain::secrets::{MasterKey, SecretBox, SecretStore};

use crate::config::Config;

const FILE: &str = "master.key";
const NEXT: &str = "master.key.next";
const PREVIOUS: &str = "master.key.previous";

/// The box every secret goes through, for this configuration.
pub fn load(config: &Config) -> Result<SecretBox> {
    if let Some(text) = &config.master_key {
        let mut sealer = SecretBox::new(MasterKey::decode(text).context("CONSOLE_MASTER_KEY is not 64 hex digits")?);
        if let Some(previous) = &config.previous_master_key {
            sealer = sealer
                .also_opening(MasterKey::decode(previous).context("CONSOLE_PREVIOUS_MASTER_KEY is not 64 hex digits")?);
        }
        return Ok(sealer);
    }
    fs::create_dir_all(&config.data_dir)?;
    let path = config.data_dir.join(FILE);
    let primary = match read(&path)? {
        Some(key) => key,
        None => {
            let key = MasterKey::generate();
            write_new(&path, &key)?;
            tracing::warn!(path = %path.display(), "generated a new master key: back it up with the database, secrets cannot be read without it");
            key
        }
    };
    let mut sealer = SecretBox::new(primary);
    for extra in [NEXT, PREVIOUS] {
        if let Some(key) = read(&config.data_dir.join(extra))? {
            sealer = sealer.also_opening(key);
        }
    }
    Ok(sealer)
}

/// Re-seals every secret under a fresh key and installs it. Returns how many
/// secrets were re-sealed.
pub async fn rotate(config: &Config, store: &SecretStore) -> Result<u64> {
    let new_key = MasterKey::generate();
    if config.master_key.is_some() {
        let (count, _) = store.rotate(new_key.clone()).await?;
        println!(
            "re-sealed {count} secrets. Set CONSOLE_MASTER_KEY={} and keep the old key in \
             CONSOLE_PREVIOUS_MASTER_KEY until every console has restarted.",
            new_key.encode().as_str()
        );
        return Ok(count);
    }
    let dir = &config.data_dir;
    // The new key is on disk before the database uses it: a crash at any
    // point leaves a key that opens every secret.
    write_new(&dir.join(NEXT), &new_key)?;
    let (count, _) = store.rotate(new_key).await?;
    fs::rename(dir.join(FILE), dir.join(PREVIOUS))?;
    fs::rename(dir.join(NEXT), dir.join(FILE))?;
    Ok(count)
}

fn read(path: &Path) -> Result<Option<MasterKey>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(
            MasterKey::decode(&text).with_context(|| format!("{} is not a master key", path.display()))?,
        )),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

fn write_new(path: &PathBuf, key: &MasterKey) -> Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(key.encode().as_bytes())?;
    file.sync_all()?;
    Ok(())
}
