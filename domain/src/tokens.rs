//! API tokens: what a script or CI presents on `/api/v1` instead of a
//! password. Each belongs to one account, has a name, a scope (read, or
//! operate: never more than its account's role, whatever that role becomes)
//! and an expiry (90 days unless said, a year at most). Its secret is shown
//! once, when it is issued: only its SHA-256 is stored, so checking a token
//! costs a hash and a lookup, never a password hash.
//!
//! Each console process remembers the live tokens (and their accounts)
//! between changes; the database announces every token issued or revoked
//! and every account change, and whoever hears it (the server's session
//! cache) calls [`ApiTokens::changed`]. A revoked token, or one whose
//! account is disabled, is refused at its next request, on every process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use sqlx::PgPool;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::accounts::Operator;
use crate::audit::{AuditAction, AuditEntry, Outcome, Provenance};
use crate::error::{DomainError, Result};
use crate::remembered::Remembered;
pub use vocabulary::accounts::{Role, TokenScope};

/// How every token starts: a script's logs or a secret scanner can tell one.
pub const PREFIX: &str = "ocp_";
/// The random part: 256 bits, written in hex.
const SECRET_BYTES: usize = 32;
/// A token's life unless its account says otherwise, and at most.
pub const DEFAULT_DAYS: u16 = 90;
pub const MAX_DAYS: u16 = 365;
const NAME_MAX_CHARS: usize = 60;
/// A token's last use is written at most this often (and when it comes
/// from another address): reading the API must not write at every request.
const USE_WRITTEN_EVERY: Duration = Duration::from_secs(60);

/// A token as its account and the admins see it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: i64,
    pub account_id: i64,
    pub username: String,
    pub name: String,
    pub scope: TokenScope,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub revoked_by: Option<String>,
    pub last_used_at: Option<OffsetDateTime>,
    pub last_used_from: Option<String>,
}

impl ApiToken {
    /// Neither revoked nor expired at `now`.
    pub fn live(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// A token's secret, as shown once when it is issued. Never logged.
pub struct TokenSecret(Zeroizing<String>);

impl TokenSecret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSecret(****)")
    }
}

/// A token just issued: what it is, and its secret (shown once).
#[derive(Debug)]
pub struct IssuedToken {
    pub token: ApiToken,
    pub secret: TokenSecret,
}

/// Who acts through a token presented with a request: its account,
/// narrowed to the token's scope.
#[derive(Debug, Clone)]
pub struct TokenCaller {
    pub token_id: i64,
    pub name: String,
    pub scope: TokenScope,
    /// The account, acting with the lesser of its role and the scope's.
    pub operator: Operator,
}

impl TokenCaller {
    /// `provenance` naming this token: every audit record of the request
    /// says which token it was made with.
    pub fn provenance(&self, provenance: &Provenance) -> Provenance {
        Provenance {
            token: Some(self.name.clone()),
            ..provenance.clone()
        }
    }
}

/// Why a presented token lets nobody in. A malformed token and an unknown
/// (or revoked) one get the same answer; an expired one is named as such
/// in the audit log only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    Malformed,
    Unknown,
    Expired,
}

impl TokenRefusal {
    fn reason(self) -> &'static str {
        match self {
            TokenRefusal::Malformed => "malformed",
            TokenRefusal::Unknown => "unknown or revoked",
            TokenRefusal::Expired => "expired",
        }
    }
}

/// What a live token lets in, remembered between changes.
#[derive(Debug, Clone)]
struct LiveToken {
    token_id: i64,
    name: String,
    scope: TokenScope,
    expires_at: OffsetDateTime,
    /// Its account, as it is now (enabled: a disabled account's tokens are
    /// not remembered).
    account: Operator,
}

type Digest32 = [u8; 32];

/// When a token's use was last written, and from which address.
type LastUse = (Instant, Option<String>);

