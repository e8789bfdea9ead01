//! Where backups are kept, never on the managed host's disk: a directory
//! on the console's machine (by default `<data dir>/backups`), or a bucket
//! of an S3-compatible object storage (Linode Object Storage, any S3).
//!
//! An object only takes its name once complete: in a directory it is
//! written under a temporary name and renamed when kept; in a bucket it is
//! sent in parts (a multipart upload, one part in memory at a time) that
//! only become the object when the upload is completed. A failed or
//! interrupted backup so leaves nothing that looks like a backup, and
//! `discard` removes what was written (an unfinished upload is aborted).

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};
use tokio::fs::File;
use tokio::io::{AsyncBufRead, AsyncWrite, BufReader};
use zeroize::Zeroizing;

use crate::error::{DomainError, Result};

/// The backup storage.
#[derive(Debug, Clone)]
pub struct BackupStorage {
    place: Place,
}

#[derive(Debug, Clone)]
enum Place {
    Directory(PathBuf),
    Bucket(Bucket),
}

/// A bucket of an S3-compatible storage, and where in it.
#[derive(Clone)]
struct Bucket {
    store: Arc<dyn ObjectStore>,
    name: String,
    prefix: String,
    endpoint: Option<url::Url>,
    part_size: usize,
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bucket")
            .field("name", &self.name)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint.as_ref().map(url::Url::as_str))
            .finish_non_exhaustive()
    }
}

/// How to reach an S3-compatible bucket (the console's configuration).
pub struct S3Settings {
    pub bucket: String,
    /// Where in the bucket the console's objects go (`ocpizza-console/`).
    pub prefix: String,
    /// The service's URL (`https://fr-par-1.linodeobjects.com`); AWS when
    /// none.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: Zeroizing<String>,
    /// The size of each part of an upload: what one backup holds in memory
    /// on its way to the bucket. At least 5 MiB (S3's own minimum).
    pub part_size: usize,
}

