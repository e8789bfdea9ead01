//! The signed-in browser sessions, as "Mes sessions" lists them: when each
//! started, when it was last seen, from which address, with which browser.
//! An account ends any of its own; an admin ends all of an account's.
//!
//! The sessions themselves are the session store's rows (the server's); a
//! row of `open_sessions` describes each, keyed by the SHA-256 of the
//! session's id (the id, the cookie's secret, is never copied). The store
//! tells this module when a session is created and saved; ending one
//! deletes the store's row, which the database announces to every console
//! process (and which takes its description with it).

use std::sync::{Arc, OnceLock};

use sha2::{Digest, Sha256};
use sqlx::PgPool;
use time::OffsetDateTime;

use crate::accounts::{Operator, Role};
use crate::audit::{AuditAction, AuditEntry, Outcome, Provenance};
use crate::error::{DomainError, Result};

/// A user agent is cut to this many characters.
const AGENT_MAX_CHARS: usize = 200;

/// A session's id as stored and announced: its SHA-256, in hex.
pub fn digest(session_id: &str) -> String {
    hex::encode(Sha256::digest(session_id.as_bytes()))
}

/// One open session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSession {
    /// What the page names it by (never the session's id).
    pub id: i64,
    pub account_id: i64,
    pub username: String,
    pub started_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
    /// The session of the request that asked.
    pub current: bool,
}

/// Told the digest of each session this process ended, right after (its
/// memory of that session forgets it before the database's announcement).
pub type SessionEnded = Arc<dyn Fn(String) -> futures::future::BoxFuture<'static, ()> + Send + Sync>;

/// The open sessions of every account.
#[derive(Clone)]
pub struct OpenSessions {
    pool: PgPool,
    on_end: Arc<OnceLock<SessionEnded>>,
}

impl std::fmt::Debug for OpenSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenSessions").finish_non_exhaustive()
    }
}

struct Row {
    id: i64,
    session_digest: String,
    account_id: i64,
    username: String,
    started_at: OffsetDateTime,
    last_seen_at: OffsetDateTime,
    client_address: Option<String>,
    user_agent: Option<String>,
}

