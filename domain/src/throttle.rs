//! Sign-in throttling, per account name and per client address. After five
//! failures in a row, each further failure doubles a waiting time (1 s, 2 s,
//! 4 s … up to 15 minutes) during which sign-ins for that name or from that
//! address are refused without checking the password. Counters live in
//! PostgreSQL so every console process sees them, and fade after 15 quiet
//! minutes.

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

#[derive(Clone, Debug)]
pub struct SignInThrottle {
    pool: PgPool,
}

impl SignInThrottle {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Refuses with [`DomainError::Throttled`] while any subject waits.
    pub async fn check(&self, subjects: &[ThrottleSubject]) -> Result<()> {
        let keys: Vec<String> = subjects.iter().map(ThrottleSubject::key).collect();
        let until: Option<OffsetDateTime> = sqlx::query_scalar(
            "SELECT max(locked_until) FROM sign_in_failures WHERE subject = ANY($1) AND locked_until > now()",
        )
        .bind(&keys)
        .fetch_one(&self.pool)
        .await?;
        match until {
            Some(until) => {
                let wait = (until - OffsetDateTime::now_utc()).max(time::Duration::ZERO);
                let seconds = wait.whole_seconds().max(0) as u64 + u64::from(wait.subsec_nanoseconds() > 0);
                Err(DomainError::Throttled(Duration::from_secs(seconds.max(1))))
            }
            None => Ok(()),
        }
    }

    /// Counts a failure against every subject; returns the largest count.
    pub async fn record_failure(&self, subjects: &[ThrottleSubject]) -> Result<i32> {
        let mut worst = 0;
        for subject in subjects {
            let failures: i32 = sqlx::query_scalar(
                "INSERT INTO sign_in_failures AS f (subject, failures, last_failure_at) VALUES ($1, 1, now())
                 ON CONFLICT (subject) DO UPDATE SET
                    failures = CASE WHEN f.last_failure_at < now() - make_interval(secs => $2) THEN 1 ELSE f.failures + 1 END,
                    last_failure_at = now()
                 RETURNING failures",
            )
            .bind(subject.key())
            .bind(MAX_DELAY.as_secs_f64())
            .fetch_one(&self.pool)
            .await?;
            let delay = delay_after(failures);
            if !delay.is_zero() {
                sqlx::query(
                    "UPDATE sign_in_failures SET locked_until = now() + make_interval(secs => $2) WHERE subject = $1",
                )
                .bind(subject.key())
                .bind(delay.as_secs_f64())
                .execute(&self.pool)
                .await?;
            }
            worst = worst.max(failures);
        }
        Ok(worst)
    }

    /// Forgets the failures of a subject after a successful sign-in.
    pub async fn clear(&self, subject: &ThrottleSubject) -> Result<()> {
        sqlx::query("DELETE FROM sign_in_failures WHERE subject = $1")
            .bind(subject.key())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
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
