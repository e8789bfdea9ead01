//! The second factor at sign-in: time-based one-time codes (TOTP, RFC 6238:
//! HMAC-SHA1 over 30-second steps, 6 digits, what every authenticator app
//! reads from a QR code) and ten single-use recovery codes for a lost phone.
//!
//! - An account enrols from its own page: [`SecondFactors::begin`] makes a
//!   secret (sealed in the secret store) and the `otpauth://` address its
//!   app scans; [`SecondFactors::confirm`] turns it on with a first valid
//!   code and gives the recovery codes, shown once (only their SHA-256 is
//!   kept). It turns it off with its password and a code
//!   ([`crate::Console::disable_second_factor`]).
//! - At sign-in, after the password, [`crate::Console::sign_in_code`] asks
//!   for a code: one step of clock skew either way is tolerated, a code is
//!   accepted once (the step of the last one accepted is kept: that code
//!   and every older one are refused), and failures feed the sign-in
//!   throttle like wrong passwords.
//! - An admin chooses who must have one ([`SecondFactorPolicy`]): such an
//!   account without one is sent to enrol before anything else. An admin
//!   can also remove an account's second factor (a lost phone and lost
//!   codes), never see it.
//!
//! Each console process remembers the policy and who is enrolled; the
//! database announces every change on `console_sessions` (payload
//! `second_factor`) and whoever hears it calls [`SecondFactors::changed`].

use std::collections::HashSet;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::accounts::Operator;
use crate::audit::{AuditAction, AuditEntry, Outcome, Provenance};
use crate::error::{DomainError, Result};
use crate::remembered::Remembered;
use crate::secrets::{SecretId, SecretStore};
pub use vocabulary::accounts::{Role, SecondFactorPolicy};

/// A code's time step, in seconds (RFC 6238's default, what apps assume).
pub const STEP_SECONDS: i64 = 30;
/// A code's digits.
pub const DIGITS: u32 = 6;
/// The name an authenticator app shows above the account's codes.
pub const ISSUER: &str = "OC Pizza console";
/// The secret's length: 160 bits, as RFC 4226 recommends for HMAC-SHA1.
const SECRET_BYTES: usize = 20;
/// Recovery codes given at enrolment, each 80 random bits.
pub const RECOVERY_CODES: usize = 10;
const RECOVERY_BYTES: usize = 10;
/// What the secret store calls a second factor's secret.
const PURPOSE: &str = "second-factor";

/// The code of `secret` at time step `step` (RFC 4226's HOTP over the
/// step count, RFC 6238).
pub fn code_at(secret: &[u8], step: i64) -> u32 {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    binary % 10u32.pow(DIGITS)
}

/// The time step of a Unix time.
pub fn step_at(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP_SECONDS)
}

/// The step among `now`'s and its two neighbours (one step of clock skew
/// either way) whose code is `code`, the latest if several.
fn matching_step(secret: &[u8], code: u32, now: i64) -> Option<i64> {
    [now + 1, now, now - 1]
        .into_iter()
        .find(|&step| code_at(secret, step) == code)
}

/// What was typed where a code is asked: six digits from the app, or a
/// recovery code (spaces and dashes ignored, any case).
#[derive(Clone, PartialEq, Eq)]
enum TypedCode {
    Totp(u32),
    Recovery(String),
}

impl TypedCode {
    fn parse(typed: &str) -> Result<Self> {
        let kept: String = typed
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect::<String>()
            .to_ascii_lowercase();
        if kept.len() == DIGITS as usize && kept.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Self::Totp(kept.parse().expect("six digits")));
        }
        let recovery_chars = (RECOVERY_BYTES * 8).div_ceil(5);
        if kept.len() == recovery_chars && kept.bytes().all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7')) {
            return Ok(Self::Recovery(kept));
        }
        Err(DomainError::invalid("code", "error-second-factor-code-format"))
    }
}

/// A recovery code's digest, from its typed (normalised) form.
fn recovery_digest(code: &str) -> Vec<u8> {
    Sha256::digest(code.as_bytes()).to_vec()
}

