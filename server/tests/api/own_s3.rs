//! A private S3-compatible server for the tests: moto's server (from PyPI,
//! installed by `.ci/setup`), on a loopback port of its own, with one
//! empty bucket. It speaks S3's real protocol (signed requests, multipart
//! uploads and their 5 MiB minimum part, XML listings), so the console
//! talks to it exactly as to Linode Object Storage.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use domain::secrets::Zeroizing;
use domain::storage::S3Settings;

pub struct OwnS3 {
    pub endpoint: String,
    pub bucket: String,
    access_key_id: String,
    secret_access_key: String,
    child: Child,
    log: std::path::PathBuf,
}

impl OwnS3 {
    pub async fn start() -> Self {
        let program = std::env::var("MOTO_SERVER").unwrap_or_else(|_| {
            format!(
                "{}/.cache/ocpizza-console/moto/bin/moto_server",
                std::env::var("HOME").unwrap()
            )
        });
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::env::temp_dir().join(format!("ocpizza-moto-{port}.log"));
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("{program} (moto's S3 server, installed by .ci/setup): {e}"));
        let endpoint = format!("http://127.0.0.1:{port}");
        let s3 = Self {
            endpoint,
            bucket: "sauvegardes-ocpizza".into(),
            access_key_id: format!("TEST{}", uuid::Uuid::new_v4().simple()),
            secret_access_key: uuid::Uuid::new_v4().simple().to_string(),
            child,
            log,
        };
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if client.get(&s3.endpoint).send().await.is_ok() {
                let created = client
                    .put(format!("{}/{}", s3.endpoint, s3.bucket))
                    .send()
                    .await
                    .unwrap();
                assert!(created.status().is_success(), "{:?}", created.text().await);
                return s3;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "moto's S3 server did not start: {}",
            std::fs::read_to_string(&s3.log).unwrap_or_default()
        );
    }

    /// How to reach this bucket, under `prefix` (5 MiB parts: S3's least).
    pub fn settings(&self, prefix: &str) -> S3Settings {
        S3Settings {
            bucket: self.bucket.clone(),
            prefix: prefix.to_owned(),
            endpoint: Some(self.endpoint.clone()),
            region: "us-east-1".into(),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: Zeroizing::new(self.secret_access_key.clone()),
            part_size: S3Settings::SMALLEST_PART,
        }
    }

    /// The bucket's object keys, read with S3's own listing.
    pub async fn keys(&self) -> Vec<String> {
        let listing = self.get(&format!("{}?list-type=2", self.bucket)).await;
        values_of(&listing, "Key")
    }

    /// The uploads begun and neither completed nor aborted.
    pub async fn unfinished_uploads(&self) -> Vec<String> {
        let listing = self.get(&format!("{}?uploads", self.bucket)).await;
        values_of(&listing, "UploadId")
    }

    /// An object's bytes and ETag (a multipart upload's ETag ends in
    /// `-<number of parts>`).
    pub async fn object(&self, key: &str) -> (Vec<u8>, String) {
        let response = reqwest::get(format!("{}/{}/{key}", self.endpoint, self.bucket))
            .await
            .unwrap();
        assert!(response.status().is_success(), "{key}: {}", response.status());
        let etag = response.headers()["etag"]
            .to_str()
            .unwrap()
            .trim_matches('"')
            .to_owned();
        (response.bytes().await.unwrap().to_vec(), etag)
    }

    /// Overwrites an object (what someone with the bucket's key could do).
    pub async fn replace(&self, key: &str, bytes: Vec<u8>) {
        let put = reqwest::Client::new()
            .put(format!("{}/{}/{key}", self.endpoint, self.bucket))
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert!(put.status().is_success());
    }

    async fn get(&self, path: &str) -> String {
        let response = reqwest::get(format!("{}/{path}", self.endpoint)).await.unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.text().await.unwrap()
    }
}

/// The text of every `<tag>…</tag>` of an S3 XML answer.
fn values_of(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(open.as_str())
        .skip(1)
        .filter_map(|rest| rest.split_once(close.as_str()).map(|(value, _)| value.to_owned()))
        .collect()
}

/// The console's options for the bucket `settings` describe.
pub fn console_args(settings: &S3Settings) -> Vec<String> {
    let part_mib = (settings.part_size / (1024 * 1024)).to_string();
    [
        ("--backup-s3-bucket", settings.bucket.as_str()),
        ("--backup-s3-prefix", settings.prefix.as_str()),
        ("--backup-s3-endpoint", settings.endpoint.as_deref().unwrap_or_default()),
        ("--backup-s3-region", settings.region.as_str()),
        ("--backup-s3-access-key-id", settings.access_key_id.as_str()),
        ("--backup-s3-secret-access-key", settings.secret_access_key.as_str()),
        ("--backup-s3-part-mib", part_mib.as_str()),
    ]
    .into_iter()
    .flat_map(|(flag, value)| [flag.to_owned(), value.to_owned()])
    .collect()
}

impl Drop for OwnS3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
