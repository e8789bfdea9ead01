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