impl S3Settings {
    /// S3 refuses parts under 5 MiB (but the last).
    pub const SMALLEST_PART: usize = 5 * 1024 * 1024;
    pub const DEFAULT_PART: usize = 8 * 1024 * 1024;
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"[redacted]")
            .finish()
    }
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
        Self {
            place: Place::Directory(root.into()),
        }
    }

    /// Backups kept in an S3-compatible bucket. Nothing is sent yet: a
    /// wrong key or an unknown bucket shows at the first backup, as a
    /// storage failure whose reason is in the console's log.
    pub fn s3(settings: S3Settings) -> Result<Self> {
        let invalid = |what: &str| DomainError::Internal(format!("the S3 backup storage's {what}"));
        if settings.bucket.is_empty() {
            return Err(invalid("bucket is not named"));
        }
        if settings.part_size < S3Settings::SMALLEST_PART {
            return Err(invalid("part size is under 5 MiB (S3 refuses smaller parts)"));
        }
        let endpoint = settings
            .endpoint
            .as_deref()
            .map(url::Url::parse)
            .transpose()
            .map_err(|e| invalid(&format!("endpoint is not a URL: {e}")))?;
        if endpoint
            .as_ref()
            .is_some_and(|url| !matches!(url.scheme(), "http" | "https") || url.host().is_none())
        {
            return Err(invalid("endpoint is not an http(s) URL"));
        }
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_access_key_id(&settings.access_key_id)
            .with_secret_access_key(settings.secret_access_key.as_str())
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(10))
                    .with_timeout(Duration::from_secs(120))
                    .with_allow_http(endpoint.as_ref().is_some_and(|url| url.scheme() == "http")),
            )
            // A storage that is down fails the backup within seconds,
            // while a passing error (a 503, a reset) is tried again.
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: 4,
                retry_timeout: Duration::from_secs(60),
            });
        if let Some(url) = &endpoint {
            builder = builder.with_endpoint(url.as_str().trim_end_matches('/'));
        }
        let store = builder
            .build()
            .map_err(|e| invalid(&format!("settings are refused: {e}")))?;
        Ok(Self {
            place: Place::Bucket(Bucket {
                store: Arc::new(store),
                name: settings.bucket,
                prefix: settings.prefix.trim_matches('/').to_owned(),
                endpoint,
                part_size: settings.part_size,
            }),
        })
    }

    /// Where the backups are, as the backups page shows it.
    pub fn location(&self) -> String {
        match &self.place {
            Place::Directory(root) => root.display().to_string(),
            Place::Bucket(bucket) => {
                let at = bucket
                    .endpoint
                    .as_ref()
                    .map_or_else(|| "AWS".to_owned(), |url| url.as_str().trim_end_matches('/').to_owned());
                match bucket.prefix.as_str() {
                    "" => format!("s3://{} ({at})", bucket.name),
                    prefix => format!("s3://{}/{prefix}/ ({at})", bucket.name),
                }
            }
        }
    }

    /// Starts writing the object `key` (it takes its name when kept).
    pub async fn create(&self, key: &StorageKey) -> io::Result<ObjectWriter> {
        match &self.place {
            Place::Directory(root) => {
                let partial = partial_path(root, key);
                if let Some(parent) = partial.parent() {
                    tokio::fs::create_dir_all(parent).await?;
                }
                let file = tokio::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&partial)
                    .await?;
                Ok(ObjectWriter::File(file))
            }
            Place::Bucket(bucket) => Ok(ObjectWriter::Upload(Upload {
                writer: Some(
                    BufWriter::with_capacity(bucket.store.clone(), bucket.path(key), bucket.part_size)
                        // Two parts in flight: the next is read while one is sent.
                        .with_max_concurrency(2),
                ),
                state: UploadState::Writing,
            })),
        }
    }

    /// The object `key` is complete (its writer shut down): it takes its
    /// name, on disk for good, or is checked to be in the bucket.
    pub async fn keep(&self, key: &StorageKey) -> io::Result<()> {
        match &self.place {
            Place::Directory(root) => {
                let (partial, path) = (partial_path(root, key), root.join(key.as_str()));
                File::open(&partial).await?.sync_all().await?;
                tokio::fs::rename(&partial, &path).await?;
                if let Some(parent) = path.parent() {
                    File::open(parent).await?.sync_all().await?;
                }
                Ok(())
            }
            Place::Bucket(bucket) => {
                bucket.store.head(&bucket.path(key)).await?;
                Ok(())
            }
        }
    }

    /// Removes whatever was written of the object `key`, complete or not.
    pub async fn discard(&self, key: &StorageKey) {
        let removed = match &self.place {
            Place::Directory(root) => {
                let mut removed = Ok(());
                for path in [partial_path(root, key), root.join(key.as_str())] {
                    match tokio::fs::remove_file(&path).await {
                        Err(error) if error.kind() != io::ErrorKind::NotFound => removed = Err(error),
                        _ => {}
                    }
                }
                removed
            }
            Place::Bucket(_) => self.delete(key).await,
        };
        if let Err(error) = removed {
            tracing::error!(%error, key = key.as_str(), "a backup object could not be removed");
        }
    }

    /// Deletes the kept object `key` (retention): an object already gone
    /// is no error.
    pub async fn delete(&self, key: &StorageKey) -> io::Result<()> {
        let deleted = match &self.place {
            Place::Directory(root) => tokio::fs::remove_file(root.join(key.as_str())).await,
            Place::Bucket(bucket) => bucket.store.delete(&bucket.path(key)).await.map_err(io::Error::from),
        };
        match deleted {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }

    /// Reads the object `key`, from its first byte.
    pub async fn open(&self, key: &StorageKey) -> io::Result<ObjectReader> {
        match &self.place {
            Place::Directory(root) => Ok(Box::new(BufReader::with_capacity(
                256 * 1024,
                File::open(root.join(key.as_str())).await?,
            ))),
            Place::Bucket(bucket) => {
                let object = bucket.store.get(&bucket.path(key)).await?;
                Ok(Box::new(tokio_util::io::StreamReader::new(
                    object.into_stream().map_err(io::Error::from),
                )))
            }
        }
    }

    /// Whether the storage sits on the machine at `address`, as far as the
    /// console can tell: a directory is on the console's machine, so on the
    /// host when the host is reached at a loopback address; a bucket is on
    /// the host when its endpoint names the host's address (or both are
    /// loopback addresses).
    pub fn is_on_host(&self, address: &str) -> bool {
        let address = address.trim_matches(|c| c == '[' || c == ']');
        match &self.place {
            Place::Directory(_) => is_loopback(address),
            Place::Bucket(bucket) => bucket
                .endpoint
                .as_ref()
                .and_then(url::Url::host_str)
                .map(|host| host.trim_matches(|c| c == '[' || c == ']'))
                .is_some_and(|host| host.eq_ignore_ascii_case(address) || (is_loopback(host) && is_loopback(address))),
        }
    }
}