/// A new recovery code, as shown: four groups of four, `abcd-efgh-…`.
fn new_recovery_code() -> String {
    let mut bytes = [0u8; RECOVERY_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let text = data_encoding::BASE32_NOPAD.encode(&bytes).to_ascii_lowercase();
    text.as_bytes()
        .chunks(4)
        .map(|chunk| std::str::from_utf8(chunk).expect("base32 is ASCII"))
        .collect::<Vec<_>>()
        .join("-")
}

/// What an authenticator app needs to enrol: the secret in base32 (typed
/// by hand when the QR code cannot be scanned) and the `otpauth://`
/// address the QR code holds. Never logged.
pub struct Enrolment {
    pub secret: Zeroizing<String>,
    pub uri: Zeroizing<String>,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enrolment(****)")
    }
}

impl Enrolment {
    fn of(secret: &[u8], username: &str) -> Self {
        let encoded = data_encoding::BASE32_NOPAD.encode(secret);
        let label = format!("{}:{}", escaped(ISSUER), escaped(username));
        let uri = format!(
            "otpauth://totp/{label}?secret={encoded}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
            escaped(ISSUER)
        );
        Self {
            secret: Zeroizing::new(encoded),
            uri: Zeroizing::new(uri),
        }
    }
}

/// `text` percent-encoded for an `otpauth://` label or parameter.
fn escaped(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Recovery codes just made: shown once, never again. Never logged.
pub struct RecoveryCodes(pub Vec<Zeroizing<String>>);

impl std::fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecoveryCodes({} × ****)", self.0.len())
    }
}

/// Where an account stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondFactorStatus {
    /// Turned on, since when.
    pub enrolled_at: Option<OffsetDateTime>,
    /// An enrolment begun and not yet confirmed by a code.
    pub pending: bool,
    /// Recovery codes not used yet.
    pub recovery_left: i64,
    /// The admins' choice applies to this account.
    pub required: bool,
}

/// How a code was accepted at sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    Totp,
    /// A recovery code, with how many remain.
    Recovery {
        left: i64,
    },
}

/// What each process remembers: the admins' choice and who is enrolled.
#[derive(Debug)]
struct Requirements {
    policy: SecondFactorPolicy,
    enrolled: HashSet<i64>,
}

/// The second factors of every account, and who must have one.
#[derive(Clone, Debug)]
pub struct SecondFactors {
    pool: PgPool,
    secrets: SecretStore,
    requirements: Arc<Remembered<Requirements>>,
}

struct FactorRow {
    secret_id: SecretId,
    confirmed_at: Option<OffsetDateTime>,
}

impl SecondFactors {
    pub fn new(pool: PgPool, secrets: SecretStore) -> Self {
        Self {
            pool,
            secrets,
            requirements: Arc::default(),
        }
    }

    /// A change was announced (by any process): forget what was remembered.
    pub fn changed(&self) {
        self.requirements.changed();
    }

    /// Whether the changes are heard (see [`Remembered::hearing`]).
    pub fn hearing(&self, heard: bool) {
        self.requirements.hearing(heard);
    }

    async fn requirements(&self) -> Result<Arc<Requirements>> {
        self.requirements
            .get(|| async {
                let policy = self.policy().await?;
                let enrolled =
                    sqlx::query_scalar!("SELECT account_id FROM second_factors WHERE confirmed_at IS NOT NULL")
                        .fetch_all(&self.pool)
                        .await?;
                Ok(Requirements {
                    policy,
                    enrolled: enrolled.into_iter().collect(),
                })
            })
            .await
    }

    /// Who must have a second factor.
    pub async fn policy(&self) -> Result<SecondFactorPolicy> {
        let word = sqlx::query_scalar!("SELECT required_for FROM second_factor_policy")
            .fetch_one(&self.pool)
            .await?;
        word.parse()
            .map_err(|_| DomainError::Internal(format!("unknown second factor policy {word:?}")))
    }

