//! Backups kept in an S3-compatible bucket (moto's server, a real S3 peer
//! on a loopback port): the staging database goes to the bucket in 5 MiB
//! parts, comes back row for row, downloads as stored; an object changed
//! in the bucket is refused; a bucket out of reach fails the backup with
//! its reason; an upload cut short is aborted, leaving no part behind.

use std::time::Duration;

use domain::backups::BackupStatus;
use domain::jobs::{JobFailure, JobStatus};
use domain::storage::{BackupStorage, S3Settings, StorageKey};
use sha2::Digest;
use sqlx::PgPool;
use tokio::io::AsyncWriteExt;

use crate::backups::{app_database, backed_up, finished, register_staging, restored, staging_database_alone};
use crate::helpers::*;
use crate::own_s3::{console_args, OwnS3};

const PREFIX: &str = "console";

async fn spawn_app_on(pool: PgPool, settings: &S3Settings) -> TestApp {
    let args = console_args(settings);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    spawn_app_with(pool, &args).await
}

/// A table of incompressible bytes (about 12 MiB), so the backup takes
/// more than two parts.
async fn random_table(database: &PgPool) {
    sqlx::query("DROP TABLE IF EXISTS s3_probe")
        .execute(database)
        .await
        .unwrap();
    sqlx::query("CREATE TABLE s3_probe (id int PRIMARY KEY, payload bytea NOT NULL)")
        .execute(database)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO s3_probe SELECT i, decode(md5(i::text) || md5((-i)::text) || md5((i * 7)::text) || md5((i * 13)::text), 'hex') \
         FROM generate_series(1, 200000) i",
    )
    .execute(database)
    .await
    .unwrap();
}

/// The table's rows, summed up: how many and a digest of every byte.
async fn fingerprint(database: &PgPool) -> (i64, String) {
    sqlx::query_as("SELECT count(*), md5(string_agg(payload, ''::bytea ORDER BY id)) FROM s3_probe")
        .fetch_one(database)
        .await
        .unwrap()
}