/// The API tokens of every account.
///
/// It holds its pool and nothing else of the console's: the session cache,
/// which the accounts' change hook holds, holds it in turn.
#[derive(Clone)]
pub struct ApiTokens {
    pool: PgPool,
    live: Arc<Remembered<HashMap<Digest32, LiveToken>>>,
    /// When each token's use was last written, and from where.
    uses: Arc<Mutex<HashMap<i64, LastUse>>>,
}

impl std::fmt::Debug for ApiTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiTokens").finish_non_exhaustive()
    }
}

/// A presented token's digest, if it has a token's shape.
fn digest_of(presented: &str) -> Option<Digest32> {
    let secret = presented.strip_prefix(PREFIX)?;
    let well_formed =
        secret.len() == SECRET_BYTES * 2 && secret.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    well_formed.then(|| Sha256::digest(presented.as_bytes()).into())
}

/// A name as typed: trimmed, 1 to 60 characters, no control character.
fn token_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > NAME_MAX_CHARS || name.chars().any(char::is_control) {
        return Err(DomainError::invalid("name", "error-token-name"));
    }
    Ok(name.to_owned())
}

struct TokenRow {
    id: i64,
    account_id: i64,
    username: String,
    name: String,
    scope: String,
    created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    revoked_at: Option<OffsetDateTime>,
    revoked_by: Option<String>,
    last_used_at: Option<OffsetDateTime>,
    last_used_from: Option<String>,
}

impl TryFrom<TokenRow> for ApiToken {
    type Error = DomainError;

    fn try_from(row: TokenRow) -> Result<Self> {
        Ok(ApiToken {
            scope: row
                .scope
                .parse()
                .map_err(|_| DomainError::invalid("scope", "error-token-scope"))?,
            id: row.id,
            account_id: row.account_id,
            username: row.username,
            name: row.name,
            created_at: row.created_at,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
            revoked_by: row.revoked_by,
            last_used_at: row.last_used_at,
            last_used_from: row.last_used_from,
        })
    }
}