fn is_loopback(address: &str) -> bool {
    address == "localhost" || address.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn partial_path(root: &std::path::Path, key: &StorageKey) -> PathBuf {
    root.join(format!("{}.partial", key.as_str()))
}

impl Bucket {
    fn path(&self, key: &StorageKey) -> ObjectPath {
        match self.prefix.as_str() {
            "" => ObjectPath::from(key.as_str()),
            prefix => ObjectPath::from(format!("{prefix}/{}", key.as_str())),
        }
    }
}

/// A stored object being read.
pub type ObjectReader = Box<dyn AsyncBufRead + Unpin + Send>;

/// An object being written; see [`BackupStorage::keep`]. Shutting it down
/// writes its last bytes (in a bucket: sends the last part and completes
/// the upload). Dropped before that, a bucket's upload is aborted, so no
/// stray part stays billed in the bucket.
pub enum ObjectWriter {
    File(File),
    Upload(Upload),
}

/// An upload to a bucket, part by part.
pub struct Upload {
    writer: Option<BufWriter>,
    state: UploadState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UploadState {
    Writing,
    Completing,
    Completed,
}

impl Upload {
    fn writer(&mut self) -> &mut BufWriter {
        self.writer.as_mut().expect("an upload has its writer until dropped")
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if self.state != UploadState::Writing {
            // Completed, or completing when dropped: `discard` deletes
            // the object if the completion went through.
            return;
        }
        let (Some(mut writer), Ok(runtime)) = (self.writer.take(), tokio::runtime::Handle::try_current()) else {
            return;
        };
        runtime.spawn(async move {
            if let Err(error) = writer.abort().await {
                tracing::warn!(%error, "an unfinished backup upload could not be aborted");
            }
        });
    }
}

impl AsyncWrite for ObjectWriter {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ObjectWriter::File(file) => Pin::new(file).poll_write(cx, buf),
            ObjectWriter::Upload(upload) => Pin::new(upload.writer()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ObjectWriter::File(file) => Pin::new(file).poll_flush(cx),
            ObjectWriter::Upload(upload) => Pin::new(upload.writer()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ObjectWriter::File(file) => Pin::new(file).poll_shutdown(cx),
            ObjectWriter::Upload(upload) => {
                if upload.state == UploadState::Completed {
                    return Poll::Ready(Ok(()));
                }
                upload.state = UploadState::Completing;
                let completed = std::task::ready!(Pin::new(upload.writer()).poll_shutdown(cx));
                if completed.is_ok() {
                    upload.state = UploadState::Completed;
                }
                Poll::Ready(completed)
            }
        }
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

    fn bucket_at(endpoint: Option<&str>) -> BackupStorage {
        BackupStorage::s3(S3Settings {
            bucket: "sauvegardes".into(),
            prefix: "/console/".into(),
            endpoint: endpoint.map(str::to_owned),
            region: "fr-par".into(),
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Zeroizing::new("not-a-real-secret".into()),
            part_size: S3Settings::DEFAULT_PART,
        })
        .unwrap()
    }

    #[test]
    fn a_bucket_is_on_the_host_when_its_endpoint_names_the_host() {
        let linode = bucket_at(Some("https://fr-par-1.linodeobjects.com"));
        assert_eq!(
            linode.location(),
            "s3://sauvegardes/console/ (https://fr-par-1.linodeobjects.com)"
        );
        for host in ["203.0.113.7", "127.0.0.1", "vps.ocpizza.fr"] {
            assert!(!linode.is_on_host(host), "{host}");
        }
        assert!(bucket_at(Some("http://203.0.113.7:9000")).is_on_host("203.0.113.7"));
        assert!(bucket_at(Some("http://VPS.ocpizza.fr:9000")).is_on_host("vps.ocpizza.fr"));
        assert!(
            bucket_at(Some("http://[::1]:9000")).is_on_host("127.0.0.1"),
            "both loopback"
        );
        assert!(!bucket_at(None).is_on_host("127.0.0.1"), "AWS is nobody's host");
        assert_eq!(bucket_at(None).location(), "s3://sauvegardes/console/ (AWS)");
    }

    #[test]
    fn bucket_settings_that_cannot_work_are_refused_and_the_secret_never_shows() {
        let settings = |endpoint: &str, part_size: usize| S3Settings {
            bucket: "b".into(),
            prefix: String::new(),
            endpoint: Some(endpoint.into()),
            region: "us-east-1".into(),
            access_key_id: "id".into(),
            secret_access_key: Zeroizing::new("tres-secret".into()),
            part_size,
        };
        assert!(BackupStorage::s3(settings("ftp://example.org", S3Settings::DEFAULT_PART)).is_err());
        assert!(BackupStorage::s3(settings("not a url", S3Settings::DEFAULT_PART)).is_err());
        assert!(BackupStorage::s3(settings("http://127.0.0.1:9000", 1024 * 1024)).is_err());
        let accepted = settings("http://127.0.0.1:9000", S3Settings::SMALLEST_PART);
        assert!(!format!("{accepted:?}").contains("tres-secret"));
        let storage = BackupStorage::s3(accepted).unwrap();
        assert!(!format!("{storage:?}").contains("tres-secret"));
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
