//! How a host's app is deployed: the Python that runs `manage.py`, which
//! follow-up steps run, the health gate (URL, expected status, time limit),
//! when the database is backed up first, and whether a failed deploy is
//! rolled back at once. A host nobody configured uses Django's defaults.

use time::OffsetDateTime;

use super::Deploys;
use crate::accounts::{Operator, Role};
use crate::audit::{require_role, AuditAction, AuditEntry, Outcome, Provenance};
use crate::error::{DomainError, Result};
use crate::hosts::{Host, RemotePath};
use vocabulary::deploys::BackupBefore;

/// The Python used when nobody chose one (Debian's).
pub const DEFAULT_PYTHON: &str = "/usr/bin/python3";

/// A host's deploy settings.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploySettings {
    /// Runs `manage.py` and `pip` (a virtualenv's Python, say).
    pub python: RemotePath,
    /// `pip install -r requirements.txt`, when the file changed.
    pub install_requirements: bool,
    pub migrate: bool,
    pub collect_static: bool,
    /// Restart Gunicorn (the host's WSGI service).
    pub restart_wsgi: bool,
    /// What the health gate asks; `None`: the host's site URL.
    pub health_url: Option<HealthUrl>,
    pub health_status: u16,
    pub health_seconds: u32,
    pub backup_before: BackupBefore,
    /// A failed deploy returns to the commit it started from at once
    /// (otherwise the rollback is offered).
    pub rollback_on_failure: bool,
    /// Who last changed them, and when (`None`: the defaults).
    pub changed: Option<(OffsetDateTime, String)>,
}

impl Default for DeploySettings {
    fn default() -> Self {
        Self {
            python: RemotePath::parse(DEFAULT_PYTHON, "python").expect("a valid path"),
            install_requirements: true,
            migrate: true,
            collect_static: true,
            restart_wsgi: true,
            health_url: None,
            health_status: 200,
            health_seconds: 30,
            backup_before: BackupBefore::WhenMigrationsPending,
            rollback_on_failure: false,
            changed: None,
        }
    }
}

impl DeploySettings {
    /// The URL the health gate asks on `host`.
    pub fn health_url_on<'a>(&'a self, host: &'a Host) -> &'a str {
        self.health_url
            .as_ref()
            .map_or(host.site_url.as_str(), HealthUrl::as_str)
    }

    /// Checks what a form sent: a status between 100 and 599, a time limit
    /// between 1 and 600 seconds.
    pub fn checked(self) -> Result<Self> {
        if !(100..=599).contains(&self.health_status) {
            return Err(DomainError::invalid("health_status", "error-deploy-health-status"));
        }
        if !(1..=600).contains(&self.health_seconds) {
            return Err(DomainError::invalid("health_seconds", "error-deploy-health-seconds"));
        }
        Ok(self)
    }
}

/// An `http` or `https` URL the health gate asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthUrl(String);

impl HealthUrl {
    pub fn parse(raw: &str) -> Result<Self> {
        crate::hosts::names::http_url(raw)
            .map(Self)
            .ok_or_else(|| DomainError::invalid("health_url", "error-deploy-health-url"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deploys {
    /// A host's deploy settings (the defaults until someone changes them).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn settings(&self, host_id: i64) -> Result<DeploySettings> {
        let row = sqlx::query!(
            "SELECT python, install_requirements, migrate, collect_static, restart_wsgi, health_url,
                    health_status, health_seconds, backup_before, rollback_on_failure, changed_at, changed_by
             FROM deploy_settings WHERE host_id = $1",
            host_id
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(DeploySettings::default());
        };
        let stored =
            |e: &dyn std::fmt::Display| DomainError::Internal(format!("deploy settings of host {host_id}: {e}"));
        Ok(DeploySettings {
            python: RemotePath::parse(&row.python, "python").map_err(|e| stored(&e))?,
            install_requirements: row.install_requirements,
            migrate: row.migrate,
            collect_static: row.collect_static,
            restart_wsgi: row.restart_wsgi,
            health_url: row
                .health_url
                .as_deref()
                .map(HealthUrl::parse)
                .transpose()
                .map_err(|e| stored(&e))?,
            health_status: row.health_status as u16,
            health_seconds: row.health_seconds as u32,
            backup_before: row.backup_before.parse().map_err(|e| stored(&e))?,
            rollback_on_failure: row.rollback_on_failure,
            changed: Some((row.changed_at, row.changed_by)),
        })
    }

    /// Changes a host's deploy settings (admins), audited with what they
    /// now say.
    #[tracing::instrument(skip_all, fields(operator = %by.username.as_str(), host_id))]
    pub async fn save_settings(
        &self,
        by: &Operator,
        provenance: &Provenance,
        host_id: i64,
        settings: DeploySettings,
    ) -> Result<()> {
        let host = self.hosts.get(host_id).await?;
        let action = AuditAction::DeploySettings;
        require_role(&self.pool, by, Role::Admin, action, host.name.as_str(), provenance).await?;
        let s = settings.checked()?;
        let mut tx = self.pool.begin().await?;
        sqlx::query!(
            "INSERT INTO deploy_settings (host_id, python, install_requirements, migrate, collect_static, restart_wsgi,
                                          health_url, health_status, health_seconds, backup_before, rollback_on_failure, changed_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (host_id) DO UPDATE SET python = $2, install_requirements = $3, migrate = $4,
                 collect_static = $5, restart_wsgi = $6, health_url = $7, health_status = $8, health_seconds = $9,
                 backup_before = $10, rollback_on_failure = $11, changed_by = $12, changed_at = now()",
            host_id,
            s.python.as_str(),
            s.install_requirements,
            s.migrate,
            s.collect_static,
            s.restart_wsgi,
            s.health_url.as_ref().map(HealthUrl::as_str),
            s.health_status as i32,
            s.health_seconds as i32,
            s.backup_before.as_str(),
            s.rollback_on_failure,
            by.username.as_str(),
        )
        .execute(&mut *tx)
        .await?;
        AuditEntry::new(
            by.actor(),
            AuditAction::DeploySettings,
            host.name.as_str(),
            Outcome::Success,
        )
        .detail("python", s.python.as_str())
        .detail("install_requirements", s.install_requirements)
        .detail("migrate", s.migrate)
        .detail("collect_static", s.collect_static)
        .detail("restart_wsgi", s.restart_wsgi)
        .detail("health_url", s.health_url_on(&host))
        .detail("health_status", s.health_status as i64)
        .detail("health_seconds", s.health_seconds as i64)
        .detail("backup_before", s.backup_before.as_str())
        .detail("rollback_on_failure", s.rollback_on_failure)
        .from(provenance)
        .record(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
