//! Server functions for hosts and jobs: check the caller, call the domain,
//! convert. Private keys never leave the server.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use vocabulary::jobs::{JobFailure, JobStatus, OutputLine};

#[cfg(feature = "ssr")]
use crate::api::{opening_job_page, require, utc, Role};
use crate::errors::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostSummary {
    pub id: i64,
    pub name: String,
    pub ssh: String,
    pub site_url: String,
    pub fingerprint: String,
    /// The key the host showed instead of the pinned one, if it did.
    pub key_alert: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostView {
    pub summary: HostSummary,
    pub public_key: String,
    pub app_dir: String,
    pub web_service: String,
    pub wsgi_service: String,
    pub control: String,
    pub jobs: Vec<JobSummary>,
    pub prerequisites: Vec<PrerequisiteRow>,
    pub prerequisites_job: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrerequisiteRow {
    pub name: String,
    pub found: String,
    pub required: String,
    pub verdict: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceStateRow {
    pub unit: String,
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSummary {
    pub id: i64,
    pub action: String,
    pub actor: String,
    pub status: JobStatus,
    pub created: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobView {
    pub summary: JobSummary,
    pub host_id: i64,
    pub host_name: String,
    pub command_line: String,
    pub exit_status: Option<i32>,
    /// Why it did not succeed (translated on the page).
    pub failure: Option<JobFailure>,
    pub started: String,
    pub finished: String,
    /// The last lines stored when the page was rendered.
    pub tail: Vec<OutputLine>,
    pub total_lines: i64,
    /// Its steps, for a job made of steps (a deploy); empty otherwise.
    pub steps: Vec<vocabulary::jobs::JobStep>,
}

#[cfg(feature = "ssr")]
impl From<&domain::hosts::Host> for HostSummary {
    fn from(h: &domain::hosts::Host) -> Self {
        HostSummary {
            id: h.id,
            name: h.name.as_str().to_owned(),
            ssh: format!(
                "{}@{}:{}",
                h.target.user.as_str(),
                h.target.address.as_str(),
                h.target.port
            ),
            site_url: h.site_url.clone(),
            fingerprint: h.host_key.fingerprint.clone(),
            key_alert: h.key_alert.as_ref().map(|(f, _)| f.clone()),
        }
    }
}

#[cfg(feature = "ssr")]
impl From<&domain::jobs::Job> for JobSummary {
    fn from(j: &domain::jobs::Job) -> Self {
        JobSummary {
            id: j.id,
            action: j.action.clone(),
            actor: j.actor.clone(),
            status: j.status,
            created: utc(j.created_at),
        }
    }
}

#[cfg(feature = "ssr")]
impl From<domain::jobs::Prerequisite> for PrerequisiteRow {
    fn from(p: domain::jobs::Prerequisite) -> Self {
        PrerequisiteRow {
            name: p.name,
            found: p.found.unwrap_or_default(),
            required: p.required.unwrap_or_default(),
            verdict: p.verdict,
        }
    }
}

#[cfg(feature = "ssr")]
impl From<domain::hosts::ServiceState> for ServiceStateRow {
    fn from(s: domain::hosts::ServiceState) -> Self {
        ServiceStateRow {
            unit: s.unit,
            state: s.state,
        }
    }
}

#[cfg(feature = "ssr")]
impl HostView {
    fn new(
        host: &domain::hosts::Host,
        jobs: &[domain::jobs::Job],
        prerequisites: Option<(i64, Vec<PrerequisiteRow>)>,
    ) -> Self {
        let (prerequisites_job, prerequisites) = match prerequisites {
            Some((job, rows)) => (Some(job), rows),
            None => (None, Vec::new()),
        };
        HostView {
            summary: host.into(),
            public_key: host.public_key.clone(),
            app_dir: host.app_dir.as_str().to_owned(),
            web_service: host.web_service.as_str().to_owned(),
            wsgi_service: host.wsgi_service.as_str().to_owned(),
            control: match &host.control {
                domain::hosts::ServiceControl::Systemd => "systemd".to_owned(),
                domain::hosts::ServiceControl::Command(program) => program.as_str().to_owned(),
            },
            jobs: jobs.iter().map(JobSummary::from).collect(),
            prerequisites,
            prerequisites_job,
        }
    }
}

#[cfg(feature = "ssr")]
impl JobView {
    fn new(job: &domain::jobs::Job, tail: Vec<domain::jobs::StoredLine>, steps: Vec<domain::jobs::JobStep>) -> Self {
        JobView {
            summary: job.into(),
            host_id: job.host_id,
            host_name: job.host_name.clone(),
            command_line: job.command_line.clone(),
            exit_status: job.exit_status,
            failure: job.failure.clone(),
            started: job.started_at.map(utc).unwrap_or_default(),
            finished: job.finished_at.map(utc).unwrap_or_default(),
            tail: tail.into_iter().map(Into::into).collect(),
            total_lines: job.output_lines,
            steps,
        }
    }
}

#[cfg(feature = "ssr")]
impl HostForm {
    /// The registration the domain checks, taking the form's values (the
    /// pasted key moves into its zeroized holder).
    fn into_registration(mut self) -> (domain::hosts::HostRegistration, String) {
        use std::mem::take;
        let private_key = take(&mut self.private_key);
        let key = if private_key.trim().is_empty() {
            domain::hosts::KeyChoice::Generate
        } else {
            domain::hosts::KeyChoice::paste(private_key)
        };
        let registration = domain::hosts::HostRegistration {
            name: take(&mut self.name),
            ssh_address: take(&mut self.ssh_address),
            ssh_port: self.ssh_port,
            ssh_user: take(&mut self.ssh_user),
            key,
            app_dir: take(&mut self.app_dir),
            web_service: take(&mut self.web_service),
            wsgi_service: take(&mut self.wsgi_service),
            service_command: take(&mut self.service_command),
            site_url: take(&mut self.site_url),
        };
        (registration, take(&mut self.fingerprint))
    }
}

#[server(endpoint = "hosts/list")]
pub async fn list_hosts() -> Result<Vec<HostSummary>, AppError> {
    let caller = require(Role::Viewer).await?;
    Ok(caller
        .console
        .hosts
        .list()
        .await?
        .iter()
        .map(HostSummary::from)
        .collect())
}

#[server(endpoint = "hosts/read-key")]
pub async fn read_host_key(ssh_address: String, ssh_port: u16) -> Result<String, AppError> {
    let caller = require(Role::Admin).await?;
    let hosts = &caller.console.hosts;
    Ok(hosts
        .read_host_key(&caller.operator, &ssh_address, ssh_port)
        .await?
        .fingerprint)
}

/// A host registration as the admin fills it in. `Debug` shows the private
/// key as `****`; on the server it is wiped from memory when dropped.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostForm {
    pub name: String,
    pub ssh_address: String,
    pub ssh_port: u16,
    pub ssh_user: String,
    /// Empty: the console generates a key pair.
    pub private_key: String,
    pub app_dir: String,
    pub web_service: String,
    pub wsgi_service: String,
    /// Empty: systemd.
    pub service_command: String,
    pub site_url: String,
    /// The fingerprint the admin confirmed.
    pub fingerprint: String,
}

impl std::fmt::Debug for HostForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostForm")
            .field("name", &self.name)
            .field("ssh_address", &self.ssh_address)
            .field("ssh_port", &self.ssh_port)
            .field("ssh_user", &self.ssh_user)
            .field("private_key", &if self.private_key.is_empty() { "" } else { "****" })
            .field("app_dir", &self.app_dir)
            .field("web_service", &self.web_service)
            .field("wsgi_service", &self.wsgi_service)
            .field("service_command", &self.service_command)
            .field("site_url", &self.site_url)
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

#[cfg(feature = "ssr")]
impl Drop for HostForm {
    fn drop(&mut self) {
        use domain::secrets::Zeroize;
        self.private_key.zeroize();
    }
}

#[server(endpoint = "hosts/register")]
pub async fn register_host(form: HostForm) -> Result<i64, AppError> {
    let caller = require(Role::Admin).await?;
    let (registration, fingerprint) = form.into_registration();
    let (by, from) = (&caller.operator, &caller.provenance);
    Ok(caller
        .console
        .hosts
        .register(by, from, registration, &fingerprint)
        .await?
        .id)
}

#[server(endpoint = "hosts/detail")]
pub async fn host_detail(host_id: i64) -> Result<HostView, AppError> {
    let caller = require(Role::Viewer).await?;
    let console = &caller.console;
    let host = console.hosts.get(host_id).await?;
    let jobs = console.jobs.jobs_on_host(host_id, 20).await?;
    let prerequisites = console.jobs.latest_prerequisites(host_id).await?.map(|(job, lines)| {
        let required = console.required_versions.as_pairs();
        let rows = domain::jobs::assess_prerequisites(&lines, &required);
        (job, rows.into_iter().map(PrerequisiteRow::from).collect())
    });
    Ok(HostView::new(&host, &jobs, prerequisites))
}

#[server(endpoint = "hosts/services")]
pub async fn service_states(host_id: i64) -> Result<Vec<ServiceStateRow>, AppError> {
    let caller = require(Role::Viewer).await?;
    let hosts = &caller.console.hosts;
    let host = hosts.get(host_id).await?;
    let states = hosts
        .service_states(&host, &caller.operator, &caller.provenance)
        .await
        .map_err(domain::DomainError::from)?;
    Ok(states.into_iter().map(ServiceStateRow::from).collect())
}

#[server(endpoint = "hosts/repin")]
pub async fn repin_host(host_id: i64, fingerprint: String) -> Result<(), AppError> {
    let caller = require(Role::Admin).await?;
    let (by, from) = (&caller.operator, &caller.provenance);
    caller.console.hosts.repin(by, from, host_id, &fingerprint).await?;
    Ok(())
}

/// Runs one of the host's runbooks (operators): a job, whose page opens.
#[server(endpoint = "jobs/start")]
pub async fn start_job(host_id: i64, action: String) -> Result<i64, AppError> {
    let caller = require(Role::Operator).await?;
    let runbook = domain::jobs::Runbook::parse(&action)?;
    let (by, from) = (&caller.operator, &caller.provenance);
    let job = caller.console.jobs.start_job(by, from, host_id, runbook).await?;
    opening_job_page(job)
}

#[server(endpoint = "jobs/cancel")]
pub async fn cancel_job(job_id: i64) -> Result<(), AppError> {
    let caller = require(Role::Operator).await?;
    let (by, from) = (&caller.operator, &caller.provenance);
    Ok(caller.console.jobs.cancel(by, from, job_id).await?)
}

#[server(endpoint = "jobs/detail")]
pub async fn job_detail(job_id: i64) -> Result<JobView, AppError> {
    let caller = require(Role::Viewer).await?;
    let jobs = &caller.console.jobs;
    let job = jobs.job(job_id).await?;
    let from = (job.output_lines - 200).max(0);
    let tail = jobs.output_after(job_id, from, 200).await?;
    let steps = jobs.steps(job_id).await?;
    Ok(JobView::new(&job, tail, steps))
}

#[cfg(test)]
mod tests {
    use super::HostForm;

    #[test]
    fn a_host_forms_debug_does_not_show_its_private_key() {
        let form = HostForm {
            name: "prod".into(),
            ssh_address: "vps.ocpizza.fr".into(),
            ssh_port: 22,
            ssh_user: "deploy".into(),
            private_key: "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE\n".into(),
            app_dir: "/srv/ocpizza".into(),
            web_service: "nginx".into(),
            wsgi_service: "gunicorn".into(),
            service_command: String::new(),
            site_url: "https://www.ocpizza.fr/".into(),
            fingerprint: "SHA256:x".into(),
        };
        let shown = format!("{form:?}");
        assert!(shown.contains("vps.ocpizza.fr") && shown.contains("****"), "{shown}");
        assert!(!shown.contains("b3BlbnNzaC1rZXktdjE"), "{shown}");
    }
}

/// A host's web and WSGI servers as the home page lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostServicesLine {
    pub host_id: i64,
    pub host_name: String,
    /// The states, or why the host could not say (a translation key).
    pub states: Result<Vec<ServiceStateRow>, String>,
}

/// Every host's web and WSGI servers (the home page), each host asked over
/// SSH at most every few seconds however many pages show them, all hosts
/// at once; a reading a few seconds old is shown while the next is made.
#[cfg(feature = "ssr")]
pub(crate) async fn services_of_every_host(
    caller: &crate::context::Caller,
) -> domain::error::Result<Vec<HostServicesLine>> {
    let hosts = &caller.console.hosts;
    let list = hosts.list().await?;
    let reads = list.iter().map(|host| async {
        let states = hosts
            .recent_service_states(host, &caller.operator, &caller.provenance)
            .await
            .map(|states| states.into_iter().map(ServiceStateRow::from).collect())
            .map_err(|error| crate::errors::remote_message(&error).to_owned());
        HostServicesLine {
            host_id: host.id,
            host_name: host.name.as_str().to_owned(),
            states,
        }
    });
    Ok(futures::future::join_all(reads).await)
}
