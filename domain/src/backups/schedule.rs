//! Backup schedules (manual §7.1: back up regularly): per host, a cron
//! expression read in a time zone (by default every day at 03:00,
//! Europe/Paris) and the retention that prunes what is no longer needed.
//!
//! Every console process runs [`Backups::run_due_schedules`]; a due
//! schedule is taken with `FOR UPDATE SKIP LOCKED` and its next slot is
//! written in the same transaction, so a slot runs once whatever the number
//! of processes. A slot that passed while no console ran is reported (one
//! audit record with how many were missed) and caught up once.

use jiff::tz::TimeZone;
use time::OffsetDateTime;

use super::retention::Retention;
use super::take::Request;
use super::{BackupTrigger, Backups};
use crate::accounts::{Operator, Role};
use crate::audit::{Actor, AuditAction, AuditEntry, Outcome, Provenance};
use crate::error::{DomainError, Result};
use crate::hosts::Host;
use crate::jobs::JobPlan;

/// A cron expression (five fields: minute, hour, day of month, month, day
/// of week) read in a named time zone: when a schedule fires.
#[derive(Clone, Debug)]
pub struct CronSchedule {
    cron: croner::Cron,
    expression: String,
    zone: TimeZone,
    zone_name: String,
}

impl CronSchedule {
    /// The default: every day at 03:00, Paris time.
    pub const DEFAULT_CRON: &'static str = "0 3 * * *";
    pub const DEFAULT_ZONE: &'static str = "Europe/Paris";

    /// Reads `expression` in `zone` (an IANA name such as `Europe/Paris`).
    pub fn parse(expression: &str, zone: &str) -> Result<Self> {
        let expression = expression.split_whitespace().collect::<Vec<_>>().join(" ");
        let parser = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Disallowed)
            .build();
        let cron = match parser.parse(&expression) {
            Ok(cron) if expression.len() <= 100 => cron,
            _ => return Err(DomainError::invalid("cron", "error-schedule-cron")),
        };
        let zone_name = zone.trim().to_owned();
        let zone = TimeZone::get(&zone_name).map_err(|_| DomainError::invalid("time_zone", "error-schedule-zone"))?;
        let schedule = Self {
            cron,
            expression,
            zone,
            zone_name,
        };
        // An expression that never fires (30 February) is no schedule.
        schedule
            .next_after(OffsetDateTime::now_utc())
            .map_err(|_| DomainError::invalid("cron", "error-schedule-cron"))?;
        Ok(schedule)
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }

    pub(crate) fn zone(&self) -> &TimeZone {
        &self.zone
    }

    /// The first slot strictly after `after`.
    pub fn next_after(&self, after: OffsetDateTime) -> Result<OffsetDateTime> {
        let zoned = to_jiff(after)?.to_zoned(self.zone.clone());
        let next = self
            .cron
            .find_next_occurrence(&zoned, false)
            .map_err(|e| DomainError::Internal(format!("no next slot for {:?}: {e}", self.expression)))?;
        from_jiff(next.timestamp())
    }

    /// How many slots fall in `(from, until]`, counting at most `cap`.
    pub fn slots_between(&self, from: OffsetDateTime, until: OffsetDateTime, cap: u32) -> u32 {
        let mut count = 0;
        let mut at = from;
        while count < cap {
            match self.next_after(at) {
                Ok(next) if next <= until => {
                    count += 1;
                    at = next;
                }
                _ => break,
            }
        }
        count
    }
}

pub(crate) fn to_jiff(at: OffsetDateTime) -> Result<jiff::Timestamp> {
    jiff::Timestamp::from_nanosecond(at.unix_timestamp_nanos()).map_err(|e| DomainError::Internal(e.to_string()))
}

fn from_jiff(at: jiff::Timestamp) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(at.as_nanosecond()).map_err(|e| DomainError::Internal(e.to_string()))
}

/// What an admin fills in to schedule a host's backups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleForm {
    pub enabled: bool,
    pub cron: String,
    pub time_zone: String,
    pub keep_last: i32,
    pub keep_daily: i32,
    pub keep_weekly: i32,
    pub keep_monthly: i32,
    pub verify_after: bool,
}

