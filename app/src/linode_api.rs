//! Server functions for Linode: the host's instance and its live state
//! (viewers and up), the API token and the instance picked for a host
//! (admins), power (operators). Each checks the caller, calls the domain,
//! converts. The token goes in and never comes back out.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::api::{opening_job_page, require, utc, Role};
use crate::charts::LineChart;
use crate::errors::AppError;
use crate::secret_text::SecretText;

/// An instance of the account, as the pages show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRow {
    pub id: i64,
    pub label: String,
    pub region: String,
    pub plan: String,
    pub ipv4: Vec<String>,
    /// The API's word for its state (`running`, `shutting_down`, …).
    pub state: String,
    /// Whether the (billed) Backup service is on.
    pub backups_enabled: bool,
}

/// A Linode backup, as the host page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinodeBackupRow {
    pub id: i64,
    /// `auto` or `snapshot`.
    pub kind: String,
    /// The API's word (`pending`, `running`, `successful`, `failed`, …).
    pub status: String,
    pub label: String,
    pub created: String,
    pub finished: String,
    /// Its disks together, in MB.
    pub size_mb: i64,
}

/// The host's Linode backups: the automatic ones, the snapshot slot (and
/// the snapshot under way), or why they could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinodeBackupsView {
    pub automatic: Vec<LinodeBackupRow>,
    pub current: Option<LinodeBackupRow>,
    pub in_progress: Option<LinodeBackupRow>,
    pub error: Option<AppError>,
}

/// The host's Linode graphs of the last 24 h (CPU, network, disk I/O),
/// drawn by the server, or why they could not be read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinodeGraphsView {
    pub charts: Vec<LineChart>,
    pub error: Option<AppError>,
}

/// The stored token, as the page may show it: who set it, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRow {
    pub changed: String,
    pub changed_by: String,
    pub scopes: String,
}

/// A host's Linode: the instance picked, and its state as last read (or
/// why it could not be read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostLinodeRow {
    pub host_id: i64,
    pub linode_id: i64,
    pub label: String,
    pub linked: String,
    pub linked_by: String,
    pub instance: Option<InstanceRow>,
    pub error: Option<AppError>,
    /// Talking to the console's local double (the demo), not the API.
    pub simulated: bool,
}

/// The host page's Linode section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinodeSectionView {
    /// No token stored: the console talks to its local double ("Linode simulé").
    pub simulated: bool,
    /// Whether the console can call an API at all (a token, or the double).
    pub usable: bool,
    pub token: Option<TokenRow>,
    pub linode: Option<HostLinodeRow>,
    /// Its Linode backups, when an instance is linked and its Backup
    /// service is on.
    pub backups: Option<LinodeBackupsView>,
    /// Its graphs, when an instance is linked.
    pub graphs: Option<LinodeGraphsView>,
}

#[cfg(feature = "ssr")]
impl From<domain::linode::Instance> for InstanceRow {
    fn from(i: domain::linode::Instance) -> Self {
        InstanceRow {
            id: i.id,
            state: i.status.word().to_owned(),
            backups_enabled: i.backups.enabled,
            label: i.label,
            region: i.region,
            plan: i.plan,
            ipv4: i.ipv4,
        }
    }
}

#[cfg(feature = "ssr")]
impl From<domain::linode::TokenState> for TokenRow {
    fn from(t: domain::linode::TokenState) -> Self {
        TokenRow {
            changed: utc(t.changed_at),
            changed_by: t.changed_by,
            scopes: t.scopes,
        }
    }
}

#[cfg(feature = "ssr")]
impl From<domain::linode::HostLinode> for HostLinodeRow {
    fn from(l: domain::linode::HostLinode) -> Self {
        let (instance, error) = match l.instance {
            Ok(instance) => (Some(instance.into()), None),
            Err(error) => (None, Some(AppError::from(domain::DomainError::from(error)))),
        };
        HostLinodeRow {
            host_id: l.host_id,
            linode_id: l.linode_id,
            label: l.label,
            linked: utc(l.linked_at),
            linked_by: l.linked_by,
            instance,
            error,
            simulated: l.simulated,
        }
    }
}

