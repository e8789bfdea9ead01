//! The first admin. While no account exists, the console keeps one setup
//! token (only its SHA-256 in the database) and prints a one-time link with
//! it; the link's form creates the first admin and the token is gone.

use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::accounts::{insert_account, AccountSummary, Role, Username};
use crate::audit::{Actor, AuditAction, AuditEntry, Outcome, Provenance};
use crate::error::{DomainError, Result};
use crate::passwords::NewPassword;

#[derive(Clone, Debug)]
pub struct FirstAdminSetup {
    pool: PgPool,
}

impl FirstAdminSetup {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// When no account exists, makes a fresh setup token and returns it
    /// (to be printed in the log); otherwise `None`. A new token replaces
    /// the previous one, so only the latest printed link works.
    pub async fn issue_token_if_needed(&self) -> Result<Option<String>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query!(
            "SELECT pg_advisory_xact_lock($1)",
            crate::advisory_locks::FIRST_ADMIN_SETUP
        )
        .execute(&mut *tx)
        .await?;
        let accounts = sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM accounts"#)
            .fetch_one(&mut *tx)
            .await?;
        if accounts > 0 {
            return Ok(None);
        }
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let token = hex::encode(bytes);
        sqlx::query!(
            "INSERT INTO first_admin_setup (token_sha256) VALUES ($1)
             ON CONFLICT (singleton) DO UPDATE SET token_sha256 = excluded.token_sha256, created_at = now()",
            digest(&token),
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(token))
    }

    /// Whether `token` is the current setup token and no account exists yet.
    pub async fn token_is_valid(&self, token: &str) -> Result<bool> {
        Ok(sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM first_admin_setup WHERE token_sha256 = $1)
                AND NOT EXISTS (SELECT 1 FROM accounts) AS "valid!""#,
            digest(token),
        )
        .fetch_one(&self.pool)
        .await?)
    }

    /// Creates the first admin with the setup token, which is then spent.
    pub async fn create_first_admin(
        &self,
        provenance: &Provenance,
        token: &str,
        username: &str,
        password: &str,
    ) -> Result<AccountSummary> {
        let username = Username::parse(username)?;
        let password = NewPassword::parse(password, &username)?;
        let mut tx = self.pool.begin().await?;
        sqlx::query!(
            "SELECT pg_advisory_xact_lock($1)",
            crate::advisory_locks::FIRST_ADMIN_SETUP
        )
        .execute(&mut *tx)
        .await?;
        let spent = sqlx::query!(
            "DELETE FROM first_admin_setup WHERE token_sha256 = $1 AND NOT EXISTS (SELECT 1 FROM accounts)",
            digest(token),
        )
        .execute(&mut *tx)
        .await?;
        if spent.rows_affected() == 0 {
            drop(tx);
            AuditEntry::new(
                Actor::Anonymous,
                AuditAction::AccountSetupAdmin,
                username.as_str(),
                Outcome::Denied,
            )
            .detail("reason", "invalid or spent setup token")
            .from(provenance)
            // Anonymous: coalesced, so a loop cannot flood the log.
            .record_coalesced(&self.pool, "setup_token")
            .await?;
            return Err(DomainError::Forbidden);
        }
        let account = insert_account(&mut tx, &username, Role::Admin, &password).await?;
        let actor = Actor::Operator {
            id: account.id,
            username: account.username.clone(),
        };
        AuditEntry::new(
            actor,
            AuditAction::AccountSetupAdmin,
            username.as_str(),
            Outcome::Success,
        )
        .detail("role", Role::Admin.as_str())
        .from(provenance)
        .record(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(account)
    }

    /// Creates an admin from the command line (the `create-admin`
    /// sub-command), whether or not accounts exist.
    pub async fn create_admin_from_cli(&self, username: &str, password: &str) -> Result<AccountSummary> {
        let username = Username::parse(username)?;
        let password = NewPassword::parse(password, &username)?;
        let mut tx = self.pool.begin().await?;
        let account = insert_account(&mut tx, &username, Role::Admin, &password).await?;
        sqlx::query!("DELETE FROM first_admin_setup").execute(&mut *tx).await?;
        AuditEntry::new(
            Actor::System,
            AuditAction::AccountCreate,
            username.as_str(),
            Outcome::Success,
        )
        .detail("role", Role::Admin.as_str())
        .detail("via", "command line")
        .record(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(account)
    }
}

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}
