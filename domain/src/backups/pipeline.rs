//! The bytes of a backup on their way: pg_dump's output is compressed
//! (zstd), encrypted (age, to the console's backup key) and hashed
//! (SHA-256 of what is stored) on the fly into the storage, and read back
//! the other way for a restore. Each stage holds a bounded buffer, so the
//! memory used does not depend on the database's size.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use age::x25519::{Identity, Recipient};
use async_compression::tokio::bufread::ZstdDecoder;
use async_compression::tokio::write::ZstdEncoder;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufRead, AsyncRead, AsyncReadExt, AsyncWrite, BufReader};
use tokio_util::compat::{
    FuturesAsyncReadCompatExt, FuturesAsyncWriteCompatExt, TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt,
};

use crate::storage::ObjectWriter;

/// Bytes counted (and, for the stored side, hashed) as they pass.
#[derive(Debug, Default)]
pub(super) struct Meter {
    bytes: AtomicU64,
    hash: Option<Mutex<Sha256>>,
}

impl Meter {
    fn hashing() -> Self {
        Self {
            bytes: AtomicU64::new(0),
            hash: Some(Mutex::new(Sha256::new())),
        }
    }

    pub(super) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The SHA-256 of every byte so far, hex (empty when not hashing).
    pub(super) fn sha256(&self) -> String {
        self.hash
            .as_ref()
            .map(|hash| hex::encode(hash.lock().expect("not poisoned").clone().finalize()))
            .unwrap_or_default()
    }

    fn count(&self, bytes: &[u8]) {
        self.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        if let Some(hash) = &self.hash {
            hash.lock().expect("not poisoned").update(bytes);
        }
    }
}

/// A writer that passes what is written to its [`Meter`].
struct Metered<W> {
    inner: W,
    meter: Arc<Meter>,
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Metered<W> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let written = std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, buf))?;
        self.meter.count(&buf[..written]);
        Poll::Ready(Ok(written))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Where a backup's bytes go in, and what was counted on the way.
pub(super) struct Sealing {
    pub writer: Box<dyn AsyncWrite + Unpin + Send>,
    /// pg_dump's bytes.
    pub raw: Arc<Meter>,
    /// The stored object's bytes and checksum.
    pub stored: Arc<Meter>,
}

/// Compresses, encrypts to `recipient` and hashes into `object`. Shutting
/// the writer down finishes the compression and the encryption.
pub(super) async fn sealing(object: ObjectWriter, recipient: &Recipient) -> io::Result<Sealing> {
    let stored = Arc::new(Meter::hashing());
    let hashed = Metered {
        inner: object,
        meter: stored.clone(),
    };
    let encryptor = age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient))
        .map_err(|e| io::Error::other(e.to_string()))?;
    let encrypted = encryptor.wrap_async_output(hashed.compat_write()).await?;
    let compressed = ZstdEncoder::new(encrypted.compat_write());
    let raw = Arc::new(Meter::default());
    Ok(Sealing {
        writer: Box::new(Metered {
            inner: compressed,
            meter: raw.clone(),
        }),
        raw,
        stored,
    })
}

/// A stored backup read back as pg_dump wrote it: decrypted with
/// `identity` and decompressed. A stored object that was changed fails to
/// decrypt: reading it is an error, never altered bytes.
pub(super) async fn opening(
    object: impl AsyncBufRead + Unpin + Send,
    identity: &Identity,
) -> Result<impl AsyncRead + Unpin + Send, age::DecryptError> {
    let decryptor = age::Decryptor::new_async_buffered(object.compat()).await?;
    let plain = decryptor.decrypt_async(std::iter::once(identity as &dyn age::Identity))?;
    Ok(ZstdDecoder::new(BufReader::with_capacity(256 * 1024, plain.compat())))
}

/// The SHA-256 (hex) and size of a stored object, read from end to end.
pub(super) async fn checksum(mut object: impl AsyncRead + Unpin) -> io::Result<(String, u64)> {
    let mut hash = Sha256::new();
    let mut chunk = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let read = object.read(&mut chunk).await?;
        if read == 0 {
            return Ok((hex::encode(hash.finalize()), size));
        }
        hash.update(&chunk[..read]);
        size += read as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{BackupStorage, StorageKey};
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_sealed_backup_reads_back_whole_and_its_checksum_is_the_stored_objects() {
        let dir = std::env::temp_dir().join(format!("ocpizza-pipeline-{}", rand::random::<u64>()));
        let storage = BackupStorage::directory(&dir);
        let key = StorageKey::parse("host/backup.age").unwrap();
        let identity = Identity::generate();
        let mut dump = Vec::new();
        for i in 0..200_000u32 {
            dump.extend_from_slice(format!("row {i}\n").as_bytes());
        }
        let mut sealing = sealing(storage.create(&key).await.unwrap(), &identity.to_public())
            .await
            .unwrap();
        sealing.writer.write_all(&dump).await.unwrap();
        sealing.writer.shutdown().await.unwrap();
        storage.keep(&key).await.unwrap();
        assert_eq!(sealing.raw.bytes(), dump.len() as u64);
        let stored = std::fs::read(dir.join("host/backup.age")).unwrap();
        assert_eq!(sealing.stored.bytes(), stored.len() as u64);
        assert!(stored.len() < dump.len() / 4, "compressed");
        assert!(
            !stored.windows(7).any(|w| w == b"row 123"),
            "not readable without the key"
        );
        let (sum, size) = checksum(storage.open(&key).await.unwrap()).await.unwrap();
        assert_eq!((sum, size), (sealing.stored.sha256(), stored.len() as u64));
        let mut back = Vec::new();
        opening(storage.open(&key).await.unwrap(), &identity)
            .await
            .unwrap()
            .read_to_end(&mut back)
            .await
            .unwrap();
        assert!(back == dump, "the dump reads back byte for byte");
        let other = Identity::generate();
        assert!(opening(storage.open(&key).await.unwrap(), &other).await.is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