impl Default for ScheduleForm {
    /// Every day at 03:00 Paris time; the last 7, plus 7 daily, 4 weekly
    /// and 6 monthly; each verified.
    fn default() -> Self {
        Self {
            enabled: true,
            cron: CronSchedule::DEFAULT_CRON.into(),
            time_zone: CronSchedule::DEFAULT_ZONE.into(),
            keep_last: 7,
            keep_daily: 7,
            keep_weekly: 4,
            keep_monthly: 6,
            verify_after: true,
        }
    }
}

/// A host's schedule, as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct BackupSchedule {
    pub host_id: i64,
    pub enabled: bool,
    pub cron: String,
    pub time_zone: String,
    pub retention: Retention,
    pub verify_after: bool,
    pub next_run_at: OffsetDateTime,
    pub retry_at: Option<OffsetDateTime>,
    pub last_run_at: Option<OffsetDateTime>,
    pub last_job_id: Option<i64>,
    pub updated_by: String,
    pub updated_at: OffsetDateTime,
}

impl BackupSchedule {
    /// The form showing this schedule.
    pub fn form(&self) -> ScheduleForm {
        ScheduleForm {
            enabled: self.enabled,
            cron: self.cron.clone(),
            time_zone: self.time_zone.clone(),
            keep_last: self.retention.keep_last as i32,
            keep_daily: self.retention.daily as i32,
            keep_weekly: self.retention.weekly as i32,
            keep_monthly: self.retention.monthly as i32,
            verify_after: self.verify_after,
        }
    }
}

struct Row {
    host_id: i64,
    enabled: bool,
    cron: String,
    time_zone: String,
    keep_last: i32,
    keep_daily: i32,
    keep_weekly: i32,
    keep_monthly: i32,
    verify_after: bool,
    next_run_at: OffsetDateTime,
    retry_at: Option<OffsetDateTime>,
    last_run_at: Option<OffsetDateTime>,
    last_job_id: Option<i64>,
    updated_by: String,
    updated_at: OffsetDateTime,
}

impl From<Row> for BackupSchedule {
    fn from(row: Row) -> Self {
        let count = |n: i32| n.max(0) as u32;
        BackupSchedule {
            host_id: row.host_id,
            enabled: row.enabled,
            cron: row.cron,
            time_zone: row.time_zone,
            retention: Retention {
                keep_last: count(row.keep_last),
                daily: count(row.keep_daily),
                weekly: count(row.keep_weekly),
                monthly: count(row.keep_monthly),
            },
            verify_after: row.verify_after,
            next_run_at: row.next_run_at,
            retry_at: row.retry_at,
            last_run_at: row.last_run_at,
            last_job_id: row.last_job_id,
            updated_by: row.updated_by,
            updated_at: row.updated_at,
        }
    }
}

/// A slot counts as missed (no console ran at its time) when it is found
/// due this long after it passed.
const MISSED_AFTER: time::Duration = time::Duration::minutes(10);
/// When the host is busy at a slot, the schedule tries again this much later.
const RETRY_BUSY: time::Duration = time::Duration::minutes(1);

impl Backups {
    /// Every host's schedule.
    pub async fn schedules(&self) -> Result<Vec<BackupSchedule>> {
        let rows = sqlx::query_as!(
            Row,
            "SELECT host_id, enabled, cron, time_zone, keep_last, keep_daily, keep_weekly, keep_monthly, verify_after,
                    next_run_at, retry_at, last_run_at, last_job_id, updated_by, updated_at
             FROM backup_schedules ORDER BY host_id"
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(BackupSchedule::from).collect())
    }