#[cfg(feature = "ssr")]
impl From<domain::linode::LinodeBackup> for LinodeBackupRow {
    fn from(b: domain::linode::LinodeBackup) -> Self {
        LinodeBackupRow {
            id: b.id,
            size_mb: b.size_mb(),
            kind: b.kind,
            status: b.status,
            label: b.label.unwrap_or_default(),
            created: utc(b.created),
            finished: b.finished.map(utc).unwrap_or_default(),
        }
    }
}

#[cfg(feature = "ssr")]
impl From<domain::linode::BackupsReading> for LinodeBackupsView {
    fn from(reading: domain::linode::BackupsReading) -> Self {
        match reading {
            Ok(list) => LinodeBackupsView {
                automatic: list.automatic.into_iter().map(LinodeBackupRow::from).collect(),
                current: list.snapshot.current.map(LinodeBackupRow::from),
                in_progress: list.snapshot.in_progress.map(LinodeBackupRow::from),
                error: None,
            },
            Err(error) => LinodeBackupsView {
                automatic: Vec::new(),
                current: None,
                in_progress: None,
                error: Some(AppError::from(domain::DomainError::from(error))),
            },
        }
    }
}

#[cfg(feature = "ssr")]
impl From<domain::linode::GraphsReading> for LinodeGraphsView {
    fn from(reading: domain::linode::GraphsReading) -> Self {
        use crate::charts::{ChartUnit, Series};
        let stats = match reading {
            Ok(stats) => stats,
            Err(error) => {
                return LinodeGraphsView {
                    charts: Vec::new(),
                    error: Some(AppError::from(domain::DomainError::from(error))),
                }
            }
        };
        let end = [&stats.cpu, &stats.net_in, &stats.net_out, &stats.io]
            .into_iter()
            .filter_map(|series| series.last().map(|&(at, _)| at))
            .max()
            .unwrap_or_else(|| time::OffsetDateTime::now_utc().unix_timestamp() * 1000);
        let series = |name, samples| Series { name, samples };
        let charts = vec![
            LineChart::of(
                "linode-graph-cpu",
                "linode-graph-cpu",
                ChartUnit::Percent,
                &[series("linode-graph-cpu-line", &stats.cpu)],
                end,
            ),
            LineChart::of(
                "linode-graph-network",
                "linode-graph-network",
                ChartUnit::BitsPerSecond,
                &[
                    series("linode-graph-net-in", &stats.net_in),
                    series("linode-graph-net-out", &stats.net_out),
                ],
                end,
            ),
            LineChart::of(
                "linode-graph-io",
                "linode-graph-io",
                ChartUnit::BlocksPerSecond,
                &[series("linode-graph-io-line", &stats.io)],
                end,
            ),
        ];
        LinodeGraphsView { charts, error: None }
    }
}

/// The host's Linode backups (`None`: no instance linked).
#[server(endpoint = "linode/backups")]
pub async fn linode_backups(host_id: i64) -> Result<Option<LinodeBackupsView>, AppError> {
    let caller = require(Role::Viewer).await?;
    Ok(caller
        .console
        .linode
        .backups_of(host_id)
        .await?
        .map(LinodeBackupsView::from))
}

/// Turns the billed Backup service on (admins): a job, whose page opens.
#[server(endpoint = "linode/backups/enable")]
pub async fn enable_linode_backups(host_id: i64) -> Result<i64, AppError> {
    let caller = require(Role::Admin).await?;
    let job = caller
        .console
        .linode
        .enable_backups(&caller.operator, &caller.provenance, host_id)
        .await?;
    opening_job_page(job)
}

/// Takes a snapshot with a label (operators): a job, whose page opens.
#[server(endpoint = "linode/backups/snapshot")]
pub async fn take_linode_snapshot(host_id: i64, label: String) -> Result<i64, AppError> {
    let caller = require(Role::Operator).await?;
    let job = caller
        .console
        .linode
        .take_snapshot(&caller.operator, &caller.provenance, host_id, &label)
        .await?;
    opening_job_page(job)
}

