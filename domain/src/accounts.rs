//! Staff accounts: who may sign in, with which role, in which language.
//!
//! Roles are ordered: a viewer sees, an operator runs actions, an admin also
//! manages accounts and hosts. Every change to an account writes its audit
//! record in the same transaction as the change.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, Transaction};
use time::OffsetDateTime;

use crate::audit::{Actor, AuditAction, AuditEntry, Outcome, Provenance};
use crate::error::{DomainError, Result};
use crate::passwords::{self, NewPassword};
use crate::throttle::{SignInThrottle, ThrottleSubject};

/// A staff member's sign-in name: 2 to 32 of `a-z 0-9 . _ -`, starting with
/// a letter or digit, stored lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Username(String);

impl Username {
    pub const MAX_LENGTH: usize = 32;

    pub fn parse(raw: &str) -> Result<Self> {
        let name = raw.trim().to_lowercase();
        let length = name.chars().count();
        if !(2..=Self::MAX_LENGTH).contains(&length) {
            return Err(DomainError::invalid("username", "error-username-length"));
        }
        let mut chars = name.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
        if !(first_ok && rest_ok) {
            return Err(DomainError::invalid("username", "error-username-characters"));
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Username {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub use vocabulary::accounts::Role;
pub use vocabulary::locale::Locale;

/// The signed-in staff member on whose behalf a request runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub id: i64,
    pub username: Username,
    pub role: Role,
    pub language: Locale,
    pub session_epoch: i32,
}

impl Operator {
    /// Succeeds when this operator's role is at least `needed`.
    pub fn require(&self, needed: Role) -> Result<()> {
        if self.role >= needed {
            Ok(())
        } else {
            Err(DomainError::Forbidden)
        }
    }

    pub fn actor(&self) -> Actor {
        Actor::Operator {
            id: self.id,
            username: self.username.to_string(),
        }
    }
}

/// An account as the accounts page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSummary {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub language: Locale,
    pub enabled: bool,
    pub created_at: OffsetDateTime,
}

struct AccountRow {
    id: i64,
    username: String,
    role: String,
    language: String,
    password_hash: String,
    disabled_at: Option<OffsetDateTime>,
    session_epoch: i32,
    created_at: OffsetDateTime,
}

impl AccountRow {
    fn role(&self) -> Result<Role> {
        self.role
            .parse()
            .map_err(|_| DomainError::invalid("role", "error-role-unknown"))
    }

    fn language(&self) -> Result<Locale> {
        self.language
            .parse()
            .map_err(|_| DomainError::invalid("language", "error-language-unknown"))
    }

    fn operator(&self) -> Result<Operator> {
        Ok(Operator {
            id: self.id,
            username: Username(self.username.clone()),
            role: self.role()?,
            language: self.language()?,
            session_epoch: self.session_epoch,
        })
    }

    fn summary(&self) -> Result<AccountSummary> {
        Ok(AccountSummary {
            id: self.id,
            username: self.username.clone(),
            role: self.role()?,
            language: self.language()?,
            enabled: self.disabled_at.is_none(),
            created_at: self.created_at,
        })
    }
}

/// Which accounts to read: every one, or the one with this id or name.
#[derive(Clone, Copy)]
enum Which<'a> {
    All,
    Id(i64),
    Name(&'a str),
}

/// The one place the accounts table is read, so its columns are listed once.
async fn account_rows(executor: impl sqlx::PgExecutor<'_>, which: Which<'_>) -> Result<Vec<AccountRow>> {
    let (id, name) = match which {
        Which::All => (None, None),
        Which::Id(id) => (Some(id), None),
        Which::Name(name) => (None, Some(name)),
    };
    Ok(sqlx::query_as!(
        AccountRow,
        "SELECT id, username, role, language, password_hash, disabled_at, session_epoch, created_at
         FROM accounts
         WHERE ($1::bigint IS NULL OR id = $1) AND ($2::text IS NULL OR username = $2)
         ORDER BY username",
        id,
        name
    )
    .fetch_all(executor)
    .await?)
}

async fn account_row(executor: impl sqlx::PgExecutor<'_>, which: Which<'_>) -> Result<Option<AccountRow>> {
    Ok(account_rows(executor, which).await?.pop())
}

/// Every enabled account's operator, by id (what API tokens act as).
pub(crate) async fn enabled_operators(pool: &PgPool) -> Result<std::collections::HashMap<i64, Operator>> {
    let rows = account_rows(pool, Which::All).await?;
    rows.iter()
        .filter(|row| row.disabled_at.is_none())
        .map(|row| Ok((row.id, row.operator()?)))
        .collect()
}

/// Told an account's id right after a change to it commits in this
/// process (disabled or enabled, password changed or reset, language).
pub type AccountChanged = Arc<dyn Fn(i64) + Send + Sync>;

/// The staff accounts, and every change made to them.
#[derive(Clone)]
pub struct AccountDirectory {
    pool: PgPool,
    throttle: SignInThrottle,
    password_checks: Arc<AtomicU64>,
    on_change: Arc<OnceLock<AccountChanged>>,
}

impl std::fmt::Debug for AccountDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountDirectory").finish_non_exhaustive()
    }
}

