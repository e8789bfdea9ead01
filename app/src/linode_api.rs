//! Server functions for Linode: the host's instance and its live state
//! (viewers and up), the API token and the instance picked for a host
//! (admins), power (operators). Each checks the caller, calls the domain,
//! converts. The token goes in and never comes back out.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::api::{require, utc, Role};
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinodeSectionView {
    /// No token stored: the console talks to its local double ("Linode simulé").
    pub simulated: bool,
    /// Whether the console can call an API at all (a token, or the double).
    pub usable: bool,
    pub token: Option<TokenRow>,
    pub linode: Option<HostLinodeRow>,
}

#[cfg(feature = "ssr")]
impl From<domain::linode::Instance> for InstanceRow {
    fn from(i: domain::linode::Instance) -> Self {
        InstanceRow {
            id: i.id,
            state: i.status.word().to_owned(),
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

/// The host page's Linode section: the token's state, the host's
/// instance and its live state (read at most every few seconds).
#[server(endpoint = "linode/section")]
pub async fn linode_section(host_id: i64) -> Result<LinodeSectionView, AppError> {
    let caller = require(Role::Viewer).await?;
    let linode = &caller.console.linode;
    let token = linode.token_state().await?;
    let simulated = linode.simulated().await?;
    Ok(LinodeSectionView {
        usable: token.is_some() || simulated,
        simulated,
        token: token.map(TokenRow::from),
        linode: linode.of_host(host_id).await?.map(HostLinodeRow::from),
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
#[server(endpoint = "linode/every-host")]
pub async fn linode_of_every_host() -> Result<Vec<HostLinodeRow>, AppError> {
    let caller = require(Role::Viewer).await?;
    Ok(caller
        .console
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
    leptos_axum::redirect(&format!("/jobs/{job}"));
    Ok(job)
}
