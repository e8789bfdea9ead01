//! The master key on disk and its rotation through the sub-command.

use domain::secrets::{MasterKey, SecretBox, SecretStore};
use sqlx::PgPool;

#[sqlx::test(migrations = "../migrations")]
async fn rotate_master_key_reseals_every_secret_and_keeps_the_old_key_aside(pool: PgPool) {
    let data_dir = std::env::temp_dir().join(format!("ocpizza-keys-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&data_dir).unwrap();
    let old = MasterKey::generate();
    std::fs::write(data_dir.join("master.key"), old.encode().as_bytes()).unwrap();
    let store = SecretStore::new(pool.clone(), SecretBox::new(old.clone()));
    let mut tx = pool.begin().await.unwrap();
    let id = store
        .put(&mut tx, "host:7:private_key", b"the host's private key")
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let database = pool.connect_options().get_database().unwrap().to_owned();
    let base = std::env::var("DATABASE_URL").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ocpizza-console"))
        .args(["rotate-master-key", "--data-dir", data_dir.to_str().unwrap()])
        .env(
            "DATABASE_URL",
            format!("{}/{database}", base.rsplit_once('/').unwrap().0),
        )
        .env_remove("CONSOLE_MASTER_KEY")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("1 secrets re-sealed"), "{stdout}");
    assert!(
        !stdout.contains(old.encode().as_str()),
        "no key is printed in file mode"
    );

    let new = MasterKey::decode(&std::fs::read_to_string(data_dir.join("master.key")).unwrap()).unwrap();
    let previous = std::fs::read_to_string(data_dir.join("master.key.previous")).unwrap();
    assert_eq!(previous, old.encode().as_str());
    assert!(!data_dir.join("master.key.next").exists());
    let reopened = SecretStore::new(pool.clone(), SecretBox::new(new));
    assert_eq!(reopened.get(id).await.unwrap().as_slice(), b"the host's private key");
    assert!(store.get(id).await.is_err(), "the old key alone opens nothing now");
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'secrets.rotate_master_key'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(audited, 1);
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[test]
fn a_first_start_writes_a_private_master_key_file() {
    use std::os::unix::fs::PermissionsExt;
    let data_dir = std::env::temp_dir().join(format!("ocpizza-keys-{}", uuid::Uuid::new_v4().simple()));
    let config = <server::config::Config as clap::Parser>::parse_from([
        "ocpizza-console",
        "--data-dir",
        data_dir.to_str().unwrap(),
    ]);
    let config = server::config::Config {
        master_key: None,
        ..config
    };
    server::master_key::load(&config).unwrap();
    let metadata = std::fs::metadata(data_dir.join("master.key")).unwrap();
    assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
    let again = server::master_key::load(&config).unwrap();
    let sealed = again.seal("p", b"v");
    assert_eq!(
        server::master_key::load(&config)
            .unwrap()
            .open("p", &sealed)
            .unwrap()
            .as_slice(),
        b"v",
        "the same key on every start"
    );
    let _ = std::fs::remove_dir_all(&data_dir);
}