/// Restores a backup onto the host's Linode (operators), once the
/// instance's label is typed: a job, whose page opens.
#[server(endpoint = "linode/backups/restore")]
pub async fn restore_linode_backup(host_id: i64, backup_id: i64, label_confirmation: String) -> Result<i64, AppError> {
    let caller = require(Role::Operator).await?;
    let job = caller
        .console
        .linode
        .restore_backup(
            &caller.operator,
            &caller.provenance,
            host_id,
            backup_id,
            &label_confirmation,
        )
        .await?;
    opening_job_page(job)
}

/// The host page's Linode section: the token's state, the host's
/// instance and its live state (read at most every few seconds).
#[server(endpoint = "linode/section")]
pub async fn linode_section(host_id: i64) -> Result<LinodeSectionView, AppError> {
    let caller = require(Role::Viewer).await?;
    let linode = &caller.console.linode;
    let token = linode.token_state().await?;
    let simulated = linode.simulated().await?;
    let host_linode = linode.of_host(host_id).await?.map(HostLinodeRow::from);
    let service_on = host_linode
        .as_ref()
        .and_then(|l| l.instance.as_ref())
        .is_some_and(|i| i.backups_enabled);
    let backups = match service_on {
        true => linode.backups_of(host_id).await?.map(LinodeBackupsView::from),
        false => None,
    };
    let readable = host_linode.as_ref().is_some_and(|l| l.instance.is_some());
    let graphs = match readable {
        true => linode.graphs_of(host_id).await?.map(LinodeGraphsView::from),
        false => None,
    };
    Ok(LinodeSectionView {
        usable: token.is_some() || simulated,
        simulated,
        token: token.map(TokenRow::from),
        linode: host_linode,
        backups,
        graphs,
    })
}

/// The host's Linode and its state alone: what the open page reads again
/// every few seconds (the forms beside it are left as they are).
#[server(endpoint = "linode/state")]
pub async fn linode_state(host_id: i64) -> Result<Option<HostLinodeRow>, AppError> {
    let caller = require(Role::Viewer).await?;
    Ok(caller.console.linode.of_host(host_id).await?.map(HostLinodeRow::from))
}

/// Every host's Linode, for the home page.
#[cfg(feature = "ssr")]
pub(crate) async fn linode_of_every_host(console: &domain::Console) -> domain::error::Result<Vec<HostLinodeRow>> {
    Ok(console
        .linode
        .of_every_host()
        .await?
        .into_iter()
        .map(HostLinodeRow::from)
        .collect())
}

/// Stores the Linode API token (admins) once the API accepted it.
#[server(endpoint = "linode/token")]
pub async fn save_linode_token(token: SecretText) -> Result<TokenRow, AppError> {
    let caller = require(Role::Admin).await?;
    let state = caller
        .console
        .linode
        .set_token(&caller.operator, &caller.provenance, token.expose())
        .await?;
    Ok(state.into())
}

/// The account's instances, to pick the host's (admins).
#[server(endpoint = "linode/instances")]
pub async fn linode_instances() -> Result<Vec<InstanceRow>, AppError> {
    let caller = require(Role::Admin).await?;
    Ok(caller
        .console
        .linode
        .instances(&caller.operator)
        .await?
        .into_iter()
        .map(InstanceRow::from)
        .collect())
}

/// Makes an instance of the account the host's Linode (admins).
#[server(endpoint = "linode/link")]
pub async fn link_linode(host_id: i64, linode_id: String) -> Result<HostLinodeRow, AppError> {
    let caller = require(Role::Admin).await?;
    let linode_id = linode_id
        .trim()
        .parse::<i64>()
        .map_err(|_| domain::DomainError::invalid("linode_id", "error-linode-instance-unknown"))?;
    let linked = caller
        .console
        .linode
        .link(&caller.operator, &caller.provenance, host_id, linode_id)
        .await?;
    Ok(linked.into())
}

/// Boot, Shut down or Reboot (operators): a job, whose page opens.
#[server(endpoint = "linode/power")]
pub async fn linode_power(host_id: i64, action: String) -> Result<i64, AppError> {
    let caller = require(Role::Operator).await?;
    let action = domain::linode::PowerAction::parse(&action)?;
    let job = caller
        .console
        .linode
        .power(&caller.operator, &caller.provenance, host_id, action)
        .await?;
    opening_job_page(job)
}