    /// Changes who must have a second factor (admins). An admin who makes
    /// it required of themselves without having one is sent to enrol next.
    #[tracing::instrument(skip(self, by, provenance), fields(by = %by.username))]
    pub async fn set_policy(&self, by: &Operator, provenance: &Provenance, policy: SecondFactorPolicy) -> Result<()> {
        let entry = |outcome| {
            AuditEntry::new(by.actor(), AuditAction::SecondFactorPolicy, policy.as_str(), outcome).from(provenance)
        };
        self.admins_only(by, entry(Outcome::Denied)).await?;
        let mut tx = self.pool.begin().await?;
        let before = sqlx::query_scalar!("SELECT required_for FROM second_factor_policy FOR UPDATE")
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query!(
            "UPDATE second_factor_policy SET required_for = $1, changed_at = now(), changed_by = $2",
            policy.as_str(),
            by.username.as_str()
        )
        .execute(&mut *tx)
        .await?;
        entry(Outcome::Success).detail("before", before).record(&mut tx).await?;
        tx.commit().await?;
        self.changed();
        Ok(())
    }

    /// Lets an admin through; anyone else is refused, `denied` audited with
    /// their role.
    async fn admins_only(&self, by: &Operator, denied: AuditEntry) -> Result<()> {
        if by.require(Role::Admin).is_ok() {
            return Ok(());
        }
        denied.detail("role", by.role.as_str()).record_alone(&self.pool).await?;
        Err(DomainError::Forbidden)
    }

    /// Whether `operator` must enrol before anything else: the admins'
    /// choice applies to their role and they have no second factor.
    pub async fn must_enrol(&self, operator: &Operator) -> Result<bool> {
        let requirements = self.requirements().await?;
        Ok(requirements.policy.applies_to(operator.role) && !requirements.enrolled.contains(&operator.id))
    }

    /// Whether the account signs in with a code after its password.
    pub async fn enrolled(&self, account_id: i64) -> Result<bool> {
        Ok(self.requirements().await?.enrolled.contains(&account_id))
    }

    /// Where `me` stands.
    pub async fn status(&self, me: &Operator) -> Result<SecondFactorStatus> {
        let row = self.row(me.id).await?;
        let recovery_left = sqlx::query_scalar!(
            r#"SELECT count(*) AS "count!" FROM recovery_codes WHERE account_id = $1 AND used_at IS NULL"#,
            me.id
        )
        .fetch_one(&self.pool)
        .await?;
        let required = self.requirements().await?.policy.applies_to(me.role);
        Ok(SecondFactorStatus {
            enrolled_at: row.as_ref().and_then(|r| r.confirmed_at),
            pending: row.as_ref().is_some_and(|r| r.confirmed_at.is_none()),
            recovery_left: if row.as_ref().is_some_and(|r| r.confirmed_at.is_some()) {
                recovery_left
            } else {
                0
            },
            required,
        })
    }