/// The one place the tokens are read, so their columns are listed once:
/// one account's (newest first), or every account's when `account` is `None`.
async fn token_rows(pool: &PgPool, account: Option<i64>, token: Option<i64>) -> Result<Vec<ApiToken>> {
    let rows = sqlx::query_as!(
        TokenRow,
        "SELECT t.id, t.account_id, a.username, t.name, t.scope, t.created_at, t.expires_at,
                t.revoked_at, t.revoked_by, t.last_used_at, t.last_used_from
         FROM api_tokens t JOIN accounts a ON a.id = t.account_id
         WHERE ($1::bigint IS NULL OR t.account_id = $1) AND ($2::bigint IS NULL OR t.id = $2)
         ORDER BY t.revoked_at IS NOT NULL, t.created_at DESC, t.id DESC",
        account,
        token
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(ApiToken::try_from).collect()
}

impl ApiTokens {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            live: Arc::default(),
            uses: Arc::default(),
        }
    }

    /// Issues a token for `by`'s own account, valid `days` days (1 to 365).
    /// Its secret is in the answer and nowhere else.
    #[tracing::instrument(skip(self, by, from), fields(by = %by.username, scope = scope.as_str()))]
    pub async fn issue(
        &self,
        by: &Operator,
        from: &Provenance,
        name: &str,
        scope: TokenScope,
        days: u16,
    ) -> Result<IssuedToken> {
        let name = token_name(name)?;
        if !(1..=MAX_DAYS).contains(&days) {
            return Err(DomainError::invalid("days", "error-token-days"));
        }
        if scope.role() > by.role {
            return Err(DomainError::invalid("scope", "error-token-scope-above-role"));
        }
        let secret = {
            use rand::RngCore;
            let mut bytes = Zeroizing::new([0u8; SECRET_BYTES]);
            rand::rngs::OsRng.fill_bytes(bytes.as_mut());
            TokenSecret(Zeroizing::new(format!("{PREFIX}{}", hex::encode(bytes.as_ref()))))
        };
        let digest: Digest32 = Sha256::digest(secret.expose().as_bytes()).into();
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query_scalar!(
            "INSERT INTO api_tokens (account_id, name, scope, secret_digest, expires_at)
             VALUES ($1, $2, $3, $4, now() + make_interval(days => $5))
             ON CONFLICT (account_id, name) WHERE revoked_at IS NULL DO NOTHING
             RETURNING id",
            by.id,
            name,
            scope.as_str(),
            &digest[..],
            i32::from(days)
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = inserted else {
            return Err(DomainError::invalid("name", "error-token-name-taken"));
        };
        AuditEntry::new(by.actor(), AuditAction::TokenCreate, &name, Outcome::Success)
            .detail("scope", scope.as_str())
            .detail("days", days)
            .from(from)
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        self.changed();
        let token = token_rows(&self.pool, None, Some(id))
            .await?
            .pop()
            .ok_or(DomainError::NotFound("token"))?;
        Ok(IssuedToken { token, secret })
    }

    /// The tokens of `by`'s own account, live ones first.
    #[tracing::instrument(level = "debug", skip_all, fields(by = %by.username))]
    pub async fn mine(&self, by: &Operator) -> Result<Vec<ApiToken>> {
        token_rows(&self.pool, Some(by.id), None).await
    }

    /// Every account's tokens (admins).
    #[tracing::instrument(level = "debug", skip_all, fields(by = %by.username))]
    pub async fn every(&self, by: &Operator) -> Result<Vec<ApiToken>> {
        by.require(Role::Admin)?;
        token_rows(&self.pool, None, None).await
    }

    /// Revokes a token: one's own, or anyone's for an admin. It is refused
    /// from its next request on, on every console process. Someone else's
    /// token is not found for a non-admin.
    #[tracing::instrument(skip(self, by, from), fields(by = %by.username))]
    pub async fn revoke(&self, by: &Operator, from: &Provenance, token_id: i64) -> Result<ApiToken> {
        let mut tx = self.pool.begin().await?;
        let revoked = sqlx::query!(
            r#"UPDATE api_tokens t SET revoked_at = now(), revoked_by = $3
               FROM accounts a
               WHERE t.id = $1 AND a.id = t.account_id AND t.revoked_at IS NULL AND (t.account_id = $2 OR $4)
               RETURNING t.name, a.username"#,
            token_id,
            by.id,
            by.username.as_str(),
            by.role >= Role::Admin
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(DomainError::NotFound("token"))?;
        AuditEntry::new(by.actor(), AuditAction::TokenRevoke, &revoked.name, Outcome::Success)
            .detail("account", revoked.username)
            .from(from)
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        self.changed();
        token_rows(&self.pool, None, Some(token_id))
            .await?
            .pop()
            .ok_or(DomainError::NotFound("token"))
    }

    /// Who a token presented with a request lets act. A refusal is audited
    /// (coalesced per address: a loop of bad tokens writes one row a
    /// minute), never with the token: an expired one by its name.
    pub async fn authenticate(
        &self,
        presented: &str,
        path: &str,
        from: &Provenance,
    ) -> Result<std::result::Result<TokenCaller, TokenRefusal>> {
        let checked = self.check(presented).await?;
        if let Err(refusal) = checked {
            let named = match refusal {
                TokenRefusal::Expired => digest_of(presented).and_then(|d| self.name_of(&d)),
                _ => None,
            };
            let mut entry = AuditEntry::new(
                crate::audit::Actor::Anonymous,
                AuditAction::RequestBadToken,
                path,
                Outcome::Denied,
            )
            .detail("reason", refusal.reason());
            if let Some(name) = named {
                entry = entry.detail("token_name", name);
            }
            entry.from(from).record_coalesced(&self.pool, refusal.reason()).await?;
            return Ok(Err(refusal));
        }
        Ok(checked)
    }

    async fn check(&self, presented: &str) -> Result<std::result::Result<TokenCaller, TokenRefusal>> {
        let Some(digest) = digest_of(presented) else {
            return Ok(Err(TokenRefusal::Malformed));
        };
        let live = self.live.get(|| self.read_live()).await?;
        let Some(token) = live.get(&digest) else {
            return Ok(Err(TokenRefusal::Unknown));
        };
        if token.expires_at <= OffsetDateTime::now_utc() {
            return Ok(Err(TokenRefusal::Expired));
        }
        let mut operator = token.account.clone();
        operator.role = operator.role.min(token.scope.role());
        Ok(Ok(TokenCaller {
            token_id: token.token_id,
            name: token.name.clone(),
            scope: token.scope,
            operator,
        }))
    }

    /// The name of a remembered token (to name an expired one).
    fn name_of(&self, digest: &Digest32) -> Option<String> {
        self.live
            .peek()
            .and_then(|live| live.get(digest).map(|t| t.name.clone()))
    }

    /// Every unrevoked token of an enabled account, by digest.
    async fn read_live(&self) -> Result<HashMap<Digest32, LiveToken>> {
        let accounts = crate::accounts::enabled_operators(&self.pool).await?;
        let rows = sqlx::query!(
            "SELECT id, account_id, name, scope, secret_digest, expires_at
             FROM api_tokens WHERE revoked_at IS NULL"
        )
        .fetch_all(&self.pool)
        .await?;
        let mut live = HashMap::with_capacity(rows.len());
        for row in rows {
            let (Some(account), Ok(digest), Ok(scope)) = (
                accounts.get(&row.account_id),
                Digest32::try_from(row.secret_digest.as_slice()),
                row.scope.parse::<TokenScope>(),
            ) else {
                continue;
            };
            live.insert(
                digest,
                LiveToken {
                    token_id: row.id,
                    name: row.name,
                    scope,
                    expires_at: row.expires_at,
                    account: account.clone(),
                },
            );
        }
        Ok(live)
    }

    /// Records that `caller`'s token was used from `from`: written at most
    /// once a minute per token, or at once when the address changed.
    pub async fn used(&self, caller: &TokenCaller, from: &Provenance) -> Result<()> {
        let address = from.client_address.clone();
        {
            let mut uses = self.uses.lock().unwrap_or_else(PoisonError::into_inner);
            match uses.get(&caller.token_id) {
                Some((at, seen_from)) if at.elapsed() < USE_WRITTEN_EVERY && *seen_from == address => return Ok(()),
                _ => {
                    uses.insert(caller.token_id, (Instant::now(), address.clone()));
                }
            }
        }
        sqlx::query!(
            "UPDATE api_tokens SET last_used_at = now(), last_used_from = $2 WHERE id = $1",
            caller.token_id,
            address
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A token or an account changed (announced by the database, or done
    /// here): the live tokens are read again at the next request.
    pub fn changed(&self) {
        self.live.changed();
    }

    /// Whether the changes are heard (see [`Remembered::hearing`]).
    pub fn hearing(&self, heard: bool) {
        self.live.hearing(heard);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_token_of_the_right_shape_is_looked_up() {
        let good = format!("{PREFIX}{}", "a1".repeat(32));
        assert!(digest_of(&good).is_some());
        assert!(digest_of(&good[..good.len() - 1]).is_none(), "too short");
        assert!(digest_of(&format!("{good}0")).is_none(), "too long");
        assert!(digest_of(&good.to_uppercase()).is_none(), "upper case");
        assert!(digest_of(&good.replace(PREFIX, "ghp_")).is_none(), "another prefix");
        assert!(digest_of("").is_none());
        assert!(digest_of(&format!("{PREFIX}{}", "é".repeat(32))).is_none());
    }

    #[test]
    fn a_name_is_trimmed_and_bounded() {
        assert_eq!(token_name("  CI deploy  ").unwrap(), "CI deploy");
        assert!(token_name("   ").is_err());
        assert!(token_name(&"x".repeat(61)).is_err());
        assert!(token_name(&"é".repeat(60)).is_ok());
        assert!(token_name("a\nb").is_err());
    }

    #[test]
    fn a_secret_is_never_shown_by_debug() {
        let secret = TokenSecret(Zeroizing::new(format!("{PREFIX}{}", "0".repeat(64))));
        assert_eq!(format!("{secret:?}"), "TokenSecret(****)");
    }
}
