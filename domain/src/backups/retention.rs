//! Retention: which backups a host keeps. The newest N, plus the newest of
//! each of the last D days, W ISO weeks and M months (days, weeks and months
//! in the schedule's time zone); the rest are pruned: their objects deleted,
//! their catalog rows kept, marked "pruned", audited. A restore's safety
//! copy is never pruned, nor is a backup still running or failed (nothing
//! of a failed one is stored).

use std::collections::HashSet;
use std::fmt;

use jiff::tz::TimeZone;
use time::OffsetDateTime;

use super::schedule::to_jiff;
use super::Backups;
use crate::audit::{Actor, AuditAction, AuditEntry, Outcome};
use crate::error::{DomainError, Result};
use crate::jobs::JobContext;
use crate::storage::StorageKey;

/// How many backups a host keeps, by kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    pub keep_last: u32,
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
}

impl Retention {
    /// The limits: keep 1 to 100 last, 0 to 366 daily, 0 to 104 weekly, 0 to
    /// 120 monthly.
    pub fn parse(keep_last: i32, daily: i32, weekly: i32, monthly: i32) -> Result<Self> {
        let within = |value: i32, field: &'static str, low: i32, high: i32| {
            if (low..=high).contains(&value) {
                Ok(value as u32)
            } else {
                Err(DomainError::invalid(field, "error-schedule-retention"))
            }
        };
        Ok(Self {
            keep_last: within(keep_last, "keep_last", 1, 100)?,
            daily: within(daily, "keep_daily", 0, 366)?,
            weekly: within(weekly, "keep_weekly", 0, 104)?,
            monthly: within(monthly, "keep_monthly", 0, 120)?,
        })
    }

    /// Of `backups` (id and start time, any order), the ones this retention
    /// does not keep, oldest first.
    pub fn prunable(&self, backups: &[(i64, OffsetDateTime)], zone: &TimeZone) -> Vec<i64> {
        let mut newest_first: Vec<_> = backups.to_vec();
        newest_first.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
        let mut kept: HashSet<i64> = newest_first
            .iter()
            .take(self.keep_last as usize)
            .map(|(id, _)| *id)
            .collect();
        let civil = |at: OffsetDateTime| to_jiff(at).ok().map(|t| t.to_zoned(zone.clone()).date());
        for (count, period) in [
            (self.daily, Period::Day),
            (self.weekly, Period::Week),
            (self.monthly, Period::Month),
        ] {
            let mut seen = HashSet::new();
            for (id, at) in &newest_first {
                if seen.len() >= count as usize {
                    break;
                }
                let Some(date) = civil(*at) else { continue };
                // The newest backup of each period is the one kept.
                if seen.insert(period.of(date)) {
                    kept.insert(*id);
                }
            }
        }
        newest_first
            .iter()
            .rev()
            .map(|(id, _)| *id)
            .filter(|id| !kept.contains(id))
            .collect()
    }
}

/// The periods retention keeps one backup of.
#[derive(Clone, Copy)]
enum Period {
    Day,
    /// An ISO week (Monday to Sunday).
    Week,
    Month,
}

impl Period {
    /// Which period of its kind `date` falls in: (year, number within it).
    fn of(self, date: jiff::civil::Date) -> (i16, i16) {
        match self {
            Period::Day => (date.year(), date.day_of_year()),
            Period::Week => {
                let week = date.iso_week_date();
                (week.year(), i16::from(week.week()))
            }
            Period::Month => (date.year(), i16::from(date.month())),
        }
    }
}

/// `last 7 · daily 7 · weekly 4 · monthly 6`.
impl fmt::Display for Retention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "last {} · daily {} · weekly {} · monthly {}",
            self.keep_last, self.daily, self.weekly, self.monthly
        )
    }
}

impl Backups {
    /// Applies `retention` to the job's host: the backups it does not keep
    /// are marked pruned (audited, as the console) and their objects
    /// deleted. Says what it did in the job's output; a failure is logged
    /// and said, never fails the backup that was just taken.
    pub(super) async fn apply_retention(&self, job: &JobContext, retention: Retention, zone: &TimeZone) {
        match self.prune(job.host.id, job.host.name.as_str(), retention, zone).await {
            Ok(pruned) if pruned.is_empty() => job.say(format!("retention ({retention}): nothing to prune")).await,
            Ok(pruned) => {
                let ids: Vec<String> = pruned.iter().map(i64::to_string).collect();
                job.say(format!("retention ({retention}): pruned backups {}", ids.join(", ")))
                    .await
            }
            Err(error) => {
                tracing::error!(%error, host = job.host.name.as_str(), "retention could not prune");
                job.say(format!("retention ({retention}): not applied, see the console's log"))
                    .await
            }
        }
    }