async fn key_of(app: &TestApp, backup_id: i64) -> String {
    let key: String = sqlx::query_scalar("SELECT storage_key FROM backups WHERE id = $1")
        .bind(backup_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    format!("{PREFIX}/{key}")
}

#[sqlx::test(migrations = "../migrations")]
async fn a_backup_goes_to_the_bucket_in_parts_and_restores_from_it_and_a_changed_object_is_refused(pool: PgPool) {
    let _turn = staging_database_alone().await;
    let s3 = OwnS3::start().await;
    let app = spawn_app_on(pool, &s3.settings(PREFIX)).await;
    let admin = app.admin().await;
    let host = register_staging(&app, &admin).await;
    let database = app_database().await;
    random_table(&database).await;
    let before = fingerprint(&database).await;

    let backup = backed_up(&app, &admin, host.id).await;
    let key = key_of(&app, backup.id).await;
    assert_eq!(s3.keys().await, vec![key.clone()], "one object, under the prefix");
    let (object, etag) = s3.object(&key).await;
    assert_eq!(backup.stored_bytes, Some(object.len() as i64));
    assert!(object.len() > 12 * 1024 * 1024, "{} bytes", object.len());
    assert_eq!(
        backup.sha256.as_deref(),
        Some(hex::encode(sha2::Sha256::digest(&object)).as_str())
    );
    assert!(
        object.starts_with(b"age-encryption.org/v1"),
        "encrypted before it leaves"
    );
    assert!(
        etag.ends_with("-3"),
        "sent as a multipart upload of three parts: {etag}"
    );
    assert!(s3.unfinished_uploads().await.is_empty());

    // The page says where the backups are; an admin downloads one as stored.
    let browser = app.browser();
    browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let page = browser.get("/backups").await.text().await.unwrap();
    assert!(
        page.contains(&format!("s3://{}/{PREFIX}/ ({})", s3.bucket, s3.endpoint)),
        "the storage's location"
    );
    let download = browser.get(&format!("/backups/{}/download", backup.id)).await;
    assert_eq!(download.status(), 200);
    assert!(download.bytes().await.unwrap().as_ref() == object.as_slice());

    // The data changes, and comes back from the bucket byte for byte.
    sqlx::query("DELETE FROM s3_probe WHERE id % 3 = 0")
        .execute(&database)
        .await
        .unwrap();
    assert_ne!(fingerprint(&database).await, before);
    let done = restored(&app, &admin, backup.id, &backup.database_name).await;
    assert_eq!(done.status, JobStatus::Succeeded, "{:?}", done.failure);
    assert_eq!(fingerprint(&database).await, before);
    assert_eq!(s3.keys().await.len(), 2, "the safety copy went to the bucket too");

    // Someone with the bucket's key changes one byte: refused, untouched.
    let mut changed = object.clone();
    changed[object.len() / 2] ^= 0x01;
    s3.replace(&key, changed).await;
    let done = restored(&app, &admin, backup.id, &backup.database_name).await;
    assert_eq!(
        (done.status, done.failure),
        (JobStatus::Failed, Some(JobFailure::BackupTampered))
    );
    assert_eq!(s3.keys().await.len(), 2, "refused before any safety copy");
    sqlx::query("DROP TABLE s3_probe").execute(&database).await.unwrap();
}

#[sqlx::test(migrations = "../migrations")]
async fn a_bucket_out_of_reach_fails_the_backup_with_its_reason_and_leaves_nothing(pool: PgPool) {
    let _turn = staging_database_alone().await;
    // A port where nothing listens.
    let nobody = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = spawn_app_on(
        pool,
        &S3Settings {
            bucket: "sauvegardes-ocpizza".into(),
            prefix: PREFIX.into(),
            endpoint: Some(format!("http://127.0.0.1:{nobody}")),
            region: "us-east-1".into(),
            access_key_id: format!("TEST{}", uuid::Uuid::new_v4().simple()),
            secret_access_key: domain::secrets::Zeroizing::new(uuid::Uuid::new_v4().simple().to_string()),
            part_size: S3Settings::SMALLEST_PART,
        },
    )
    .await;
    let admin = app.admin().await;
    let host = register_staging(&app, &admin).await;

    let job = app
        .console
        .backups
        .back_up_now(&admin, &Default::default(), host.id, None)
        .await
        .unwrap();
    let done = finished(&app, job).await;
    assert_eq!(
        (done.status, done.failure),
        (JobStatus::Failed, Some(JobFailure::StorageFailed))
    );
    let output: Vec<String> = sqlx::query_scalar("SELECT line FROM job_output WHERE job_id = $1 ORDER BY seq")
        .bind(job)
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert!(
        output
            .iter()
            .any(|l| l.starts_with("storage: ") && l.contains(&format!("127.0.0.1:{nobody}"))),
        "the job says what the storage answered: {output:?}"
    );
    let catalog = app.console.backups.list(Some(host.id), 10).await.unwrap();
    assert_eq!(catalog.len(), 1);
    assert_eq!(catalog[0].status, BackupStatus::Failed);
    assert!(!catalog[0].restorable());
}

#[tokio::test]
async fn an_upload_cut_short_is_aborted_and_leaves_no_part_in_the_bucket() {
    let s3 = OwnS3::start().await;
    let storage = BackupStorage::s3(s3.settings("")).unwrap();
    let key = StorageKey::parse("staging/cut-short.dump.zst.age").unwrap();
    let mut object = storage.create(&key).await.unwrap();
    let chunk: Vec<u8> = (0..1024 * 1024).map(|_| rand::random::<u8>()).collect();
    for _ in 0..7 {
        object.write_all(&chunk).await.unwrap();
    }
    object.flush().await.unwrap();
    let mut begun = Vec::new();
    for _ in 0..100 {
        begun = s3.unfinished_uploads().await;
        if !begun.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(begun.len(), 1, "a multipart upload was under way");

    drop(object);
    let mut left = begun;
    for _ in 0..100 {
        left = s3.unfinished_uploads().await;
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(left.is_empty(), "the upload was aborted: {left:?}");
    assert!(s3.keys().await.is_empty());
    assert!(storage.open(&key).await.is_err());
}
