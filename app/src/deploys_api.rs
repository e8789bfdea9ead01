//! Server functions for the Déploiements area (manual §6.1, §7.2): what
//! each host's app runs, which branches it could run and its deploy
//! history (viewers and up); deploying a branch and returning to an
//! earlier deploy (operators); each host's deploy settings (admins). Each
//! checks the caller, calls the domain, converts.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::api::{opening_job_page, require, utc, Role};
use crate::errors::AppError;
use vocabulary::deploys::{BackupBefore, DeployKind};
use vocabulary::jobs::JobStatus;

/// A commit as the pages show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitRow {
    pub id: String,
    pub short: String,
    /// UTC, `YYYY-MM-DD HH:MM:SS`.
    pub date: String,
    pub subject: String,
}

/// A branch of the app's remote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchRow {
    pub name: String,
    pub commit: CommitRow,
    /// Its newest commit is the one checked out on the host.
    pub deployed: bool,
}

/// A commit as a deploy record keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedCommitRow {
    pub id: String,
    pub short: String,
    pub subject: String,
}

/// One deploy or rollback of the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployRow {
    pub id: i64,
    pub job_id: i64,
    pub kind: DeployKind,
    pub branch: Option<String>,
    pub from: Option<RecordedCommitRow>,
    pub to: Option<RecordedCommitRow>,
    pub actor: String,
    /// UTC, `YYYY-MM-DD HH:MM:SS`.
    pub at: String,
    pub status: JobStatus,
    /// The commit a rollback from this record returns to (none while it
    /// runs).
    pub rollback_to: Option<RecordedCommitRow>,
}

/// A host's deploy settings as the form shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploySettingsView {
    pub python: String,
    pub install_requirements: bool,
    pub migrate: bool,
    pub collect_static: bool,
    pub restart_wsgi: bool,
    /// Empty: the host's site URL.
    pub health_url: String,
    /// The URL the gate asks now.
    pub health_url_used: String,
    pub health_status: u16,
    pub health_seconds: u32,
    pub backup_before: BackupBefore,
    pub rollback_on_failure: bool,
    /// Who last changed them and when; `None`: the defaults.
    pub changed: Option<(String, String)>,
}

#[cfg(feature = "ssr")]
impl From<domain::deploys::RecordedCommit> for RecordedCommitRow {
    fn from(c: domain::deploys::RecordedCommit) -> Self {
        RecordedCommitRow {
            short: c.short().to_owned(),
            id: c.id,
            subject: c.subject,
        }
    }
}

#[cfg(feature = "ssr")]
impl From<domain::deploys::DeployRecord> for DeployRow {
    fn from(d: domain::deploys::DeployRecord) -> Self {
        DeployRow {
            rollback_to: d.rollback_target().cloned().map(Into::into),
            id: d.id,
            job_id: d.job_id,
            kind: d.kind,
            branch: d.branch,
            from: d.from.map(Into::into),
            to: d.to.map(Into::into),
            actor: d.actor,
            at: utc(d.at),
            status: d.status,
        }
    }
}

#[cfg(feature = "ssr")]
impl DeploySettingsView {
    fn of(host: &domain::hosts::Host, s: &domain::deploys::DeploySettings) -> Self {
        DeploySettingsView {
            python: s.python.as_str().to_owned(),
            install_requirements: s.install_requirements,
            migrate: s.migrate,
            collect_static: s.collect_static,
            restart_wsgi: s.restart_wsgi,
            health_url: s.health_url.as_ref().map(|u| u.as_str().to_owned()).unwrap_or_default(),
            health_url_used: s.health_url_on(host).to_owned(),
            health_status: s.health_status,
            health_seconds: s.health_seconds,
            backup_before: s.backup_before,
            rollback_on_failure: s.rollback_on_failure,
            changed: s.changed.as_ref().map(|(at, by)| (utc(*at), by.clone())),
        }
    }
}

/// One host's app: what runs, what could, or why it could not be read;
/// its deploy history and settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostDeploysView {
    pub host_id: i64,
    pub host_name: String,
    pub deployed: Option<CommitRow>,
    /// The branch checked out; `None` when a commit is checked out alone.
    pub branch: Option<String>,
    pub branches: Vec<BranchRow>,
    pub error: Option<AppError>,
    /// Newest first.
    pub history: Vec<DeployRow>,
    pub settings: DeploySettingsView,
}

#[cfg(feature = "ssr")]
impl From<domain::deploys::Commit> for CommitRow {
    fn from(c: domain::deploys::Commit) -> Self {
        CommitRow {
            short: c.short().to_owned(),
            date: utc(c.date),
            id: c.id,
            subject: c.subject,
        }
    }
}