    /// Prunes what `retention` does not keep of `host_id`'s backups;
    /// returns the pruned backups' numbers.
    async fn prune(&self, host_id: i64, host_name: &str, retention: Retention, zone: &TimeZone) -> Result<Vec<i64>> {
        let candidates: Vec<(i64, OffsetDateTime)> = sqlx::query!(
            "SELECT id, started_at FROM backups
             WHERE host_id = $1 AND status = 'succeeded' AND safety_for_job IS NULL",
            host_id
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|row| (row.id, row.started_at))
        .collect();
        let prunable = retention.prunable(&candidates, zone);
        if prunable.is_empty() {
            return Ok(prunable);
        }
        let mut tx = self.pool.begin().await?;
        let pruned = sqlx::query!(
            "UPDATE backups SET status = 'pruned', pruned_at = now()
             WHERE id = ANY($1) AND status = 'succeeded' AND safety_for_job IS NULL
             RETURNING id, storage_key",
            &prunable
        )
        .fetch_all(&mut *tx)
        .await?;
        let ids: Vec<i64> = pruned.iter().map(|row| row.id).collect();
        AuditEntry::new(Actor::System, AuditAction::BackupPrune, host_name, Outcome::Success)
            .detail("backups", ids.clone())
            .detail("retention", retention.to_string())
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        // Marked first: an object that cannot be deleted is logged, never a
        // row that says "succeeded" with nothing behind it.
        for row in &pruned {
            if let Ok(key) = StorageKey::parse(&row.storage_key) {
                if let Err(error) = self.storage.delete(&key).await {
                    tracing::error!(%error, backup = row.id, "a pruned backup's object could not be deleted");
                }
            }
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use time::Duration;

    fn paris() -> TimeZone {
        TimeZone::get("Europe/Paris").unwrap()
    }

    /// One backup a day at 01:00 UTC for `days` days up to 2026-12-01,
    /// numbered 1 (oldest) to `days`.
    fn daily_backups(days: i64) -> Vec<(i64, OffsetDateTime)> {
        (0..days)
            .map(|i| (days - i, datetime!(2026-12-01 01:00 UTC) - Duration::days(i)))
            .collect()
    }

    #[test]
    fn limits_are_checked_field_by_field() {
        assert!(Retention::parse(7, 7, 4, 6).is_ok());
        for (args, field) in [
            ((0, 7, 4, 6), "keep_last"),
            ((101, 7, 4, 6), "keep_last"),
            ((7, -1, 4, 6), "keep_daily"),
            ((7, 7, 105, 6), "keep_weekly"),
            ((7, 7, 4, 121), "keep_monthly"),
        ] {
            match Retention::parse(args.0, args.1, args.2, args.3) {
                Err(DomainError::Invalid(invalid)) => assert_eq!(invalid.field, field),
                other => panic!("{args:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn keep_last_alone_keeps_the_newest() {
        let retention = Retention::parse(3, 0, 0, 0).unwrap();
        let pruned = retention.prunable(&daily_backups(10), &paris());
        assert_eq!(pruned, (1..=7).collect::<Vec<_>>());
    }

    #[test]
    fn daily_weekly_and_monthly_keep_the_newest_of_each_period() {
        // 120 days of daily backups, the newest numbered 120 (2026-12-01).
        let backups = daily_backups(120);
        let retention = Retention::parse(2, 7, 4, 3).unwrap();
        let pruned: HashSet<i64> = retention.prunable(&backups, &paris()).into_iter().collect();
        let kept: Vec<i64> = (1..=120).filter(|id| !pruned.contains(id)).collect();
        // The last 2 (119, 120); the last 7 days (114-120); the newest of
        // each of 4 ISO weeks (#120: Tuesday 1 December; then the Sundays
        // 29, 22 and 15 November: #118, #111, #104); the newest of each of
        // 3 months (#120; 30 November: #119; 31 October: #89).
        assert_eq!(kept, vec![89, 104, 111, 114, 115, 116, 117, 118, 119, 120]);
    }

    #[test]
    fn days_are_counted_in_the_schedules_time_zone() {
        // 23:30 UTC on 30 November is already 1 December in Paris.
        let backups = vec![
            (1, datetime!(2026-11-30 22:30 UTC)),
            (2, datetime!(2026-11-30 23:30 UTC)),
            (3, datetime!(2026-12-01 10:00 UTC)),
        ];
        let retention = Retention::parse(1, 2, 0, 0).unwrap();
        // Paris: #3 and #2 share 1 December, #1 is 30 November: #2 goes.
        assert_eq!(retention.prunable(&backups, &paris()), vec![2]);
        // UTC: #3 is 1 December, #2 and #1 share 30 November: #1 goes.
        assert_eq!(retention.prunable(&backups, &TimeZone::UTC), vec![1]);
    }

    #[test]
    fn the_text_in_the_audit_reads_each_number() {
        assert_eq!(
            Retention::parse(7, 7, 4, 6).unwrap().to_string(),
            "last 7 · daily 7 · weekly 4 · monthly 6"
        );
    }
}
