//! The master key on disk, its rotation through the sub-command, and a
//! console that refuses to start rather than lose or leak it.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use domain::secrets::{MasterKey, SecretBox, SecretId, SecretStore};
use sqlx::PgPool;

use crate::helpers::TempDataDir;

/// A configuration in file mode (no CONSOLE_MASTER_KEY) on `data_dir`.
fn file_mode_config(data_dir: &Path) -> server::config::Config {
    let config = <server::config::Config as clap::Parser>::parse_from([
        "ocpizza-console",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data_dir.to_str().unwrap(),
    ]);
    server::config::Config {
        master_key: None,
        previous_master_key: None,
        ..config
    }
}

fn write_key(path: &Path, key: &MasterKey, mode: u32) {
    std::fs::write(path, key.encode().as_bytes()).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

async fn store_one(store: &SecretStore, pool: &PgPool) -> SecretId {
    let mut tx = pool.begin().await.unwrap();
    let id = store
        .put(&mut tx, "host:seven:private_key", b"the host's private key")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}

/// The test database's URL, for the binary.
fn database_url(pool: &PgPool) -> String {
    let database = pool.connect_options().get_database().unwrap().to_owned();
    let base = std::env::var("DATABASE_URL").unwrap();
    format!("{}/{database}", base.rsplit_once('/').unwrap().0)
}

/// Runs `ocpizza-console rotate-master-key` in file mode on the test's database.
fn rotate_with_the_binary(pool: &PgPool, data_dir: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ocpizza-console"))
        .args(["rotate-master-key", "--data-dir", data_dir.to_str().unwrap()])
        .env("DATABASE_URL", database_url(pool))
        .env_remove("CONSOLE_MASTER_KEY")
        .env_remove("CONSOLE_PREVIOUS_MASTER_KEY")
        .output()
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn rotate_master_key_reseals_every_secret_and_keeps_the_old_key_aside(pool: PgPool) {
    let data_dir = TempDataDir::new();
    let old = MasterKey::generate();
    write_key(&data_dir.path().join("master.key"), &old, 0o600);
    let store = SecretStore::new(pool.clone(), SecretBox::new(old.clone()));
    let id = store_one(&store, &pool).await;

    let output = rotate_with_the_binary(&pool, data_dir.path());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM secrets")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(stdout.contains(&format!("{stored} secrets re-sealed")), "{stdout}");
    assert!(
        !stdout.contains(old.encode().as_str()),
        "no key is printed in file mode"
    );

    let new = MasterKey::decode(&std::fs::read_to_string(data_dir.path().join("master.key")).unwrap()).unwrap();
    let previous = data_dir.path().join(format!("master.key.previous.{}", old.id_hex()));
    assert_eq!(std::fs::read_to_string(previous).unwrap(), old.encode().as_str());
    assert!(!data_dir.path().join("master.key.next").exists());
    let reopened = SecretStore::new(pool.clone(), SecretBox::new(new));
    assert_eq!(reopened.get(id).await.unwrap().as_slice(), b"the host's private key");
    assert!(store.get(id).await.is_err(), "the old key alone opens nothing now");
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'secrets.rotate_master_key'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(audited, 1);

    // A second rotation keeps the first one's old key too.
    assert!(rotate_with_the_binary(&pool, data_dir.path()).status.success());
    let previous_keys = std::fs::read_dir(data_dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("master.key.previous.")
        })
        .count();
    assert_eq!(previous_keys, 2);
}

/// A `master.key.next` this rotation did not create is never overwritten:
/// one holding a key is what an interrupted rotation left, and the rotation
/// finishes with it; anything else stops the rotation, file untouched.
#[sqlx::test(migrations = "../migrations")]
async fn rotation_never_overwrites_a_master_key_next_it_did_not_create(pool: PgPool) {
    let data_dir = TempDataDir::new();
    let (file, next) = (
        data_dir.path().join("master.key"),
        data_dir.path().join("master.key.next"),
    );
    let old = MasterKey::generate();
    write_key(&file, &old, 0o600);
    let store = SecretStore::new(pool.clone(), SecretBox::new(old.clone()));
    let id = store_one(&store, &pool).await;

    std::fs::write(&next, "not a key, but someone's file").unwrap();
    std::fs::set_permissions(&next, std::fs::Permissions::from_mode(0o600)).unwrap();
    let output = rotate_with_the_binary(&pool, data_dir.path());
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("master.key.next is not a master key"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(std::fs::read_to_string(&next).unwrap(), "not a key, but someone's file");
    assert_eq!(store.get(id).await.unwrap().as_slice(), b"the host's private key");

    let left = MasterKey::generate();
    write_key(&next, &left, 0o600);
    let output = rotate_with_the_binary(&pool, data_dir.path());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        left.encode().as_str(),
        "the key found in master.key.next is the one installed, not a fresh one"
    );
    let with_it = SecretStore::new(pool.clone(), SecretBox::new(left));
    assert_eq!(with_it.get(id).await.unwrap().as_slice(), b"the host's private key");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_first_start_writes_a_private_master_key_file(pool: PgPool) {
    let data_dir = TempDataDir::new();
    let config = file_mode_config(data_dir.path());
    let first = server::master_key::open(&config, &pool).await.unwrap();
    let metadata = std::fs::metadata(data_dir.path().join("master.key")).unwrap();
    assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
    let id = store_one(&SecretStore::new(pool.clone(), first), &pool).await;
    let again = server::master_key::open(&config, &pool).await.unwrap();
    assert_eq!(
        SecretStore::new(pool.clone(), again).get(id).await.unwrap().as_slice(),
        b"the host's private key",
        "the same key on every start"
    );
}

/// master.key lost while the database holds secrets: the console says so and
/// stops; it does not write a new key that could never open them.
#[sqlx::test(migrations = "../migrations")]
async fn a_missing_master_key_with_stored_secrets_stops_the_console(pool: PgPool) {
    let data_dir = TempDataDir::new();
    store_one(
        &SecretStore::new(pool.clone(), SecretBox::new(MasterKey::generate())),
        &pool,
    )
    .await;

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ocpizza-console"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data_dir.path().to_str().unwrap(),
        ])
        .env("DATABASE_URL", database_url(&pool))
        .env_remove("CONSOLE_MASTER_KEY")
        .env_remove("CONSOLE_PREVIOUS_MASTER_KEY")
        .output()
        .unwrap();
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the console refuses to start: {message}");
    assert!(
        message.contains("master.key is missing while the database holds 1 sealed secrets"),
        "{message}"
    );
    assert!(message.contains("restore master.key from your backup"), "{message}");
    assert!(!data_dir.path().join("master.key").exists(), "no new key was generated");

    // The wrong key is refused the same way.
    write_key(&data_dir.path().join("master.key"), &MasterKey::generate(), 0o600);
    let wrong = server::master_key::open(&file_mode_config(data_dir.path()), &pool)
        .await
        .expect_err("a key that opens nothing is refused");
    assert!(
        format!("{wrong:#}").contains("1 of the 1 secrets in the database are sealed under a master key"),
        "{wrong:#}"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_key_file_other_users_can_read_is_refused_with_the_chmod_to_run(pool: PgPool) {
    let data_dir = TempDataDir::new();
    let path = data_dir.path().join("master.key");
    write_key(&path, &MasterKey::generate(), 0o640);
    let refused = server::master_key::open(&file_mode_config(data_dir.path()), &pool)
        .await
        .expect_err("a group-readable key is refused");
    let message = format!("{refused:#}");
    assert!(message.contains("open to other users (mode 0640)"), "{message}");
    assert!(message.contains(&format!("chmod 600 {}", path.display())), "{message}");

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(server::master_key::open(&file_mode_config(data_dir.path()), &pool)
        .await
        .is_ok());
}
