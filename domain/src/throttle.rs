//! Sign-in throttling, per account name and per client address. After five
//! failures in a row, each further failure doubles a waiting time (1 s, 2 s,
//! 4 s … up to 15 minutes) during which sign-ins for that name or from that
//! address are refused without checking the password. Counters live in
//! PostgreSQL so every console process sees them, and fade after 15 quiet
//! minutes counted from the end of the last lock (so the longest lock does
//! not hand out five fresh guesses as it ends).
//!
//! An attempt is counted *before* its password is checked: [`SignInThrottle::reserve`]
//! locks the subjects' rows, refuses while any is locked, and counts the
//! attempt as a failure, setting the lock the count earns, in one
//! transaction. Parallel guesses therefore queue on the row lock and the
//! sixth finds the lock the fifth set: however many arrive at once, five
//! reach the password check. A correct password then gives the attempt back
//! ([`SignInThrottle::succeeded`]); a wrong one restarts the lock from the
//! moment it was found wrong ([`SignInThrottle::failed`]).

use std::time::Duration;

use sqlx::PgPool;
use time::OffsetDateTime;

use crate::error::{DomainError, Result};

/// Failures allowed before any delay.
pub const FREE_FAILURES: i32 = 5;
/// The longest delay, and how long a quiet counter lives.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);

/// What a sign-in attempt is counted against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThrottleSubject {
    Account(String),
    Address(String),
}

impl ThrottleSubject {
    fn key(&self) -> String {
        match self {
            // Cut, and stripped of control characters (PostgreSQL refuses
            // NUL): a 1 MB name full of NULs is not a key.
            ThrottleSubject::Account(name) => {
                let name: String = name
                    .trim()
                    .to_lowercase()
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(64)
                    .collect();
                format!("account:{name}")
            }
            ThrottleSubject::Address(address) => format!("address:{address}"),
        }
    }
}

/// The delay after `failures` consecutive failures.
pub fn delay_after(failures: i32) -> Duration {
    if failures < FREE_FAILURES {
        return Duration::ZERO;
    }
    let doublings = (failures - FREE_FAILURES).min(20) as u32;
    Duration::from_secs(1u64 << doublings).min(MAX_DELAY)
}

/// An attempt counted in advance against each subject. Settle it with
/// [`SignInThrottle::succeeded`] or [`SignInThrottle::failed`]; dropped
/// unsettled (an error on the way), it stays counted as a failure.
#[derive(Debug)]
#[must_use = "settle the attempt with `succeeded` or `failed`"]
pub struct Reservation {
    counted: Vec<Counted>,
}

#[derive(Debug)]
struct Counted {
    key: String,
    /// The subject's consecutive failures, this attempt included.
    failures: i32,
    /// The lock this attempt set, if its count earned one.
    locked_until: Option<OffsetDateTime>,
}

impl Reservation {
    /// The largest count of consecutive failures, this attempt included.
    pub fn failures(&self) -> i32 {
        self.counted.iter().map(|c| c.failures).max().unwrap_or(0)
    }
}

struct CounterRow {
    subject: String,
    failures: i32,
    last_failure_at: OffsetDateTime,
    locked_until: Option<OffsetDateTime>,
    now: OffsetDateTime,
}

#[derive(Clone, Debug)]
pub struct SignInThrottle {
    pool: PgPool,
}

