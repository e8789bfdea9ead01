//! Linode backups (manual §7.1): whether the (billed) Backup service is on
//! and turning it on (admins), the automatic backups and the one snapshot
//! slot, "Take snapshot" with a label (operators; the new snapshot replaces
//! the current one once it succeeds), and "Restore" of a backup onto the
//! instance (operators, the instance's label typed to confirm): the
//! instance is shut down first, as the API requires, the backup restored
//! over its disks, then booted again. Each is a job on the host (its lock,
//! its audit) that follows the API's events. The list is read from the API
//! at most every [`BACKUPS_FRESH`] whoever looks, and again after each of
//! these jobs.

use std::time::Duration;

use super::{Connection, EventAction, InstanceStatus, Linode, LinodeBackups, LinodeError};
use crate::accounts::{Operator, Role};
use crate::audit::{AuditAction, Provenance};
use crate::error::{DomainError, Result};
use crate::jobs::{JobContext, JobPlan, WorkOutcome};
use crate::ssh::Ended;

/// How long a list of backups read from the API is shown without asking again.
pub const BACKUPS_FRESH: Duration = Duration::from_secs(30);

/// The longest snapshot label the API takes.
pub const MAX_SNAPSHOT_LABEL: usize = 255;

/// An instance's backups as the API last listed them, or why it did not.
pub type BackupsReading = std::result::Result<LinodeBackups, LinodeError>;

impl Linode {
    /// The host's Linode backups (`None`: no instance linked to the host).
    pub async fn backups_of(&self, host_id: i64) -> Result<Option<BackupsReading>> {
        let Some(linode) = self.of_host_row(host_id).await? else {
            return Ok(None);
        };
        let list = self
            .backup_lists
            .get(linode, || {
                self.read(
                    linode,
                    "backups",
                    |c| async move { c.api.backups(&c.token, linode).await },
                )
            })
            .await?;
        Ok(Some(list))
    }

    /// Turns the Backup service on for the host's Linode (admins: it is
    /// billed). A job following the `backups_enable` event.
    #[tracing::instrument(skip_all, fields(operator = %by.username.as_str(), request_id = provenance.request_id.as_deref(), host_id))]
    pub async fn enable_backups(&self, by: &Operator, provenance: &Provenance, host_id: i64) -> Result<i64> {
        by.require(Role::Admin)?;
        let (host, linode) = self.linked_host(host_id).await?;
        let this = self.clone();
        let plan = JobPlan {
            action: AuditAction::LinodeBackupsEnable,
            mutating: true,
            command_line: format!("POST /v4/linode/instances/{linode}/backups/enable"),
            details: vec![("linode", linode.to_string())],
            work: Box::new(move |job| {
                Box::pin(async move {
                    let connection = this.job_connection(&job).await?;
                    let ask = connection.api.enable_backups(&connection.token, linode);
                    let followed = this
                        .ask_and_follow(&job, &connection, linode, EventAction::BackupsEnable, ask)
                        .await;
                    this.backup_lists.forget(&linode);
                    Ok(if followed?.is_some() {
                        Ended::Exited(Some(0))
                    } else {
                        Ended::Cancelled
                    })
                })
            }),
        };
        self.jobs.start_plan(by, provenance, host, plan).await
    }

    /// Takes a snapshot of the host's Linode labelled `label` (operators).
    /// The single snapshot slot: once it succeeds, it replaces the current
    /// snapshot.
    #[tracing::instrument(skip_all, fields(operator = %by.username.as_str(), request_id = provenance.request_id.as_deref(), host_id))]
    pub async fn take_snapshot(
        &self,
        by: &Operator,
        provenance: &Provenance,
        host_id: i64,
        label: &str,
    ) -> Result<i64> {
        let label = label.trim().to_owned();
        if label.is_empty() || label.chars().count() > MAX_SNAPSHOT_LABEL || label.chars().any(char::is_control) {
            return Err(DomainError::invalid("label", "error-linode-snapshot-label"));
        }
        let (host, linode) = self.linked_host(host_id).await?;
        let this = self.clone();
        let plan = JobPlan {
            action: AuditAction::LinodeSnapshot,
            mutating: true,
            command_line: format!("POST /v4/linode/instances/{linode}/backups"),
            details: vec![("linode", linode.to_string()), ("label", label.clone())],
            work: Box::new(move |job| Box::pin(async move { this.snapshot_work(job, linode, label).await })),
        };
        self.jobs.start_plan(by, provenance, host, plan).await
    }