#[cfg(feature = "ssr")]
impl HostDeploysView {
    fn of(
        host: &domain::hosts::Host,
        version: domain::error::Result<domain::deploys::AppVersion>,
        history: Vec<domain::deploys::DeployRecord>,
        settings: &domain::deploys::DeploySettings,
    ) -> Self {
        let (deployed, branch, branches, error) = match version {
            Ok(v) => {
                let branches = v
                    .branches
                    .into_iter()
                    .map(|b| BranchRow {
                        deployed: b.commit.id == v.deployed.id,
                        name: b.name.as_str().to_owned(),
                        commit: b.commit.into(),
                    })
                    .collect();
                let branch = v.branch.map(|b| b.as_str().to_owned());
                (Some(v.deployed.into()), branch, branches, None)
            }
            Err(error) => (None, None, Vec::new(), Some(AppError::from(error))),
        };
        HostDeploysView {
            host_id: host.id,
            host_name: host.name.as_str().to_owned(),
            deployed,
            branch,
            branches,
            error,
            history: history.into_iter().map(Into::into).collect(),
            settings: DeploySettingsView::of(host, settings),
        }
    }
}

/// How many deploys of each host's history the page shows.
pub const HISTORY_SHOWN: i64 = 20;

/// Every host's app: the commit deployed and the remote's branches, read
/// on each host over SSH (a host that cannot be read says why; the others
/// still show), its deploy history and settings.
#[server(endpoint = "deploys/overview")]
pub async fn deploys_overview() -> Result<Vec<HostDeploysView>, AppError> {
    let caller = require(Role::Viewer).await?;
    let (hosts, deploys) = (&caller.console.hosts, &caller.console.deploys);
    let mut views = Vec::new();
    for host in hosts.list().await? {
        let version = hosts.app_version(&host, &caller.operator, &caller.provenance).await;
        let history = deploys.history(host.id, HISTORY_SHOWN).await?;
        let settings = deploys.settings(host.id).await?;
        views.push(HostDeploysView::of(&host, version, history, &settings));
    }
    Ok(views)
}

/// Deploys `branch` on a host (operators): the job's number.
/// Each host's newest deploy or rollback (the home page): (host id, host
/// name, the record; none: never deployed from the console).
#[cfg(feature = "ssr")]
pub(crate) async fn newest_deploys(
    console: &domain::Console,
) -> domain::error::Result<Vec<(i64, String, Option<DeployRow>)>> {
    let newest = console.deploys.newest_of_every_host().await?;
    Ok(newest
        .iter()
        .map(|(id, name, record)| (*id, name.clone(), record.clone().map(DeployRow::from)))
        .collect())
}

#[server(endpoint = "deploys/deploy")]
pub async fn deploy_branch(host_id: i64, branch: String) -> Result<i64, AppError> {
    let caller = require(Role::Operator).await?;
    let (by, from) = (&caller.operator, &caller.provenance);
    opening_job_page(caller.console.deploys.deploy(by, from, host_id, &branch).await?)
}

/// Returns a host's app to a deploy's version (operators): the job's number.
#[server(endpoint = "deploys/rollback")]
pub async fn roll_back(deploy_id: i64) -> Result<i64, AppError> {
    let caller = require(Role::Operator).await?;
    let (by, from) = (&caller.operator, &caller.provenance);
    opening_job_page(caller.console.deploys.roll_back(by, from, deploy_id).await?)
}

/// The deploys a job made (its page offers the rollback of a failed one).
#[server(endpoint = "deploys/of-job")]
pub async fn deploys_of_job(job_id: i64) -> Result<Vec<DeployRow>, AppError> {
    let caller = require(Role::Viewer).await?;
    let records = caller.console.deploys.of_job(job_id).await?;
    Ok(records.into_iter().map(Into::into).collect())
}

/// The settings' form as it arrives (fields `settings[python]` …):
/// checkboxes arrive only when ticked.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeploySettingsForm {
    pub python: String,
    pub install_requirements: Option<String>,
    pub migrate: Option<String>,
    pub collect_static: Option<String>,
    pub restart_wsgi: Option<String>,
    /// Empty: the host's site URL.
    pub health_url: String,
    pub health_status: u16,
    pub health_seconds: u32,
    pub backup_before: BackupBefore,
    pub rollback_on_failure: Option<String>,
}

#[cfg(feature = "ssr")]
impl TryFrom<DeploySettingsForm> for domain::deploys::DeploySettings {
    type Error = domain::DomainError;

    fn try_from(form: DeploySettingsForm) -> Result<Self, Self::Error> {
        let health_url = match form.health_url.trim() {
            "" => None,
            url => Some(domain::deploys::HealthUrl::parse(url)?),
        };
        Ok(Self {
            python: domain::hosts::RemotePath::parse(&form.python, "python")?,
            install_requirements: form.install_requirements.is_some(),
            migrate: form.migrate.is_some(),
            collect_static: form.collect_static.is_some(),
            restart_wsgi: form.restart_wsgi.is_some(),
            health_url,
            health_status: form.health_status,
            health_seconds: form.health_seconds,
            backup_before: form.backup_before,
            rollback_on_failure: form.rollback_on_failure.is_some(),
            changed: None,
        })
    }
}

/// Changes a host's deploy settings (admins).
#[server(endpoint = "deploys/settings")]
pub async fn save_deploy_settings(host_id: i64, settings: DeploySettingsForm) -> Result<(), AppError> {
    let caller = require(Role::Admin).await?;
    let settings = settings.try_into()?;
    let (by, from) = (&caller.operator, &caller.provenance);
    Ok(caller
        .console
        .deploys
        .save_settings(by, from, host_id, settings)
        .await?)
}