impl OpenSessions {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            on_end: Arc::default(),
        }
    }

    /// Registers the one hook told of each session ended here. Set once,
    /// at start-up.
    pub fn on_end(&self, hook: SessionEnded) {
        if self.on_end.set(hook).is_err() {
            tracing::warn!("a session end hook was already registered");
        }
    }

    /// A session signed in as `account_id` was stored under `session_id`.
    pub async fn opened(
        &self,
        session_id: &str,
        account_id: i64,
        started_at: OffsetDateTime,
        client_address: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<()> {
        let agent = user_agent.map(|a| {
            a.chars()
                .filter(|c| !c.is_control())
                .take(AGENT_MAX_CHARS)
                .collect::<String>()
        });
        sqlx::query!(
            "INSERT INTO open_sessions (session_digest, account_id, started_at, client_address, user_agent)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (session_digest) DO UPDATE SET last_seen_at = now()",
            digest(session_id),
            account_id,
            started_at,
            client_address,
            agent
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The session stored under `session_id` was used (saved) just now.
    pub async fn seen(&self, session_id: &str) -> Result<()> {
        sqlx::query!(
            "UPDATE open_sessions SET last_seen_at = now() WHERE session_digest = $1",
            digest(session_id)
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The open sessions of `account_id` (one's own, or anyone's for an
    /// admin), most recently seen first; `current` marks the asker's.
    #[tracing::instrument(level = "debug", skip(self, by, current), fields(by = %by.username))]
    pub async fn of_account(&self, by: &Operator, account_id: i64, current: Option<&str>) -> Result<Vec<OpenSession>> {
        if account_id != by.id {
            by.require(Role::Admin)?;
        }
        let current = current.map(digest);
        // Only the sessions still stored and not expired: a description
        // whose session expired unseen is not shown.
        let rows = sqlx::query_as!(
            Row,
            r#"SELECT o.id, o.session_digest, o.account_id, a.username, o.started_at, o.last_seen_at,
                      o.client_address, o.user_agent
               FROM open_sessions o JOIN accounts a ON a.id = o.account_id
               WHERE o.account_id = $1
               ORDER BY o.last_seen_at DESC, o.id DESC"#,
            account_id
        )
        .fetch_all(&self.pool)
        .await?;
        let stored = self.stored_digests(&rows).await?;
        Ok(rows
            .into_iter()
            .filter(|row| stored.contains(&row.session_digest))
            .map(|row| OpenSession {
                current: current.as_deref() == Some(row.session_digest.as_str()),
                id: row.id,
                account_id: row.account_id,
                username: row.username,
                started_at: row.started_at,
                last_seen_at: row.last_seen_at,
                client_address: row.client_address,
                user_agent: row.user_agent,
            })
            .collect())
    }

    /// Which of `rows`' sessions the session store still holds, unexpired.
    async fn stored_digests(&self, rows: &[Row]) -> Result<std::collections::HashSet<String>> {
        let digests: Vec<String> = rows.iter().map(|r| r.session_digest.clone()).collect();
        // A runtime string: the session store's table is created by the
        // library at start-up, not by the migrations.
        let stored: Vec<String> = sqlx::query_scalar(
            r#"SELECT encode(sha256(convert_to(id, 'UTF8')), 'hex') FROM "tower_sessions"."session"
               WHERE expiry_date > now() AND encode(sha256(convert_to(id, 'UTF8')), 'hex') = ANY($1)"#,
        )
        .bind(&digests)
        .fetch_all(&self.pool)
        .await?;
        Ok(stored.into_iter().collect())
    }

    /// Ends one open session: one's own, or anyone's for an admin. Its next
    /// request is signed out, on every console process. Audited.
    #[tracing::instrument(skip(self, by, from), fields(by = %by.username))]
    pub async fn end(&self, by: &Operator, from: &Provenance, open_session_id: i64) -> Result<()> {
        let row = sqlx::query!(
            "SELECT o.session_digest, o.account_id, a.username, o.client_address
             FROM open_sessions o JOIN accounts a ON a.id = o.account_id WHERE o.id = $1",
            open_session_id
        )
        .fetch_optional(&self.pool)
        .await?
        .filter(|row| row.account_id == by.id || by.role >= Role::Admin)
        .ok_or(DomainError::NotFound("session"))?;
        self.delete(&[row.session_digest]).await?;
        AuditEntry::new(by.actor(), AuditAction::SessionEnd, &row.username, Outcome::Success)
            .detail("address", row.client_address.unwrap_or_default())
            .from(from)
            .record_alone(&self.pool)
            .await
    }

    /// Ends every open session of `account_id` (admins). Audited, with how
    /// many there were.
    #[tracing::instrument(skip(self, by, from), fields(by = %by.username))]
    pub async fn end_all(&self, by: &Operator, from: &Provenance, account_id: i64) -> Result<usize> {
        by.require(Role::Admin)?;
        let username = sqlx::query_scalar!("SELECT username FROM accounts WHERE id = $1", account_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(DomainError::NotFound("account"))?;
        let digests = sqlx::query_scalar!(
            "SELECT session_digest FROM open_sessions WHERE account_id = $1",
            account_id
        )
        .fetch_all(&self.pool)
        .await?;
        let ended = self.delete(&digests).await?;
        AuditEntry::new(by.actor(), AuditAction::SessionEndAll, &username, Outcome::Success)
            .detail("sessions", ended)
            .from(from)
            .record_alone(&self.pool)
            .await?;
        Ok(ended)
    }

    /// Deletes the stored sessions of `digests` (and their descriptions):
    /// how many sessions there were.
    async fn delete(&self, digests: &[String]) -> Result<usize> {
        if digests.is_empty() {
            return Ok(0);
        }
        let ended = sqlx::query(
            r#"DELETE FROM "tower_sessions"."session" WHERE encode(sha256(convert_to(id, 'UTF8')), 'hex') = ANY($1)"#,
        )
        .bind(digests)
        .execute(&self.pool)
        .await?
        .rows_affected();
        sqlx::query!("DELETE FROM open_sessions WHERE session_digest = ANY($1)", digests)
            .execute(&self.pool)
            .await?;
        if let Some(hook) = self.on_end.get() {
            for digest in digests {
                hook(digest.clone()).await;
            }
        }
        Ok(ended as usize)
    }
}