    async fn row(&self, account_id: i64) -> Result<Option<FactorRow>> {
        Ok(sqlx::query_as!(
            FactorRow,
            r#"SELECT secret_id AS "secret_id: SecretId", confirmed_at
               FROM second_factors WHERE account_id = $1"#,
            account_id
        )
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Begins `me`'s enrolment (again, if one was begun): a new secret,
    /// not in use until [`SecondFactors::confirm`]. Refused while a second
    /// factor is on (turn it off first).
    #[tracing::instrument(skip_all, fields(me = %me.username))]
    pub async fn begin(&self, me: &Operator) -> Result<Enrolment> {
        let mut secret = Zeroizing::new([0u8; SECRET_BYTES]);
        rand::rngs::OsRng.fill_bytes(secret.as_mut());
        let mut tx = self.pool.begin().await?;
        let existing = sqlx::query!(
            r#"SELECT secret_id AS "secret_id: SecretId", confirmed_at FROM second_factors
               WHERE account_id = $1 FOR UPDATE"#,
            me.id
        )
        .fetch_optional(&mut *tx)
        .await?;
        if existing.as_ref().is_some_and(|row| row.confirmed_at.is_some()) {
            return Err(DomainError::Conflict(crate::error::Invalid {
                field: "second_factor",
                message: "error-second-factor-already-on",
            }));
        }
        let secret_id = self.secrets.put(&mut tx, PURPOSE, secret.as_ref()).await?;
        sqlx::query!(
            "INSERT INTO second_factors (account_id, secret_id) VALUES ($1, $2)
             ON CONFLICT (account_id) DO UPDATE SET secret_id = $2, created_at = now(), last_step = 0",
            me.id,
            secret_id.0
        )
        .execute(&mut *tx)
        .await?;
        if let Some(previous) = existing {
            sqlx::query!("DELETE FROM secrets WHERE id = $1", previous.secret_id.0)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Enrolment::of(secret.as_ref(), me.username.as_str()))
    }

    /// The enrolment `me` began and has not confirmed yet, to show again
    /// (the page reloaded).
    pub async fn pending(&self, me: &Operator) -> Result<Option<Enrolment>> {
        match self.row(me.id).await? {
            Some(row) if row.confirmed_at.is_none() => {
                let secret = self.secrets.get_for(row.secret_id, PURPOSE).await?;
                Ok(Some(Enrolment::of(&secret, me.username.as_str())))
            }
            _ => Ok(None),
        }
    }

    /// Confirms `me`'s enrolment with a first valid code from the app: the
    /// second factor is on, and the recovery codes are made (shown once).
    #[tracing::instrument(skip_all, fields(me = %me.username))]
    pub async fn confirm(&self, me: &Operator, provenance: &Provenance, typed: &str) -> Result<RecoveryCodes> {
        let TypedCode::Totp(code) = TypedCode::parse(typed)? else {
            return Err(DomainError::invalid("code", "error-second-factor-code-format"));
        };
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query_as!(
            FactorRow,
            r#"SELECT secret_id AS "secret_id: SecretId", confirmed_at
               FROM second_factors WHERE account_id = $1 FOR UPDATE"#,
            me.id
        )
        .fetch_optional(&mut *tx)
        .await?;
        let row = match row {
            Some(row) if row.confirmed_at.is_none() => row,
            Some(_) => {
                return Err(DomainError::Conflict(crate::error::Invalid {
                    field: "second_factor",
                    message: "error-second-factor-already-on",
                }))
            }
            None => return Err(DomainError::invalid("code", "error-second-factor-not-begun")),
        };
        let secret = self.secrets.get_for(row.secret_id, PURPOSE).await?;
        let now = step_at(OffsetDateTime::now_utc().unix_timestamp());
        let Some(step) = matching_step(&secret, code, now) else {
            AuditEntry::new(
                me.actor(),
                AuditAction::SecondFactorEnrol,
                me.username.as_str(),
                Outcome::Failure,
            )
            .detail("reason", "wrong code")
            .from(provenance)
            .record_alone(&self.pool)
            .await?;
            return Err(DomainError::invalid("code", "error-second-factor-code-wrong"));
        };
        sqlx::query!(
            "UPDATE second_factors SET confirmed_at = now(), last_step = $2 WHERE account_id = $1",
            me.id,
            step
        )
        .execute(&mut *tx)
        .await?;
        let codes = replace_recovery_codes(&mut tx, me.id).await?;
        AuditEntry::new(
            me.actor(),
            AuditAction::SecondFactorEnrol,
            me.username.as_str(),
            Outcome::Success,
        )
        .detail("recovery_codes", codes.0.len())
        .from(provenance)
        .record(&mut tx)
        .await?;
        tx.commit().await?;
        self.changed();
        Ok(codes)
    }

    /// Checks a code typed for `account_id` (six digits, or a recovery
    /// code) and uses it up: a TOTP code's step is remembered (that code and
    /// older ones are refused from now on), a recovery code is spent.
    /// A wrong, reused or malformed code is [`DomainError::Invalid`] on
    /// `code`. Audits nothing: its callers do, with what they know.
    pub(crate) async fn use_code(&self, account_id: i64, typed: &str) -> Result<Accepted> {
        let wrong = || DomainError::invalid("code", "error-second-factor-code-wrong");
        let row = self.row(account_id).await?.filter(|r| r.confirmed_at.is_some());
        let Some(row) = row else {
            return Err(wrong());
        };
        match TypedCode::parse(typed).map_err(|_| wrong())? {
            TypedCode::Totp(code) => {
                let secret = self.secrets.get_for(row.secret_id, PURPOSE).await?;
                let now = step_at(OffsetDateTime::now_utc().unix_timestamp());
                let step = matching_step(&secret, code, now).ok_or_else(wrong)?;
                // Accepted once: whichever request moves `last_step` past
                // this step first wins; a replay finds it there already.
                let moved = sqlx::query!(
                    "UPDATE second_factors SET last_step = $2
                     WHERE account_id = $1 AND confirmed_at IS NOT NULL AND last_step < $2",
                    account_id,
                    step
                )
                .execute(&self.pool)
                .await?
                .rows_affected();
                if moved == 1 {
                    Ok(Accepted::Totp)
                } else {
                    Err(DomainError::invalid("code", "error-second-factor-code-used"))
                }
            }
            TypedCode::Recovery(code) => {
                let mut tx = self.pool.begin().await?;
                let spent = sqlx::query!(
                    "UPDATE recovery_codes SET used_at = now()
                     WHERE account_id = $1 AND code_digest = $2 AND used_at IS NULL",
                    account_id,
                    recovery_digest(&code)
                )
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if spent != 1 {
                    return Err(wrong());
                }
                let left = sqlx::query_scalar!(
                    r#"SELECT count(*) AS "count!" FROM recovery_codes WHERE account_id = $1 AND used_at IS NULL"#,
                    account_id
                )
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Accepted::Recovery { left })
            }
        }
    }

    /// Turns `me`'s second factor off, after a valid code (the password was
    /// checked by [`crate::Console::disable_second_factor`]).
    pub(crate) async fn disable(&self, me: &Operator, provenance: &Provenance, typed: &str) -> Result<()> {
        let entry = |outcome| {
            AuditEntry::new(
                me.actor(),
                AuditAction::SecondFactorDisable,
                me.username.as_str(),
                outcome,
            )
            .from(provenance)
        };
        let accepted = match self.use_code(me.id, typed).await {
            Ok(accepted) => accepted,
            Err(refused @ DomainError::Invalid(_)) => {
                entry(Outcome::Failure)
                    .detail("reason", "wrong code")
                    .record_alone(&self.pool)
                    .await?;
                return Err(refused);
            }
            Err(other) => return Err(other),
        };
        let mut tx = self.pool.begin().await?;
        remove(&mut tx, me.id).await?;
        entry(Outcome::Success)
            .detail("code", accepted_word(accepted))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        self.changed();
        Ok(())
    }

    /// Removes an account's second factor (admins: a lost phone and lost
    /// recovery codes). The account signs in with its password alone, and
    /// is sent to enrol again if it must have one.
    #[tracing::instrument(skip(self, by, provenance), fields(by = %by.username))]
    pub async fn reset(&self, by: &Operator, provenance: &Provenance, account_id: i64) -> Result<()> {
        let username = sqlx::query_scalar!("SELECT username FROM accounts WHERE id = $1", account_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(DomainError::NotFound("account"))?;
        let entry =
            |outcome| AuditEntry::new(by.actor(), AuditAction::SecondFactorReset, &username, outcome).from(provenance);
        self.admins_only(by, entry(Outcome::Denied)).await?;
        let mut tx = self.pool.begin().await?;
        if !remove(&mut tx, account_id).await? {
            return Err(DomainError::NotFound("second factor"));
        }
        entry(Outcome::Success).record(&mut tx).await?;
        tx.commit().await?;
        self.changed();
        Ok(())
    }

    /// The accounts with a second factor on (for the accounts page).
    pub async fn enrolled_accounts(&self) -> Result<HashSet<i64>> {
        Ok(self.requirements().await?.enrolled.clone())
    }
}

/// The audit log's word for how a code was accepted.
pub(crate) fn accepted_word(accepted: Accepted) -> &'static str {
    match accepted {
        Accepted::Totp => "totp",
        Accepted::Recovery { .. } => "recovery",
    }
}

/// Replaces an account's recovery codes with new ones, returned in clear
/// (to show once).
async fn replace_recovery_codes(tx: &mut sqlx::PgConnection, account_id: i64) -> Result<RecoveryCodes> {
    sqlx::query!("DELETE FROM recovery_codes WHERE account_id = $1", account_id)
        .execute(&mut *tx)
        .await?;
    let codes: Vec<Zeroizing<String>> = (0..RECOVERY_CODES)
        .map(|_| Zeroizing::new(new_recovery_code()))
        .collect();
    let digests: Vec<Vec<u8>> = codes
        .iter()
        .map(|code| recovery_digest(&code.replace('-', "")))
        .collect();
    sqlx::query!(
        "INSERT INTO recovery_codes (account_id, code_digest) SELECT $1, digest FROM unnest($2::bytea[]) AS digest",
        account_id,
        &digests
    )
    .execute(&mut *tx)
    .await?;
    Ok(RecoveryCodes(codes))
}

/// Removes an account's second factor, its secret and its recovery codes.
/// Whether it had one.
async fn remove(tx: &mut sqlx::PgConnection, account_id: i64) -> Result<bool> {
    let secret = sqlx::query_scalar!(
        r#"DELETE FROM second_factors WHERE account_id = $1 RETURNING secret_id AS "secret_id: SecretId""#,
        account_id
    )
    .fetch_optional(&mut *tx)
    .await?;
    sqlx::query!("DELETE FROM recovery_codes WHERE account_id = $1", account_id)
        .execute(&mut *tx)
        .await?;
    if let Some(secret) = secret {
        sqlx::query!("DELETE FROM secrets WHERE id = $1", secret.0)
            .execute(&mut *tx)
            .await?;
    }
    Ok(secret.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238, appendix B: the SHA-1 test vectors (8 digits; ours are
    /// their last 6, the same truncation modulo 10^6).
    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (time, eight_digits) in [
            (59, 94287082u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            assert_eq!(code_at(secret, step_at(time)), eight_digits % 1_000_000, "at {time}");
        }
    }

    #[test]
    fn one_step_of_skew_either_way_is_tolerated_and_no_more() {
        let secret = b"12345678901234567890";
        let now = step_at(1234567890);
        for skew in [-1, 0, 1] {
            assert_eq!(
                matching_step(secret, code_at(secret, now + skew), now),
                Some(now + skew)
            );
        }
        for skew in [-3, -2, 2, 3] {
            let code = code_at(secret, now + skew);
            let near = [now - 1, now, now + 1].map(|s| code_at(secret, s));
            if !near.contains(&code) {
                assert_eq!(matching_step(secret, code, now), None, "skew {skew}");
            }
        }
    }

    #[test]
    fn typed_codes_are_six_digits_or_a_recovery_code_whatever_the_spacing() {
        assert!(matches!(TypedCode::parse(" 123 456 "), Ok(TypedCode::Totp(123456))));
        assert!(matches!(TypedCode::parse("012345"), Ok(TypedCode::Totp(12345))));
        let code = new_recovery_code();
        assert_eq!(code.len(), 19, "{code}");
        let spaced = code.to_ascii_uppercase().replace('-', " ");
        assert!(matches!(TypedCode::parse(&spaced), Ok(TypedCode::Recovery(kept)) if kept == code.replace('-', "")));
        for wrong in ["", "12345", "1234567", "abcdef", "0123-4567-89ab-cdef"] {
            assert!(TypedCode::parse(wrong).is_err(), "{wrong}");
        }
    }

    #[test]
    fn the_enrolment_address_names_the_issuer_and_the_account() {
        let enrolment = Enrolment::of(b"12345678901234567890", "marie.d");
        assert_eq!(enrolment.secret.as_str(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(
            enrolment.uri.as_str(),
            "otpauth://totp/OC%20Pizza%20console:marie.d?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=OC%20Pizza%20console&algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(format!("{enrolment:?}"), "Enrolment(****)");
    }
}