    async fn snapshot_work(self, job: JobContext, linode: i64, label: String) -> WorkOutcome {
        let connection = self.job_connection(&job).await?;
        let api = &connection.api;
        let ask = async {
            let taken = api.take_snapshot(&connection.token, linode, &label).await?;
            job.say(format!("snapshot {} \"{label}\": {}", taken.id, taken.status))
                .await;
            Ok(())
        };
        let followed = self
            .ask_and_follow(&job, &connection, linode, EventAction::LinodeSnapshot, ask)
            .await;
        self.backup_lists.forget(&linode);
        Ok(if followed?.is_some() {
            Ended::Exited(Some(0))
        } else {
            Ended::Cancelled
        })
    }

    /// Restores backup `backup` onto the host's Linode (operators), once the
    /// confirmation typed is the instance's label: shut down (if it runs),
    /// restored over its disks and configs, booted again.
    #[tracing::instrument(skip_all, fields(operator = %by.username.as_str(), request_id = provenance.request_id.as_deref(), host_id, backup))]
    pub async fn restore_backup(
        &self,
        by: &Operator,
        provenance: &Provenance,
        host_id: i64,
        backup: i64,
        typed_label: &str,
    ) -> Result<i64> {
        by.require(Role::Operator)?;
        let (host, linode) = self.linked_host(host_id).await?;
        let (connection, _) = self.connection().await?;
        let instance = connection.api.instance(&connection.token, linode).await?;
        if typed_label.trim() != instance.label {
            return Err(DomainError::invalid(
                "confirmation",
                "error-linode-restore-confirmation",
            ));
        }
        let list = connection.api.backups(&connection.token, linode).await?;
        let restorable = list
            .automatic
            .iter()
            .chain(list.snapshot.current.iter())
            .any(|b| b.id == backup && b.status == "successful");
        if !restorable {
            return Err(DomainError::invalid("backup", "error-linode-backup-not-restorable"));
        }
        let this = self.clone();
        let plan = JobPlan {
            action: AuditAction::LinodeRestore,
            mutating: true,
            command_line: format!("POST /v4/linode/instances/{linode}/backups/{backup}/restore"),
            details: vec![("linode", linode.to_string()), ("backup", backup.to_string())],
            work: Box::new(move |job| Box::pin(async move { this.restore_work(job, linode, backup).await })),
        };
        self.jobs.start_plan(by, provenance, host, plan).await
    }

    async fn restore_work(self, job: JobContext, linode: i64, backup: i64) -> WorkOutcome {
        let connection = self.job_connection(&job).await?;
        let Connection { api, token } = &connection;
        let instance = api
            .instance(token, linode)
            .await
            .map_err(|e| super::power::of_linode(&e))?;
        if instance.status != InstanceStatus::Offline {
            job.say("the API restores onto an offline Linode only: shutting it down first".into())
                .await;
            let shut = api.shutdown(token, linode);
            if self
                .ask_and_follow(&job, &connection, linode, EventAction::LinodeShutdown, shut)
                .await?
                .is_none()
            {
                return Ok(Ended::Cancelled);
            }
        }
        let restore = api.restore_backup(token, linode, backup);
        if self
            .ask_and_follow(&job, &connection, linode, EventAction::BackupsRestore, restore)
            .await?
            .is_none()
        {
            return Ok(Ended::Cancelled);
        }
        job.say("restored: booting the Linode again".into()).await;
        let boot = api.boot(token, linode);
        if self
            .ask_and_follow(&job, &connection, linode, EventAction::LinodeBoot, boot)
            .await?
            .is_none()
        {
            return Ok(Ended::Cancelled);
        }
        self.read_final_state(&job, &connection, linode).await;
        self.backup_lists.forget(&linode);
        Ok(Ended::Exited(Some(0)))
    }

    /// The host and its Linode's id; refused when no instance is linked.
    async fn linked_host(&self, host_id: i64) -> Result<(crate::hosts::Host, i64)> {
        let host = self.hosts.get(host_id).await?;
        let linode = self
            .of_host_row(host_id)
            .await?
            .ok_or(DomainError::invalid("linode", "error-linode-not-linked"))?;
        Ok((host, linode))
    }
}