impl SignInThrottle {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Counts an attempt against every subject before its password is
    /// checked, or refuses with [`DomainError::Throttled`] (counting
    /// nothing) while any subject waits.
    pub async fn reserve(&self, subjects: &[ThrottleSubject]) -> Result<Reservation> {
        // Rows are created and locked in one order, so parallel attempts
        // queue instead of deadlocking.
        let mut keys: Vec<String> = subjects.iter().map(ThrottleSubject::key).collect();
        keys.sort();
        keys.dedup();
        let mut tx = self.pool.begin().await?;
        sqlx::query!(
            "INSERT INTO sign_in_failures (subject, failures, last_failure_at)
             SELECT subject, 0, now() FROM unnest($1::text[]) AS subject ORDER BY subject
             ON CONFLICT (subject) DO NOTHING",
            &keys,
        )
        .execute(&mut *tx)
        .await?;
        let rows = sqlx::query_as!(
            CounterRow,
            r#"SELECT subject, failures, last_failure_at, locked_until, now() AS "now!"
             FROM sign_in_failures WHERE subject = ANY($1) ORDER BY subject FOR UPDATE"#,
            &keys,
        )
        .fetch_all(&mut *tx)
        .await?;
        let locked = rows
            .iter()
            .filter_map(|row| {
                row.locked_until
                    .filter(|until| *until > row.now)
                    .map(|until| until - row.now)
            })
            .max();
        if let Some(wait) = locked {
            tx.rollback().await?;
            let seconds = wait.whole_seconds().max(0) as u64 + u64::from(wait.subsec_nanoseconds() > 0);
            return Err(DomainError::Throttled(Duration::from_secs(seconds.max(1))));
        }
        let quiet = time::Duration::try_from(MAX_DELAY).expect("15 minutes fit");
        let mut counted = Vec::with_capacity(rows.len());
        for row in rows {
            let last_activity = row
                .locked_until
                .map_or(row.last_failure_at, |until| until.max(row.last_failure_at));
            let failures = if row.now - last_activity > quiet {
                1
            } else {
                row.failures + 1
            };
            let delay = delay_after(failures);
            let locked_until = (!delay.is_zero()).then(|| row.now + delay);
            sqlx::query!(
                "UPDATE sign_in_failures SET failures = $2, last_failure_at = now(),
                    locked_until = coalesce($3, locked_until)
                 WHERE subject = $1",
                row.subject,
                failures,
                locked_until,
            )
            .execute(&mut *tx)
            .await?;
            counted.push(Counted {
                key: row.subject,
                failures,
                locked_until,
            });
        }
        tx.commit().await?;
        Ok(Reservation { counted })
    }

    /// The password was wrong: the attempt stays counted, and the wait its
    /// count earned starts again from now (the check took a while).
    /// Returns the largest count of consecutive failures.
    pub async fn failed(&self, reservation: Reservation) -> Result<i32> {
        for counted in &reservation.counted {
            let delay = delay_after(counted.failures);
            sqlx::query!(
                "UPDATE sign_in_failures SET last_failure_at = now(),
                    locked_until = CASE WHEN $2::float8 > 0 THEN greatest(locked_until, now() + make_interval(secs => $2::float8))
                                        ELSE locked_until END
                 WHERE subject = $1",
                counted.key,
                delay.as_secs_f64(),
            )
            .execute(&self.pool)
            .await?;
        }
        Ok(reservation.failures())
    }

    /// The password was right: `account`'s failures are forgotten, and the
    /// attempt is given back to the other subjects (an address shared by
    /// the whole office is not locked by its staff signing in).
    pub async fn succeeded(&self, reservation: Reservation, account: &ThrottleSubject) -> Result<()> {
        let account = account.key();
        let mut tx = self.pool.begin().await?;
        sqlx::query!("DELETE FROM sign_in_failures WHERE subject = $1", account)
            .execute(&mut *tx)
            .await?;
        give_back(&mut tx, reservation.counted.iter().filter(|c| c.key != account)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The password was right but a second factor's code is asked next:
    /// the attempt is given back to every subject, and the account's
    /// earlier failures stay (only the whole sign-in forgets them, so a
    /// right password cannot wipe the count of wrong codes).
    pub async fn given_back(&self, reservation: Reservation) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        give_back(&mut tx, reservation.counted.iter()).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Takes each counted attempt back (and the wait it started, if no other
/// attempt pushed that wait further since).
async fn give_back(tx: &mut sqlx::PgConnection, counted: impl Iterator<Item = &Counted>) -> Result<()> {
    for counted in counted {
        sqlx::query!(
            "UPDATE sign_in_failures SET failures = greatest(failures - 1, 0),
                locked_until = CASE WHEN locked_until IS NOT DISTINCT FROM $2 THEN NULL ELSE locked_until END
             WHERE subject = $1",
            counted.key,
            counted.locked_until,
        )
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_keys_are_cut_and_hold_no_control_characters() {
        let key = ThrottleSubject::Account(format!("Ad\0Min{}", "x".repeat(1_000_000))).key();
        assert!(key.starts_with("account:admin"));
        assert_eq!(key.chars().count(), "account:".len() + 64);
    }

    #[test]
    fn the_delay_starts_after_five_failures_and_doubles_up_to_fifteen_minutes() {
        assert_eq!(delay_after(4), Duration::ZERO);
        assert_eq!(delay_after(5), Duration::from_secs(1));
        assert_eq!(delay_after(6), Duration::from_secs(2));
        assert_eq!(delay_after(9), Duration::from_secs(16));
        assert_eq!(delay_after(40), MAX_DELAY);
    }
}
