//! The web services the app needs (manual §3.3: the Google Maps and
//! PayPal APIs, and any other an admin adds), checked from each host over
//! SSH — where the app really runs, its DNS, firewall and proxy included —
//! and from the console: reachable (any HTTP answer) or not, the latency,
//! the newest failure and when. Each service's checks come every five
//! minutes, claimed by one console process whatever their number; an
//! operator can ask for them now.

use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::{ProbeFailure, ProbeUrl, SiteProbes};
use crate::accounts::{Operator, Role};
use crate::audit::{require_role, Actor, AuditAction, AuditEntry, Outcome, Provenance};
use crate::error::{DomainError, Result};
use crate::hosts::Host;
use crate::ssh::{RemoteArgument, RemoteCommand};

/// How often each service is checked.
pub const CHECKED_EVERY: time::Duration = time::Duration::minutes(5);
/// How long one check may take (on the host, `curl --max-time`).
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// A web service the app needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebService {
    pub id: i64,
    pub name: String,
    pub url: ProbeUrl,
    pub enabled: bool,
    pub created_by: String,
}

/// The newest check of a service from one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebServiceCheck {
    /// `None`: from the console.
    pub host_id: Option<i64>,
    pub at: OffsetDateTime,
    pub reachable: bool,
    pub status: Option<u16>,
    pub latency: Duration,
    pub failure: Option<ProbeFailure>,
    /// The newest failure and when (it stays after the service is back).
    pub last_failure: Option<(ProbeFailure, OffsetDateTime)>,
}

impl RemoteArgument for ProbeUrl {
    fn as_argument(&self) -> &str {
        self.as_str()
    }
}

fn checked_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 60 || name.chars().any(char::is_control) {
        return Err(DomainError::invalid("name", "error-web-service-name"));
    }
    Ok(name.to_owned())
}

fn failure_word(raw: Option<String>) -> Option<ProbeFailure> {
    raw.and_then(|word| match word.parse() {
        Ok(failure) => Some(failure),
        Err(error) => {
            tracing::error!(%error, "a stored web service failure is not a known word");
            None
        }
    })
}

impl SiteProbes {
    /// Every web service with its newest checks (the console's and each
    /// host's), by name.
    pub async fn web_services(&self) -> Result<Vec<(WebService, Vec<WebServiceCheck>)>> {
        let services = sqlx::query!("SELECT id, name, url, enabled, created_by FROM web_services ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        let checks = sqlx::query!(
            "SELECT service_id, host_id, at, reachable, status, latency_ms, failure, last_failure, last_failure_at
             FROM web_service_checks ORDER BY host_id NULLS FIRST"
        )
        .fetch_all(&self.pool)
        .await?;
        let mut listed = Vec::with_capacity(services.len());
        for service in services {
            let of_service = checks
                .iter()
                .filter(|c| c.service_id == service.id)
                .map(|c| WebServiceCheck {
                    host_id: c.host_id,
                    at: c.at,
                    reachable: c.reachable,
                    status: c.status.and_then(|s| u16::try_from(s).ok()),
                    latency: Duration::from_millis(u64::try_from(c.latency_ms).unwrap_or(0)),
                    failure: failure_word(c.failure.clone()),
                    last_failure: failure_word(c.last_failure.clone()).zip(c.last_failure_at),
                })
                .collect();
            listed.push((
                WebService {
                    id: service.id,
                    name: service.name,
                    url: ProbeUrl::parse(&service.url)?,
                    enabled: service.enabled,
                    created_by: service.created_by,
                },
                of_service,
            ));
        }
        Ok(listed)
    }