    /// Saves `host_id`'s schedule (admins): refused, changing nothing, when
    /// the expression, the time zone or a retention number is not valid.
    /// Returns the schedule with its next slot.
    #[tracing::instrument(skip_all, fields(operator = %by.username.as_str(), request_id = provenance.request_id.as_deref(), host_id))]
    pub async fn save_schedule(
        &self,
        by: &Operator,
        provenance: &Provenance,
        host_id: i64,
        form: ScheduleForm,
    ) -> Result<BackupSchedule> {
        by.require(Role::Admin)?;
        let host = self.hosts.get(host_id).await?;
        let schedule = CronSchedule::parse(&form.cron, &form.time_zone)?;
        let retention = Retention::parse(form.keep_last, form.keep_daily, form.keep_weekly, form.keep_monthly)?;
        let next = schedule.next_after(OffsetDateTime::now_utc())?;
        let mut tx = self.pool.begin().await?;
        sqlx::query!(
            "INSERT INTO backup_schedules (host_id, enabled, cron, time_zone, keep_last, keep_daily, keep_weekly,
                                           keep_monthly, verify_after, next_run_at, updated_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (host_id) DO UPDATE SET enabled = $2, cron = $3, time_zone = $4, keep_last = $5,
                 keep_daily = $6, keep_weekly = $7, keep_monthly = $8, verify_after = $9, next_run_at = $10,
                 retry_at = NULL, updated_by = $11, updated_at = now()",
            host.id,
            form.enabled,
            schedule.expression(),
            schedule.zone_name(),
            retention.keep_last as i32,
            retention.daily as i32,
            retention.weekly as i32,
            retention.monthly as i32,
            form.verify_after,
            next,
            by.username.as_str(),
        )
        .execute(&mut *tx)
        .await?;
        AuditEntry::new(
            by.actor(),
            AuditAction::BackupSchedule,
            host.name.as_str(),
            Outcome::Success,
        )
        .detail("enabled", form.enabled)
        .detail("cron", schedule.expression())
        .detail("time_zone", schedule.zone_name())
        .detail("retention", retention.to_string())
        .detail("verify_after", form.verify_after)
        .from(provenance)
        .record(&mut tx)
        .await?;
        tx.commit().await?;
        self.schedule_of(host_id)
            .await?
            .ok_or(DomainError::NotFound("schedule"))
    }

    /// `host_id`'s schedule, if it has one.
    pub async fn schedule_of(&self, host_id: i64) -> Result<Option<BackupSchedule>> {
        Ok(sqlx::query_as!(
            Row,
            "SELECT host_id, enabled, cron, time_zone, keep_last, keep_daily, keep_weekly, keep_monthly, verify_after,
                    next_run_at, retry_at, last_run_at, last_job_id, updated_by, updated_at
             FROM backup_schedules WHERE host_id = $1",
            host_id
        )
        .fetch_optional(&self.pool)
        .await?
        .map(BackupSchedule::from))
    }

    /// Resolves when the console's database pool closes (the console
    /// stops): the scheduler's cue to end.
    pub fn stopped(&self) -> sqlx::pool::CloseEvent {
        self.pool.close_event()
    }

