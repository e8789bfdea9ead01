//! Server functions for a host's environment variables (manual §4.1.1):
//! the overview (viewers and up; a secret's value is never in it, nor in
//! any answer here), setting, generating and removing a variable, applying
//! the file and importing it (operators), and the drift the host page
//! warns of. Each checks the caller, calls the domain, converts.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::api::{opening_job_page, require, utc, Role};
use crate::errors::AppError;
use crate::secret_text::SecretText;
use vocabulary::deploys::EnvVersionKind;

vocabulary::words! {
    /// The kind a form gives a variable.
    pub enum EnvKindChoice as "variable kind" {
        /// Unchanged for a variable the console holds; otherwise secret
        /// for the manual's secret ones and names that say so.
        ByName = "by-name",
        Secret = "secret",
        Plain = "plain",
    }
}

/// One variable as the page shows it: a secret's value never.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVariableRow {
    pub name: String,
    pub secret: bool,
    /// A plain variable's value.
    pub plain_value: Option<String>,
    pub set: bool,
    /// UTC date and who, when set.
    pub changed: Option<(String, String)>,
    pub in_manual: bool,
    pub not_applied: bool,
}

/// One version of the host's file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVersionRow {
    pub id: i64,
    pub kind: EnvVersionKind,
    pub job_id: Option<i64>,
    pub at: String,
    pub by: String,
    pub changed_names: Vec<String>,
    pub written: bool,
}

/// How the host's file differs from the last version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftView {
    pub names: Vec<String>,
    pub file_missing: bool,
}

/// A host's environment page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvView {
    pub host_id: i64,
    pub host_name: String,
    pub app_dir: String,
    pub variables: Vec<EnvVariableRow>,
    pub removed_not_applied: Vec<String>,
    pub versions: Vec<EnvVersionRow>,
    pub public_site: bool,
}

#[cfg(feature = "ssr")]
impl From<domain::app_env::EnvVariable> for EnvVariableRow {
    fn from(v: domain::app_env::EnvVariable) -> Self {
        EnvVariableRow {
            name: v.name,
            secret: v.secret,
            plain_value: v.plain_value,
            set: v.set,
            changed: v.changed.map(|(at, by)| (utc(at), by)),
            in_manual: v.in_manual,
            not_applied: v.not_applied,
        }
    }
}

#[cfg(feature = "ssr")]
impl From<domain::app_env::EnvVersion> for EnvVersionRow {
    fn from(v: domain::app_env::EnvVersion) -> Self {
        EnvVersionRow {
            id: v.id,
            kind: v.kind,
            job_id: v.job_id,
            at: utc(v.at),
            by: v.by,
            changed_names: v.changed_names,
            written: v.written,
        }
    }
}

#[cfg(feature = "ssr")]
impl From<domain::app_env::Drift> for DriftView {
    fn from(d: domain::app_env::Drift) -> Self {
        DriftView {
            names: d.names,
            file_missing: d.file_missing,
        }
    }
}

/// A host's variables and versions (no secret value).
#[server(endpoint = "env/overview")]
pub async fn env_overview(host_id: i64) -> Result<EnvView, AppError> {
    let caller = require(Role::Viewer).await?;
    let host = caller.console.hosts.get(host_id).await?;
    let overview = caller.console.environment.overview(host_id).await?;
    Ok(EnvView {
        host_id,
        host_name: host.name.as_str().to_owned(),
        app_dir: host.app_dir.as_str().to_owned(),
        variables: overview.variables.into_iter().map(Into::into).collect(),
        removed_not_applied: overview.removed_not_applied,
        versions: overview.versions.into_iter().map(Into::into).collect(),
        public_site: overview.public_site,
    })
}

/// How the host's `.env` differs from the last version (read over SSH);
/// `None` when the console never wrote nor imported it.
#[server(endpoint = "env/drift")]
pub async fn env_drift(host_id: i64) -> Result<Option<DriftView>, AppError> {
    let caller = require(Role::Viewer).await?;
    let host = caller.console.hosts.get(host_id).await?;
    let drift = caller
        .console
        .environment
        .drift(&caller.operator, &caller.provenance, &host)
        .await?;
    Ok(drift.map(Into::into))
}

/// Sets a variable (operators). Checkboxes arrive only when ticked. The
/// value's field is named as a secret's (`secret_value`) whatever its kind:
/// a refused form never echoes it back in an address.
#[server(endpoint = "env/set")]
pub async fn set_env_variable(
    host_id: i64,
    name: String,
    secret_value: SecretText,
    kind: EnvKindChoice,
    confirm_not_production: Option<String>,
) -> Result<(), AppError> {
    let caller = require(Role::Operator).await?;
    let secret = match kind {
        EnvKindChoice::ByName => None,
        EnvKindChoice::Secret => Some(true),
        EnvKindChoice::Plain => Some(false),
    };
    let (by, from) = (&caller.operator, &caller.provenance);
    let environment = &caller.console.environment;
    Ok(environment
        .set(
            by,
            from,
            host_id,
            &name,
            secret,
            secret_value.expose(),
            confirm_not_production.is_some(),
        )
        .await?)
}

/// A fresh `DJANGO_SECRET_KEY` (operators); its value is never sent.
#[server(endpoint = "env/generate")]
pub async fn generate_secret_key(host_id: i64) -> Result<(), AppError> {
    let caller = require(Role::Operator).await?;
    let (by, from) = (&caller.operator, &caller.provenance);
    Ok(caller
        .console
        .environment
        .generate_secret_key(by, from, host_id)
        .await?)
}

/// Removes a variable from the console's values (operators).
#[server(endpoint = "env/remove")]
pub async fn remove_env_variable(host_id: i64, name: String) -> Result<(), AppError> {
    let caller = require(Role::Operator).await?;
    let (by, from) = (&caller.operator, &caller.provenance);
    Ok(caller.console.environment.remove(by, from, host_id, &name).await?)
}

/// Writes the host's `.env` and restarts Gunicorn (operators): a job, whose
/// page opens.
#[server(endpoint = "env/apply")]
pub async fn apply_env(host_id: i64) -> Result<i64, AppError> {
    let caller = require(Role::Operator).await?;
    let (by, from) = (&caller.operator, &caller.provenance);
    let job = caller.console.environment.apply(by, from, host_id).await?;
    opening_job_page(job)
}

/// Takes the host's `.env` as the console's values (operators): the names
/// taken and how many lines did not read.
#[server(endpoint = "env/import")]
pub async fn import_env(host_id: i64) -> Result<(Vec<String>, usize), AppError> {
    let caller = require(Role::Operator).await?;
    let (by, from) = (&caller.operator, &caller.provenance);
    let imported = caller.console.environment.import(by, from, host_id).await?;
    Ok((imported.names, imported.unreadable))
}