    /// Adds a web service to check (admins); checked at once. Audited.
    #[tracing::instrument(skip(self, by, provenance), fields(by = %by.username))]
    pub async fn add_web_service(&self, by: &Operator, provenance: &Provenance, name: &str, url: &str) -> Result<i64> {
        let action = AuditAction::WebServiceAdd;
        require_role(&self.pool, by, Role::Admin, action, name, provenance).await?;
        let name = checked_name(name)?;
        let url = ProbeUrl::parse(url.trim())?;
        let mut tx = self.pool.begin().await?;
        let id = sqlx::query_scalar!(
            "INSERT INTO web_services (name, url, created_by) VALUES ($1, $2, $3) RETURNING id",
            name,
            url.as_str(),
            by.username.as_str()
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| DomainError::on_constraint(e, "web_services_name_key", "name", "error-web-service-taken"))?;
        AuditEntry::new(by.actor(), action, &name, Outcome::Success)
            .detail("url", url.as_str())
            .from(provenance)
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Removes a web service and its checks (admins). Audited.
    #[tracing::instrument(skip(self, by, provenance), fields(by = %by.username))]
    pub async fn remove_web_service(&self, by: &Operator, provenance: &Provenance, id: i64) -> Result<()> {
        let name = self.web_service_name(id).await?;
        let action = AuditAction::WebServiceRemove;
        require_role(&self.pool, by, Role::Admin, action, &name, provenance).await?;
        let mut tx = self.pool.begin().await?;
        sqlx::query!("DELETE FROM web_services WHERE id = $1", id)
            .execute(&mut *tx)
            .await?;
        AuditEntry::new(by.actor(), action, &name, Outcome::Success)
            .from(provenance)
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Turns a web service's checks on (checked at once) or off (its
    /// checks forgotten, so it raises no alert). Admins; audited.
    #[tracing::instrument(skip(self, by, provenance), fields(by = %by.username))]
    pub async fn switch_web_service(
        &self,
        by: &Operator,
        provenance: &Provenance,
        id: i64,
        enabled: bool,
    ) -> Result<()> {
        let name = self.web_service_name(id).await?;
        let action = match enabled {
            true => AuditAction::WebServiceEnable,
            false => AuditAction::WebServiceDisable,
        };
        require_role(&self.pool, by, Role::Admin, action, &name, provenance).await?;
        let mut tx = self.pool.begin().await?;
        sqlx::query!(
            "UPDATE web_services SET enabled = $2, next_at = now() WHERE id = $1",
            id,
            enabled
        )
        .execute(&mut *tx)
        .await?;
        if !enabled {
            sqlx::query!("DELETE FROM web_service_checks WHERE service_id = $1", id)
                .execute(&mut *tx)
                .await?;
        }
        AuditEntry::new(by.actor(), action, &name, Outcome::Success)
            .from(provenance)
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn web_service_name(&self, id: i64) -> Result<String> {
        sqlx::query_scalar!("SELECT name FROM web_services WHERE id = $1", id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(DomainError::NotFound("web service"))
    }

    /// Checks every web service that is on, now (operators and up).
    pub async fn check_web_services_now(&self, by: &Operator) -> Result<()> {
        by.require(Role::Operator)?;
        sqlx::query!("UPDATE web_services SET next_at = now() WHERE enabled")
            .execute(&self.pool)
            .await?;
        self.run_due_web_services().await?;
        Ok(())
    }

    /// Checks the services due, from the console and from every host at
    /// once; returns when the next check is due (`None`: none is on).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn run_due_web_services(&self) -> Result<Option<OffsetDateTime>> {
        let due = sqlx::query!(
            "UPDATE web_services SET next_at = now() + $1 * interval '1 second'
             WHERE id IN (SELECT id FROM web_services WHERE enabled AND next_at <= now()
                          ORDER BY next_at FOR UPDATE SKIP LOCKED)
             RETURNING id, url",
            CHECKED_EVERY.as_seconds_f64()
        )
        .fetch_all(&self.pool)
        .await?;
        if !due.is_empty() {
            let hosts = self.hosts.list().await?;
            let mut checks = Vec::new();
            for service in &due {
                let url = ProbeUrl::parse(&service.url)?;
                checks.push(self.check_from_console(service.id, url.clone()));
                for host in &hosts {
                    checks.push(self.check_from_host(service.id, host, url.clone()));
                }
            }
            let results = futures::future::join_all(checks).await;
            for result in results {
                if let Err(error) = result {
                    tracing::error!(%error, "a web service check could not be recorded");
                }
            }
        }
        Ok(
            sqlx::query_scalar!("SELECT min(next_at) FROM web_services WHERE enabled")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// A check from the console (boxed, like a host's: one future type).
    fn check_from_console(&self, service_id: i64, url: ProbeUrl) -> futures::future::BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let at = OffsetDateTime::now_utc();
            let started = Instant::now();
            let answer = self.client.get(url.as_str()).timeout(CHECK_TIMEOUT).send().await;
            let latency = started.elapsed();
            let (status, failure) = match answer {
                Ok(response) => (Some(response.status().as_u16()), None),
                Err(error) => {
                    tracing::info!(error = ?error, url = url.as_str(), "a web service did not answer the console");
                    (None, Some(super::check::failure_of(&error)))
                }
            };
            self.record_check(service_id, None, at, status, latency, failure).await
        })
    }

    /// A check from a host, over SSH with `curl`.
    fn check_from_host<'a>(
        &'a self,
        service_id: i64,
        host: &'a Host,
        url: ProbeUrl,
    ) -> futures::future::BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let at = OffsetDateTime::now_utc();
            let started = Instant::now();
            let command = RemoteCommand::program("curl")
                .fixed("-sS")
                .fixed("-o")
                .fixed("/dev/null")
                .fixed("--max-time")
                .fixed("10")
                .fixed("-w")
                .fixed("%{http_code} %{time_total}")
                .arg(&url);
            let answered = async {
                let session = self.hosts.connect(host, &Actor::System, &Provenance::default()).await?;
                let answer = session.answer(&command).await;
                session.close().await;
                answer
            }
            .await;
            let (status, latency, failure) = match answered {
                Err(error) => {
                    tracing::info!(%error, host = host.name.as_str(), "a host could not be reached to check a web service");
                    (None, started.elapsed(), Some(ProbeFailure::HostUnreachable))
                }
                Ok((exit, lines)) => curl_outcome(exit, lines.first().map(String::as_str).unwrap_or_default(), started),
            };
            self.record_check(service_id, Some(host.id), at, status, latency, failure)
                .await
        })
    }

    async fn record_check(
        &self,
        service_id: i64,
        host_id: Option<i64>,
        at: OffsetDateTime,
        status: Option<u16>,
        latency: Duration,
        failure: Option<ProbeFailure>,
    ) -> Result<()> {
        let latency_ms = i32::try_from(latency.as_millis()).unwrap_or(i32::MAX);
        let failure = failure.map(|f| f.as_str());
        sqlx::query!(
            "INSERT INTO web_service_checks (service_id, host_id, at, reachable, status, latency_ms, failure,
                                             last_failure, last_failure_at)
             VALUES ($1, $2, $3::timestamptz, $4, $5, $6, $7::text, $7::text,
                     CASE WHEN $7::text IS NULL THEN NULL ELSE $3::timestamptz END)
             ON CONFLICT (service_id, coalesce(host_id, 0)) DO UPDATE SET
                 at = $3::timestamptz, reachable = $4, status = $5, latency_ms = $6, failure = $7::text,
                 last_failure = coalesce($7::text, web_service_checks.last_failure),
                 last_failure_at = CASE WHEN $7::text IS NULL THEN web_service_checks.last_failure_at ELSE $3::timestamptz END",
            service_id,
            host_id,
            at,
            failure.is_none(),
            status.map(i32::from),
            latency_ms,
            failure,
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// What `curl -w '%{http_code} %{time_total}'` said: any HTTP answer is
/// reachable; its exit status says why not otherwise.
fn curl_outcome(exit: Option<u32>, line: &str, started: Instant) -> (Option<u16>, Duration, Option<ProbeFailure>) {
    let mut words = line.split_whitespace();
    let status = words
        .next()
        .and_then(|code| code.parse::<u16>().ok())
        .filter(|code| *code > 0);
    let latency = words
        .next()
        .and_then(|seconds| seconds.parse::<f64>().ok())
        .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
        .map_or_else(|| started.elapsed(), Duration::from_secs_f64);
    let failure = match (exit, status) {
        (Some(0), Some(_)) => None,
        (Some(6), _) => Some(ProbeFailure::NameNotFound),
        (Some(7), _) => Some(ProbeFailure::NoConnection),
        (Some(28), _) => Some(ProbeFailure::Timeout),
        (Some(35 | 51 | 53 | 54 | 58 | 59 | 60 | 64 | 66 | 77 | 80 | 82 | 83 | 90 | 91), _) => {
            Some(ProbeFailure::Certificate)
        }
        (Some(127), _) => Some(ProbeFailure::HostCannotCheck),
        _ => Some(ProbeFailure::NoAnswer),
    };
    (status.filter(|_| failure.is_none()), latency, failure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curl_says_reachable_with_any_status_and_why_not_by_its_exit_status() {
        let now = Instant::now();
        assert_eq!(
            curl_outcome(Some(0), "401 0.250", now),
            (Some(401), Duration::from_millis(250), None)
        );
        assert_eq!(
            curl_outcome(Some(6), "000 0.001", now).2,
            Some(ProbeFailure::NameNotFound)
        );
        assert_eq!(
            curl_outcome(Some(7), "000 0.001", now).2,
            Some(ProbeFailure::NoConnection)
        );
        assert_eq!(curl_outcome(Some(28), "000 10.0", now).2, Some(ProbeFailure::Timeout));
        assert_eq!(
            curl_outcome(Some(60), "000 0.1", now).2,
            Some(ProbeFailure::Certificate)
        );
        assert_eq!(curl_outcome(Some(127), "", now).2, Some(ProbeFailure::HostCannotCheck));
        assert_eq!(curl_outcome(None, "", now).2, Some(ProbeFailure::NoAnswer));
    }
}
