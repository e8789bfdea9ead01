//! Where backups are kept: a directory on the console's machine (by
//! default `<data dir>/backups`), never the managed host's disk. An object
//! is written under a temporary name and only takes its own once complete
//! and on disk (`keep`), so a failed or interrupted backup leaves nothing
//! that looks like a backup; `discard` removes what was written.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::fs::File;
use tokio::io::{AsyncWrite, BufReader};

use crate::error::{DomainError, Result};

/// The backup storage.
#[derive(Debug, Clone)]
pub struct BackupStorage {
    root: PathBuf,
}

/// An object's name in the storage: `<host>/<file>`, made by the console
/// from a validated host name, a time stamp and a number (never from input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageKey(String);

impl StorageKey {
    /// Reads a key back from the catalog: relative, no `..`, no odd bytes.
    pub fn parse(raw: &str) -> Result<Self> {
        let valid = !raw.is_empty()
            && !raw.starts_with('/')
            && raw
                .split('/')
                .all(|part| !part.is_empty() && part != "." && part != "..")
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/'));
        valid
            .then(|| Self(raw.to_owned()))
            .ok_or_else(|| DomainError::Internal(format!("a stored backup's key is malformed: {raw:?}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl BackupStorage {
    /// Backups kept in the directory `root` (created when first needed).
    pub fn directory(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Where the backups are, as the backups page shows it.
    pub fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn path(&self, key: &StorageKey) -> PathBuf {
        self.root.join(key.as_str())
    }

    fn partial(&self, key: &StorageKey) -> PathBuf {
        self.root.join(format!("{}.partial", key.as_str()))
    }

    /// Starts writing the object `key` (under its temporary name).
    pub async fn create(&self, key: &StorageKey) -> io::Result<ObjectWriter> {
        let partial = self.partial(key);
        if let Some(parent) = partial.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&partial)
            .await?;
        Ok(ObjectWriter { file })
    }

    /// The object `key` is complete: it takes its name, on disk for good.
    pub async fn keep(&self, key: &StorageKey) -> io::Result<()> {
        let (partial, path) = (self.partial(key), self.path(key));
        File::open(&partial).await?.sync_all().await?;
        tokio::fs::rename(&partial, &path).await?;
        if let Some(parent) = path.parent() {
            File::open(parent).await?.sync_all().await?;
        }
        Ok(())
    }

    /// Removes whatever was written of the object `key`, complete or not.
    pub async fn discard(&self, key: &StorageKey) {
        for path in [self.partial(key), self.path(key)] {
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => tracing::error!(%error, path = %path.display(), "a backup object could not be removed"),
            }
        }
    }

    /// Deletes the kept object `key` (retention): an object already gone
    /// is no error.
    pub async fn delete(&self, key: &StorageKey) -> io::Result<()> {
        match tokio::fs::remove_file(self.path(key)).await {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }

    /// Reads the object `key`.
    pub async fn open(&self, key: &StorageKey) -> io::Result<BufReader<File>> {
        Ok(BufReader::with_capacity(256 * 1024, File::open(self.path(key)).await?))
    }

    /// Whether the storage sits on the machine at `address`, as far as the
    /// console can tell: a directory storage is on the console's machine,
    /// so it is when the host is reached at a loopback address.
    pub fn is_on_host(&self, address: &str) -> bool {
        let address = address.trim_matches(|c| c == '[' || c == ']');
        address == "localhost" || address.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

/// An object being written; see [`BackupStorage::keep`].
pub struct ObjectWriter {
    file: File,
}

impl AsyncWrite for ObjectWriter {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.file).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.file).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.file).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_back_from_the_catalog_stay_inside_the_storage() {
        for bad in ["", "/etc/passwd", "a/../b", "a//b", "a/./b", "a b", "a\\b"] {
            assert!(StorageKey::parse(bad).is_err(), "{bad:?}");
        }
        assert!(StorageKey::parse("ocpizza-prod/20261125T031500Z-42.dump.zst.age").is_ok());
    }

    #[test]
    fn a_directory_storage_is_on_the_host_only_for_loopback_addresses() {
        let storage = BackupStorage::directory("/var/lib/backups");
        for local in ["127.0.0.1", "::1", "[::1]", "localhost", "127.0.1.1"] {
            assert!(storage.is_on_host(local), "{local}");
        }
        for remote in ["203.0.113.7", "vps.ocpizza.fr", "2001:db8::1"] {
            assert!(!storage.is_on_host(remote), "{remote}");
        }
    }

    #[tokio::test]
    async fn an_object_takes_its_name_only_when_kept_and_discard_leaves_nothing() {
        use tokio::io::AsyncWriteExt;
        let dir = std::env::temp_dir().join(format!("ocpizza-storage-{}", rand::random::<u64>()));
        let storage = BackupStorage::directory(&dir);
        let key = StorageKey::parse("host/one.age").unwrap();
        let mut object = storage.create(&key).await.unwrap();
        object.write_all(b"bytes").await.unwrap();
        object.shutdown().await.unwrap();
        assert!(storage.open(&key).await.is_err(), "not readable before it is kept");
        storage.keep(&key).await.unwrap();
        assert!(storage.open(&key).await.is_ok());
        storage.discard(&key).await;
        assert!(storage.open(&key).await.is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
