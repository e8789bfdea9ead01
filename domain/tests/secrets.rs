//! The secret store on a real PostgreSQL.

use domain::secrets::{MasterKey, SecretBox, SecretStore};
use sqlx::PgPool;

#[sqlx::test(migrations = "../migrations")]
async fn a_stored_secret_is_sealed_at_rest_and_survives_a_rotation(pool: PgPool) {
    let store = SecretStore::new(pool.clone(), SecretBox::new(MasterKey::generate()));
    let mut tx = pool.begin().await.unwrap();
    let id = store
        .put(&mut tx, "host:1:private_key", b"PRIVATE KEY BYTES")
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let at_rest: Vec<u8> = sqlx::query_scalar("SELECT sealed FROM secrets")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!at_rest.windows(7).any(|w| w == b"PRIVATE"));
    assert_eq!(store.get(id).await.unwrap().as_slice(), b"PRIVATE KEY BYTES");

    let new_key = MasterKey::generate();
    let (count, rotated) = store.rotate(new_key.clone()).await.unwrap();
    assert_eq!(count, 1);
    let after = SecretStore::new(pool.clone(), rotated);
    assert_eq!(after.get(id).await.unwrap().as_slice(), b"PRIVATE KEY BYTES");
    // The old key alone no longer opens it.
    assert!(store.get(id).await.is_err());
    assert!(SecretStore::new(pool, SecretBox::new(new_key)).get(id).await.is_ok());
}

async fn store_two(store: &SecretStore, pool: &PgPool) -> (domain::secrets::SecretId, domain::secrets::SecretId) {
    let mut tx = pool.begin().await.unwrap();
    let first = store.put(&mut tx, "host:web-1:private_key", b"KEY ONE").await.unwrap();
    let second = store.put(&mut tx, "host:web-2:private_key", b"KEY TWO").await.unwrap();
    tx.commit().await.unwrap();
    (first, second)
}

/// Someone with write access to the database copies one row's sealed value
/// (and its purpose) onto another row: it opens on neither the copy's row
/// nor for another owner.
#[sqlx::test(migrations = "../migrations")]
async fn a_sealed_value_copied_onto_another_row_does_not_open(pool: PgPool) {
    let store = SecretStore::new(pool.clone(), SecretBox::new(MasterKey::generate()));
    let (first, second) = store_two(&store, &pool).await;
    assert_eq!(store.get(second).await.unwrap().as_slice(), b"KEY TWO");

    sqlx::query(
        "UPDATE secrets SET sealed = o.sealed, purpose = o.purpose FROM secrets o WHERE secrets.id = $2 AND o.id = $1",
    )
    .bind(first)
    .bind(second)
    .execute(&pool)
    .await
    .unwrap();
    assert!(
        store.get(second).await.is_err(),
        "the copy does not open on another row"
    );
    assert_eq!(store.get(first).await.unwrap().as_slice(), b"KEY ONE");

    // A row pointing at another owner's secret gets nothing either.
    assert!(store.get_for(first, "host:web-2:private_key").await.is_err());
    assert!(store.get_for(first, "host:web-1:private_key").await.is_ok());
}

/// Values sealed before rows were bound (format 1: the purpose only) keep
/// opening: they are re-sealed, bound to their row, once.
#[sqlx::test(migrations = "../migrations")]
async fn values_sealed_in_the_first_format_are_resealed_bound_to_their_row(pool: PgPool) {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};
    use sha2::Digest;

    let key = MasterKey::generate();
    let raw = hex::decode(key.encode().as_str()).unwrap();
    let nonce = [9u8; 24];
    let mut legacy = vec![1u8];
    legacy.extend_from_slice(&sha2::Sha256::digest(&raw)[..8]);
    legacy.extend_from_slice(&nonce);
    legacy.extend(
        XChaCha20Poly1305::new(raw.as_slice().into())
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: b"OLD KEY",
                    aad: b"host:old:private_key",
                },
            )
            .unwrap(),
    );
    let id: domain::secrets::SecretId =
        sqlx::query_scalar("INSERT INTO secrets (purpose, sealed) VALUES ('host:old:private_key', $1) RETURNING id")
            .bind(&legacy)
            .fetch_one(&pool)
            .await
            .unwrap();
    let store = SecretStore::new(pool.clone(), SecretBox::new(key));
    assert!(store.get(id).await.is_err(), "read only to be re-sealed");

    assert_eq!(store.upgrade_format().await.unwrap(), 1);
    assert_eq!(store.upgrade_format().await.unwrap(), 0, "once");
    assert_eq!(store.get(id).await.unwrap().as_slice(), b"OLD KEY");
    let format: i32 = sqlx::query_scalar("SELECT get_byte(sealed, 0) FROM secrets WHERE id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(format, 2);
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'secrets.upgrade_format'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(audited, 1);
}
