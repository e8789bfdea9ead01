//! How a host's site is probed: the URL (the host's site URL unless
//! another is set), the status and the text expected, the time limit and
//! the interval. Every host has them, with defaults until an admin changes
//! them (audited).

use std::time::Duration;

use super::SiteProbes;
use crate::accounts::{Operator, Role};
use crate::audit::{require_role, AuditAction, AuditEntry, Outcome, Provenance};
use crate::error::{DomainError, Result};
use crate::hosts::Host;

/// An `http` or `https` URL to probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeUrl(String);

impl ProbeUrl {
    pub fn parse(raw: &str) -> Result<Self> {
        crate::hosts::names::http_url(raw)
            .map(Self)
            .ok_or_else(|| DomainError::invalid("url", "error-probe-url"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How a host's site is probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSettings {
    /// `None`: the host's site URL.
    pub url: Option<ProbeUrl>,
    pub expected_status: u16,
    /// Text the body must hold (`None`: any body).
    pub expected_text: Option<String>,
    pub timeout: Duration,
    pub interval: Duration,
    pub enabled: bool,
    /// Who changed them last, and when (`None`: the defaults).
    pub changed: Option<(String, time::OffsetDateTime)>,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        Self {
            url: None,
            expected_status: 200,
            expected_text: None,
            timeout: Duration::from_secs(5),
            interval: Duration::from_secs(60),
            enabled: true,
            changed: None,
        }
    }
}

/// The bounds the form and the database agree on.
const TIMEOUT_MS: std::ops::RangeInclusive<u128> = 100..=60_000;
const INTERVAL_S: std::ops::RangeInclusive<u64> = 10..=86_400;
const TEXT_CHARS: usize = 200;

impl ProbeSettings {
    /// The URL probed on `host`.
    pub fn url_on<'a>(&'a self, host: &'a Host) -> &'a str {
        self.url.as_ref().map_or(host.site_url.as_str(), ProbeUrl::as_str)
    }

    fn checked(self) -> Result<Self> {
        if !(100..=599).contains(&self.expected_status) {
            return Err(DomainError::invalid("expected_status", "error-probe-status"));
        }
        if !TIMEOUT_MS.contains(&self.timeout.as_millis()) {
            return Err(DomainError::invalid("timeout_ms", "error-probe-timeout"));
        }
        if !INTERVAL_S.contains(&self.interval.as_secs()) || self.interval.subsec_nanos() != 0 {
            return Err(DomainError::invalid("interval_s", "error-probe-interval"));
        }
        if self.timeout >= self.interval {
            return Err(DomainError::invalid("timeout_ms", "error-probe-timeout-interval"));
        }
        let expected_text = match self.expected_text.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) if text.chars().count() > TEXT_CHARS || text.chars().any(char::is_control) => {
                return Err(DomainError::invalid("expected_text", "error-probe-text"));
            }
            Some(text) => Some(text.to_owned()),
        };
        Ok(Self { expected_text, ..self })
    }
}

impl SiteProbes {
    /// How a host's site is probed (the defaults until someone changes it).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn settings(&self, host_id: i64) -> Result<ProbeSettings> {
        let row = sqlx::query!(
            "SELECT url, expected_status, expected_text, timeout_ms, interval_s, enabled, changed_by, changed_at
             FROM site_probes WHERE host_id = $1",
            host_id
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(ProbeSettings::default());
        };
        Ok(ProbeSettings {
            url: row.url.as_deref().map(ProbeUrl::parse).transpose()?,
            expected_status: u16::try_from(row.expected_status).unwrap_or(200),
            expected_text: row.expected_text,
            timeout: Duration::from_millis(u64::try_from(row.timeout_ms).unwrap_or(5000)),
            interval: Duration::from_secs(u64::try_from(row.interval_s).unwrap_or(60)),
            enabled: row.enabled,
            changed: row.changed_by.zip(row.changed_at),
        })
    }

    /// Changes how a host's site is probed (admins); the next probe is
    /// due at once. Audited with what changed.
    #[tracing::instrument(skip(self, by, provenance, settings), fields(by = %by.username))]
    pub async fn save_settings(
        &self,
        by: &Operator,
        provenance: &Provenance,
        host_id: i64,
        settings: ProbeSettings,
    ) -> Result<()> {
        let host = self.hosts.get(host_id).await?;
        let action = AuditAction::ProbeSettings;
        require_role(&self.pool, by, Role::Admin, action, host.name.as_str(), provenance).await?;
        let s = settings.checked()?;
        let mut tx = self.pool.begin().await?;
        sqlx::query!(
            "INSERT INTO site_probes (host_id, url, expected_status, expected_text, timeout_ms, interval_s, enabled,
                                      next_at, changed_by, changed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, now(), $8, now())
             ON CONFLICT (host_id) DO UPDATE SET url = $2, expected_status = $3, expected_text = $4, timeout_ms = $5,
                 interval_s = $6, enabled = $7, next_at = now(), changed_by = $8, changed_at = now()",
            host_id,
            s.url.as_ref().map(ProbeUrl::as_str),
            i32::from(s.expected_status),
            s.expected_text.as_deref(),
            s.timeout.as_millis() as i32,
            s.interval.as_secs() as i32,
            s.enabled,
            by.username.as_str(),
        )
        .execute(&mut *tx)
        .await?;
        AuditEntry::new(
            by.actor(),
            AuditAction::ProbeSettings,
            host.name.as_str(),
            Outcome::Success,
        )
        .detail("url", s.url_on(&host))
        .detail("expected_status", i64::from(s.expected_status))
        .detail("expected_text", s.expected_text.as_deref().unwrap_or(""))
        .detail("timeout_ms", s.timeout.as_millis() as i64)
        .detail("interval_s", s.interval.as_secs() as i64)
        .detail("enabled", s.enabled)
        .from(provenance)
        .record(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
