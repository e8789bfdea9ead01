//! The key every backup is encrypted to: an age X25519 identity the
//! console creates once, whose secret half lives in the secret store
//! (sealed under the master key: rotating the master key re-seals it and
//! every old backup still opens) and whose public half (`age1…`) is in
//! `backup_keys`. An admin can export the identity, so that a backup file
//! opens with the standard `age` tool when the console itself is gone.

use std::str::FromStr;

use age::secrecy::ExposeSecret;
use age::x25519::{Identity, Recipient};
use sqlx::PgPool;

use crate::error::{DomainError, Result};
use crate::secrets::{SecretId, SecretStore, Zeroizing};

const PURPOSE: &str = "backup identity";

#[derive(Clone, Debug)]
pub(super) struct BackupKeys {
    pool: PgPool,
    secrets: SecretStore,
}

impl BackupKeys {
    pub(super) fn new(pool: PgPool, secrets: SecretStore) -> Self {
        Self { pool, secrets }
    }

    /// The key new backups are encrypted to (its row id and recipient),
    /// created on first use: once across every console process.
    pub(super) async fn current(&self) -> Result<(i64, Recipient)> {
        if let Some(found) = self.newest().await? {
            return Ok(found);
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query!("SELECT pg_advisory_xact_lock(hashtext('backup_keys'))")
            .execute(&mut *tx)
            .await?;
        let existing = sqlx::query_scalar!("SELECT id FROM backup_keys LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
        if existing.is_none() {
            let identity = Identity::generate();
            let secret = identity.to_string();
            let secret_id = self
                .secrets
                .put(&mut tx, PURPOSE, secret.expose_secret().as_bytes())
                .await?;
            sqlx::query!(
                "INSERT INTO backup_keys (secret_id, recipient) VALUES ($1, $2)",
                secret_id.0,
                identity.to_public().to_string()
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.newest()
            .await?
            .ok_or_else(|| DomainError::Internal("the backup key was not created".into()))
    }

    async fn newest(&self) -> Result<Option<(i64, Recipient)>> {
        let row = sqlx::query!("SELECT id, recipient FROM backup_keys ORDER BY id DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Recipient::from_str(&row.recipient)
                .map(|recipient| (row.id, recipient))
                .map_err(|e| DomainError::Internal(format!("backup key {} is unreadable: {e}", row.id)))
        })
        .transpose()
    }

    /// The identity that opens backups encrypted to key `key_id`.
    pub(super) async fn identity(&self, key_id: i64) -> Result<Identity> {
        let text = self.identity_text(key_id).await?;
        let text = std::str::from_utf8(&text).map_err(|_| DomainError::Internal("backup key is not text".into()))?;
        Identity::from_str(text.trim()).map_err(|e| DomainError::Internal(format!("backup key {key_id}: {e}")))
    }

    /// The identity's text (`AGE-SECRET-KEY-1…`), for an admin's export.
    pub(super) async fn identity_text(&self, key_id: i64) -> Result<Zeroizing<Vec<u8>>> {
        let secret_id = sqlx::query_scalar!("SELECT secret_id FROM backup_keys WHERE id = $1", key_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(DomainError::NotFound("backup key"))?;
        self.secrets.get_for(SecretId(secret_id), PURPOSE).await
    }
}
