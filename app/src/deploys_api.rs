//! Server functions for the Déploiements area (manual §6.1): what each
//! host's app runs and which branches it could run (viewers and up). Each
//! checks the caller, calls the domain, converts.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::api::{require, utc, Role};
use crate::errors::AppError;

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

/// One host's app: what runs, what could, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostDeploysView {
    pub host_id: i64,
    pub host_name: String,
    pub deployed: Option<CommitRow>,
    /// The branch checked out; `None` when a commit is checked out alone.
    pub branch: Option<String>,
    pub branches: Vec<BranchRow>,
    pub error: Option<AppError>,
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
    fn of(host: &domain::hosts::Host, version: domain::error::Result<domain::deploys::AppVersion>) -> Self {
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
        }
    }
}

/// Every host's app: the commit deployed and the remote's branches, read
/// on each host over SSH (a host that cannot be read says why; the others
/// still show).
#[server(endpoint = "deploys/overview")]
pub async fn deploys_overview() -> Result<Vec<HostDeploysView>, AppError> {
    let caller = require(Role::Viewer).await?;
    let hosts = &caller.console.hosts;
    let mut views = Vec::new();
    for host in hosts.list().await? {
        let version = hosts.app_version(&host, &caller.operator, &caller.provenance).await;
        views.push(HostDeploysView::of(&host, version));
    }
    Ok(views)
}