impl AccountDirectory {
    pub fn new(pool: PgPool) -> Self {
        Self {
            throttle: SignInThrottle::new(pool.clone()),
            pool,
            password_checks: Arc::default(),
            on_change: Arc::default(),
        }
    }

    /// Registers the one `hook` told of every account change this process
    /// commits (its memory of operators forgets the account at once, before
    /// the database's announcement reaches it). Set once, at start-up.
    pub fn on_change(&self, hook: AccountChanged) {
        if self.on_change.set(hook).is_err() {
            tracing::warn!("an account change hook was already registered");
        }
    }

    fn changed(&self, account_id: i64) {
        if let Some(hook) = self.on_change.get() {
            hook(account_id);
        }
    }

    /// How many passwords this handle (and its clones) has checked against
    /// a stored hash: what the throttle lets through, for tests and figures.
    pub fn password_checks(&self) -> u64 {
        self.password_checks.load(Ordering::Relaxed)
    }

    async fn verify_password(&self, candidate: &str, stored_hash: &str) -> Result<bool> {
        self.password_checks.fetch_add(1, Ordering::Relaxed);
        passwords::verify(candidate, stored_hash).await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM accounts"#)
            .fetch_one(&self.pool)
            .await?)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(by = %by.username))]
    pub async fn list(&self, by: &Operator) -> Result<Vec<AccountSummary>> {
        by.require(Role::Admin)?;
        let rows = account_rows(&self.pool, Which::All).await?;
        rows.iter().map(AccountRow::summary).collect()
    }

    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn username_of(&self, id: i64) -> Result<Option<String>> {
        Ok(sqlx::query_scalar!("SELECT username FROM accounts WHERE id = $1", id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The operator behind a session, or `None` when the account is gone,
    /// disabled, or has changed credentials since that session signed in.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn operator_for_session(&self, id: i64, session_epoch: i32) -> Result<Option<Operator>> {
        let row = account_row(&self.pool, Which::Id(id)).await?;
        match row {
            Some(row) if row.disabled_at.is_none() && row.session_epoch == session_epoch => Ok(Some(row.operator()?)),
            _ => Ok(None),
        }
    }

    /// Checks a username and password. Unknown, disabled and wrong answers
    /// are indistinguishable, and cost the same time.
    pub(crate) async fn check_credentials(&self, username: &str, password: &str) -> Result<Operator> {
        let row: Option<AccountRow> = match Username::parse(username) {
            Ok(name) => account_row(&self.pool, Which::Name(name.as_str())).await?,
            Err(_) => None,
        };
        let stored = match &row {
            Some(row) => row.password_hash.as_str(),
            None => passwords::decoy_hash().await,
        };
        let matches = self.verify_password(password, stored).await?;
        match row {
            Some(row) if matches && row.disabled_at.is_none() => row.operator(),
            _ => Err(DomainError::BadCredentials),
        }
    }

    /// Creates an account (admins only).
    #[tracing::instrument(skip_all, fields(by = %by.username, username = %username, role = role.as_str()))]
    pub async fn create(
        &self,
        by: &Operator,
        provenance: &Provenance,
        username: &str,
        role: Role,
        password: &str,
    ) -> Result<AccountSummary> {
        if let Err(denied) = by.require(Role::Admin) {
            self.record_denial(by, provenance, AuditAction::AccountCreate, username)
                .await;
            return Err(denied);
        }
        let username = Username::parse(username)?;
        let password = NewPassword::parse(password, &username)?;
        let mut tx = self.pool.begin().await?;
        let account = insert_account(&mut tx, &username, role, &password).await?;
        AuditEntry::new(
            by.actor(),
            AuditAction::AccountCreate,
            username.as_str(),
            Outcome::Success,
        )
        .detail("role", role.as_str())
        .from(provenance)
        .record(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(account)
    }

    /// Disables or re-enables an account (admins only; never one's own).
    /// A disabled account's sessions stop working at their next request.
    #[tracing::instrument(skip(self, by, provenance), fields(by = %by.username))]
    pub async fn set_enabled(
        &self,
        by: &Operator,
        provenance: &Provenance,
        account_id: i64,
        enabled: bool,
    ) -> Result<AccountSummary> {
        let action = if enabled {
            AuditAction::AccountEnable
        } else {
            AuditAction::AccountDisable
        };
        if let Err(denied) = by.require(Role::Admin) {
            self.record_denial(by, provenance, action, &account_id.to_string())
                .await;
            return Err(denied);
        }
        if account_id == by.id {
            return Err(DomainError::invalid("account", "error-account-self"));
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query!(
            "UPDATE accounts SET
                disabled_at = CASE WHEN $2 THEN NULL ELSE coalesce(disabled_at, now()) END,
                session_epoch = session_epoch + CASE WHEN $2 THEN 0 ELSE 1 END
             WHERE id = $1",
            account_id,
            enabled
        )
        .execute(&mut *tx)
        .await?;
        let row = account_row(&mut *tx, Which::Id(account_id))
            .await?
            .ok_or(DomainError::NotFound("account"))?;
        AuditEntry::new(by.actor(), action, &row.username, Outcome::Success)
            .from(provenance)
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        self.changed(account_id);
        row.summary()
    }

    /// Sets a new password on someone's account (admins only). That
    /// account's open sessions end.
    #[tracing::instrument(skip(self, by, provenance, new_password), fields(by = %by.username))]
    pub async fn reset_password(
        &self,
        by: &Operator,
        provenance: &Provenance,
        account_id: i64,
        new_password: &str,
    ) -> Result<()> {
        if let Err(denied) = by.require(Role::Admin) {
            self.record_denial(
                by,
                provenance,
                AuditAction::AccountPasswordReset,
                &account_id.to_string(),
            )
            .await;
            return Err(denied);
        }
        let mut tx = self.pool.begin().await?;
        let username = sqlx::query_scalar!("SELECT username FROM accounts WHERE id = $1 FOR UPDATE", account_id)
            .fetch_optional(&mut *tx)
            .await?;
        let username = Username(username.ok_or(DomainError::NotFound("account"))?);
        let password = NewPassword::parse(new_password, &username)?;
        store_password(&mut tx, account_id, &password).await?;
        AuditEntry::new(
            by.actor(),
            AuditAction::AccountPasswordReset,
            username.as_str(),
            Outcome::Success,
        )
        .from(provenance)
        .record(&mut tx)
        .await?;
        tx.commit().await?;
        self.changed(account_id);
        Ok(())
    }

    /// Changes the operator's own password after checking the current one.
    /// Returns the new session epoch: the caller's session keeps working,
    /// every other session of the account ends. The current password is
    /// checked as [`AccountDirectory::confirm_own_password`] says.
    #[tracing::instrument(skip_all, fields(me = %me.username))]
    pub async fn change_own_password(
        &self,
        me: &Operator,
        provenance: &Provenance,
        current_password: &str,
        new_password: &str,
    ) -> Result<i32> {
        self.confirm_own_password(me, provenance, current_password, AuditAction::AccountPasswordChange)
            .await?;
        let audit = |outcome| {
            AuditEntry::new(
                me.actor(),
                AuditAction::AccountPasswordChange,
                me.username.as_str(),
                outcome,
            )
            .from(provenance)
        };
        let password = NewPassword::parse(new_password, &me.username)?;
        let mut tx = self.pool.begin().await?;
        let epoch = store_password(&mut tx, me.id, &password).await?;
        audit(Outcome::Success).record(&mut tx).await?;
        tx.commit().await?;
        self.changed(me.id);
        Ok(epoch)
    }

    /// Checks `me`'s own password before `action` (a password change, the
    /// second factor turned off). Wrong ones count against the account like
    /// failed sign-ins (someone holding an open session must not guess the
    /// password at leisure), are audited as `action` failed, and are refused
    /// with [`DomainError::Throttled`] while it waits.
    pub(crate) async fn confirm_own_password(
        &self,
        me: &Operator,
        provenance: &Provenance,
        current_password: &str,
        action: AuditAction,
    ) -> Result<()> {
        let audit = |outcome| AuditEntry::new(me.actor(), action, me.username.as_str(), outcome).from(provenance);
        let account = ThrottleSubject::Account(me.username.to_string());
        let reservation = match self.throttle.reserve(std::slice::from_ref(&account)).await {
            Ok(reservation) => reservation,
            Err(throttled @ DomainError::Throttled(_)) => {
                audit(Outcome::Denied)
                    .detail("reason", "throttled")
                    .record_alone(&self.pool)
                    .await?;
                return Err(throttled);
            }
            Err(other) => return Err(other),
        };
        let stored = sqlx::query_scalar!("SELECT password_hash FROM accounts WHERE id = $1", me.id)
            .fetch_one(&self.pool)
            .await?;
        if !self.verify_password(current_password, &stored).await? {
            let failures = self.throttle.failed(reservation).await?;
            audit(Outcome::Failure)
                .detail("reason", "wrong current password")
                .detail("consecutive_failures", failures)
                .record_alone(&self.pool)
                .await?;
            return Err(DomainError::invalid("current_password", "error-current-password-wrong"));
        }
        self.throttle.succeeded(reservation, &account).await
    }

    /// Remembers the interface language the operator chose.
    #[tracing::instrument(skip(self, me, provenance), fields(me = %me.username))]
    pub async fn set_language(&self, me: &Operator, provenance: &Provenance, language: Locale) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query!(
            "UPDATE accounts SET language = $2 WHERE id = $1",
            me.id,
            language.as_str()
        )
        .execute(&mut *tx)
        .await?;
        AuditEntry::new(
            me.actor(),
            AuditAction::AccountLanguage,
            me.username.as_str(),
            Outcome::Success,
        )
        .detail("language", language.as_str())
        .from(provenance)
        .record(&mut tx)
        .await?;
        tx.commit().await?;
        self.changed(me.id);
        Ok(())
    }

    async fn record_denial(&self, by: &Operator, provenance: &Provenance, action: AuditAction, target: &str) {
        let entry = AuditEntry::new(by.actor(), action, target, Outcome::Denied)
            .detail("role", by.role.as_str())
            .from(provenance);
        if let Err(error) = entry.record_alone(&self.pool).await {
            tracing::error!(%error, %action, "could not record a denial in the audit log");
        }
    }
}

/// Inserts an account; a taken username becomes a field conflict.
pub(crate) async fn insert_account(
    tx: &mut Transaction<'_, Postgres>,
    username: &Username,
    role: Role,
    password: &NewPassword,
) -> Result<AccountSummary> {
    let hash = passwords::hash(password).await?;
    let id = sqlx::query_scalar!(
        "INSERT INTO accounts (username, role, password_hash) VALUES ($1, $2, $3) RETURNING id",
        username.as_str(),
        role.as_str(),
        hash
    )
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| DomainError::on_constraint(e, "accounts_username_key", "username", "error-username-taken"))?;
    account_row(&mut **tx, Which::Id(id))
        .await?
        .ok_or(DomainError::NotFound("account"))?
        .summary()
}

async fn store_password(tx: &mut Transaction<'_, Postgres>, account_id: i64, password: &NewPassword) -> Result<i32> {
    let hash = passwords::hash(password).await?;
    Ok(sqlx::query_scalar!(
        "UPDATE accounts SET password_hash = $2, session_epoch = session_epoch + 1 WHERE id = $1 RETURNING session_epoch",
        account_id,
        hash
    )
    .fetch_one(&mut **tx)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lowercased_and_trimmed() {
        assert_eq!(Username::parse("  Marie.Dupont ").unwrap().as_str(), "marie.dupont");
    }

    #[test]
    fn usernames_refuse_shell_sql_and_control_characters() {
        for bad in [
            "a",
            "x'; DROP TABLE accounts;--",
            "nul\0byte",
            "-leading",
            "é",
            &"a".repeat(33),
            "a b",
        ] {
            assert!(Username::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn an_operator_may_do_what_their_role_allows() {
        let viewer = Operator {
            id: 1,
            username: Username::parse("vera").unwrap(),
            role: Role::Viewer,
            language: Locale::Fr,
            session_epoch: 0,
        };
        assert!(viewer.require(Role::Viewer).is_ok());
        assert!(matches!(viewer.require(Role::Operator), Err(DomainError::Forbidden)));
    }
}