    /// Starts the backup of every schedule that is due, each once across
    /// every console process, and returns when the next one is due (to
    /// sleep until then).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn run_due_schedules(&self) -> Result<Option<OffsetDateTime>> {
        while self.run_one_due_schedule().await? {}
        Ok(
            sqlx::query_scalar!("SELECT min(coalesce(retry_at, next_run_at)) FROM backup_schedules WHERE enabled")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Takes one due schedule (skipping those another process holds) and
    /// starts its backup. Returns whether there was one.
    async fn run_one_due_schedule(&self) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let Some(row) = sqlx::query_as!(
            Row,
            "SELECT host_id, enabled, cron, time_zone, keep_last, keep_daily, keep_weekly, keep_monthly, verify_after,
                    next_run_at, retry_at, last_run_at, last_job_id, updated_by, updated_at
             FROM backup_schedules WHERE enabled AND coalesce(retry_at, next_run_at) <= now()
             ORDER BY coalesce(retry_at, next_run_at) LIMIT 1 FOR UPDATE SKIP LOCKED"
        )
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(false);
        };
        let schedule = BackupSchedule::from(row);
        let host = self.hosts.get(schedule.host_id).await?;
        let now = OffsetDateTime::now_utc();
        let cron = match CronSchedule::parse(&schedule.cron, &schedule.time_zone) {
            Ok(cron) => cron,
            Err(error) => {
                // Saved valid; a time zone gone from a newer database: stop
                // it, loudly, rather than fire at every pass.
                tracing::error!(%error, host = host.name.as_str(), "a backup schedule no longer reads; disabled");
                sqlx::query!(
                    "UPDATE backup_schedules SET enabled = false WHERE host_id = $1",
                    host.id
                )
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                return Ok(true);
            }
        };
        let system = Provenance::default();
        // Started before anything is written in this transaction: the job
        // writes its audit record from another connection, and the audit
        // chain's lock must not be held here meanwhile.
        let started = self.start_scheduled(&host, &schedule, &cron, &system).await;
        if schedule.retry_at.is_none() && now - schedule.next_run_at > MISSED_AFTER {
            let missed = cron.slots_between(schedule.next_run_at, now, 1000) + 1;
            tracing::warn!(
                host = host.name.as_str(),
                missed,
                "scheduled backups were missed while no console ran"
            );
            AuditEntry::new(
                Actor::System,
                AuditAction::BackupScheduleMissed,
                host.name.as_str(),
                Outcome::Failure,
            )
            .detail(
                "slot",
                schedule
                    .next_run_at
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
            )
            .detail("missed", missed)
            .detail("event", "caught up once")
            .record(&mut tx)
            .await?;
        }
        match started {
            Ok(job) => {
                let next = cron.next_after(now)?;
                sqlx::query!(
                    "UPDATE backup_schedules SET next_run_at = $2, retry_at = NULL, last_run_at = now(), last_job_id = $3
                     WHERE host_id = $1",
                    host.id,
                    next,
                    job
                )
                .execute(&mut *tx)
                .await?;
            }
            Err(DomainError::HostBusy { job }) => {
                tracing::info!(
                    host = host.name.as_str(),
                    busy_with = job,
                    "scheduled backup waits for the host"
                );
                sqlx::query!(
                    "UPDATE backup_schedules SET retry_at = $2 WHERE host_id = $1",
                    host.id,
                    now + RETRY_BUSY
                )
                .execute(&mut *tx)
                .await?;
            }
            Err(other) => return Err(other),
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Starts a scheduled backup job: the backup, then the retention, then
    /// (when asked) its verification, all in the job's output.
    async fn start_scheduled(
        &self,
        host: &Host,
        schedule: &BackupSchedule,
        cron: &CronSchedule,
        provenance: &Provenance,
    ) -> Result<i64> {
        let command = super::remote::dump(host);
        let backups = self.clone();
        let (retention, zone, verify) = (schedule.retention, cron.zone().clone(), schedule.verify_after);
        let plan = JobPlan {
            action: AuditAction::BackupRun,
            mutating: true,
            command_line: command.line(),
            details: vec![("trigger", BackupTrigger::Schedule.to_string())],
            work: Box::new(move |job| {
                Box::pin(async move {
                    let request = Request {
                        trigger: BackupTrigger::Schedule,
                        reason: None,
                        safety_for_job: None,
                        expect_database: None,
                    };
                    let (ended, backup) = backups.take_connected(&job, request).await?;
                    if let Some(backup) = backup {
                        backups.apply_retention(&job, retention, &zone).await;
                        if verify {
                            return backups.verify_in_job(&job, backup).await;
                        }
                    }
                    Ok(ended)
                })
            }),
        };
        self.jobs.start_as(Actor::System, provenance, host.clone(), plan).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_default_fires_at_three_in_the_morning_paris_time_summer_and_winter() {
        let schedule = CronSchedule::parse(CronSchedule::DEFAULT_CRON, CronSchedule::DEFAULT_ZONE).unwrap();
        // Winter: UTC+1.
        assert_eq!(
            schedule.next_after(datetime!(2026-12-02 15:00 UTC)).unwrap(),
            datetime!(2026-12-03 02:00 UTC)
        );
        // Summer: UTC+2.
        assert_eq!(
            schedule.next_after(datetime!(2026-07-01 12:00 UTC)).unwrap(),
            datetime!(2026-07-02 01:00 UTC)
        );
    }

    #[test]
    fn expressions_and_zones_that_do_not_read_are_refused_by_field() {
        let field = |result: Result<CronSchedule>| match result {
            Err(DomainError::Invalid(invalid)) => invalid.field,
            other => panic!("{other:?}"),
        };
        for bad in ["", "every night", "0 3 * *", "61 3 * * *", "0 0 3 * * *", "0 0 30 2 *"] {
            assert_eq!(field(CronSchedule::parse(bad, "Europe/Paris")), "cron", "{bad:?}");
        }
        assert_eq!(field(CronSchedule::parse("0 3 * * *", "Europe/Pariss")), "time_zone");
        assert!(CronSchedule::parse(" 30  2 * * 1-5 ", "UTC").is_ok());
    }

    #[test]
    fn slots_missed_are_counted_between_two_times() {
        let hourly = CronSchedule::parse("0 * * * *", "UTC").unwrap();
        assert_eq!(
            hourly.slots_between(datetime!(2026-12-01 00:00 UTC), datetime!(2026-12-01 05:30 UTC), 100),
            5
        );
        assert_eq!(
            hourly.slots_between(datetime!(2026-12-01 00:00 UTC), datetime!(2026-12-09 00:00 UTC), 10),
            10
        );
    }
}
