//! Server functions for hosts and jobs: check the caller, call the domain,
//! convert. Private keys never leave the server.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use vocabulary::jobs::{JobFailure, JobStatus, OutputLine};

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
}

#[cfg(feature = "ssr")]
mod convert {
    use super::*;
    use crate::api::guard::utc;

    pub fn host(h: &domain::hosts::Host) -> HostSummary {
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

    pub fn job(j: &domain::jobs::Job) -> JobSummary {
        JobSummary {
            id: j.id,
            action: j.action.clone(),
            actor: j.actor.clone(),
            status: j.status,
            created: utc(j.created_at),
        }
    }
}

#[server(endpoint = "hosts/list")]
pub async fn list_hosts() -> Result<Vec<HostSummary>, AppError> {
    let caller = crate::api::guard::require(domain::accounts::Role::Viewer).await?;
    let hosts = caller.console.hosts.list().await.map_err(|e| caller.fail(e))?;
    Ok(hosts.iter().map(convert::host).collect())
}

#[server(endpoint = "hosts/read-key")]
pub async fn read_host_key(ssh_address: String, ssh_port: u16) -> Result<String, AppError> {
    let caller = crate::api::guard::require(domain::accounts::Role::Admin).await?;
    let key = caller
        .console
        .hosts
        .read_host_key(&caller.operator, &ssh_address, ssh_port)
        .await
        .map_err(|e| caller.fail(e))?;
    Ok(key.fingerprint)
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
    let caller = crate::api::guard::require(domain::accounts::Role::Admin).await?;
    let mut form = form;
    let private_key = std::mem::take(&mut form.private_key);
    let key = if private_key.trim().is_empty() {
        domain::hosts::KeyChoice::Generate
    } else {
        domain::hosts::KeyChoice::paste(private_key)
    };
    let registration = domain::hosts::HostRegistration {
        name: std::mem::take(&mut form.name),
        ssh_address: std::mem::take(&mut form.ssh_address),
        ssh_port: form.ssh_port,
        ssh_user: std::mem::take(&mut form.ssh_user),
        key,
        app_dir: std::mem::take(&mut form.app_dir),
        web_service: std::mem::take(&mut form.web_service),
        wsgi_service: std::mem::take(&mut form.wsgi_service),
        service_command: std::mem::take(&mut form.service_command),
        site_url: std::mem::take(&mut form.site_url),
    };
    let host = caller
        .console
        .hosts
        .register(&caller.operator, &caller.provenance, registration, &form.fingerprint)
        .await
        .map_err(|e| caller.fail(e))?;
    Ok(host.id)
}

#[server(endpoint = "hosts/detail")]
pub async fn host_detail(host_id: i64) -> Result<HostView, AppError> {
    let caller = crate::api::guard::require(domain::accounts::Role::Viewer).await?;
    let console = &caller.console;
    let host = console.hosts.get(host_id).await.map_err(|e| caller.fail(e))?;
    let jobs = console
        .jobs
        .jobs_on_host(host_id, 20)
        .await
        .map_err(|e| caller.fail(e))?;
    let latest = console
        .jobs
        .latest_prerequisites(host_id)
        .await
        .map_err(|e| caller.fail(e))?;
    let (prerequisites_job, prerequisites) = match latest {
        Some((job, lines)) => (
            Some(job),
            domain::jobs::assess_prerequisites(&lines, &console.required_versions.as_pairs())
                .into_iter()
                .map(|p| PrerequisiteRow {
                    name: p.name,
                    found: p.found.unwrap_or_default(),
                    required: p.required.unwrap_or_default(),
                    verdict: p.verdict,
                })
                .collect(),
        ),
        None => (None, Vec::new()),
    };
    Ok(HostView {
        summary: convert::host(&host),
        public_key: host.public_key.clone(),
        app_dir: host.app_dir.as_str().to_owned(),
        web_service: host.web_service.as_str().to_owned(),
        wsgi_service: host.wsgi_service.as_str().to_owned(),
        control: match &host.control {
            domain::hosts::ServiceControl::Systemd => "systemd".to_owned(),
            domain::hosts::ServiceControl::Command(program) => program.as_str().to_owned(),
        },
        jobs: jobs.iter().map(convert::job).collect(),
        prerequisites,
        prerequisites_job,
    })
}

#[server(endpoint = "hosts/services")]
pub async fn service_states(host_id: i64) -> Result<Vec<ServiceStateRow>, AppError> {
    let caller = crate::api::guard::require(domain::accounts::Role::Viewer).await?;
    let host = caller.console.hosts.get(host_id).await.map_err(|e| caller.fail(e))?;
    let states = caller
        .console
        .hosts
        .service_states(&host, &caller.operator, &caller.provenance)
        .await
        .map_err(|e| caller.fail(e.into()))?;
    Ok(states
        .into_iter()
        .map(|s| ServiceStateRow {
            unit: s.unit,
            state: s.state,
        })
        .collect())
}

#[server(endpoint = "hosts/repin")]
pub async fn repin_host(host_id: i64, fingerprint: String) -> Result<(), AppError> {
    let caller = crate::api::guard::require(domain::accounts::Role::Admin).await?;
    caller
        .console
        .hosts
        .repin(&caller.operator, &caller.provenance, host_id, &fingerprint)
        .await
        .map_err(|e| caller.fail(e))?;
    Ok(())
}

#[server(endpoint = "jobs/start")]
pub async fn start_job(host_id: i64, action: String) -> Result<i64, AppError> {
    let caller = crate::api::guard::require(domain::accounts::Role::Operator).await?;
    let runbook = domain::jobs::Runbook::parse(&action).map_err(|e| caller.fail(e))?;
    caller
        .console
        .jobs
        .start_job(&caller.operator, &caller.provenance, host_id, runbook)
        .await
        .map_err(|e| caller.fail(e))
}

#[server(endpoint = "jobs/cancel")]
pub async fn cancel_job(job_id: i64) -> Result<(), AppError> {
    let caller = crate::api::guard::require(domain::accounts::Role::Operator).await?;
    caller
        .console
        .jobs
        .cancel(&caller.operator, &caller.provenance, job_id)
        .await
        .map_err(|e| caller.fail(e))
}

#[server(endpoint = "jobs/detail")]
pub async fn job_detail(job_id: i64) -> Result<JobView, AppError> {
    let caller = crate::api::guard::require(domain::accounts::Role::Viewer).await?;
    let jobs = &caller.console.jobs;
    let job = jobs.job(job_id).await.map_err(|e| caller.fail(e))?;
    let from = (job.output_lines - 200).max(0);
    let tail = jobs.output_after(job_id, from, 200).await.map_err(|e| caller.fail(e))?;
    Ok(JobView {
        summary: convert::job(&job),
        host_id: job.host_id,
        host_name: job.host_name.clone(),
        command_line: job.command_line.clone(),
        exit_status: job.exit_status,
        failure: job.failure.clone(),
        started: job.started_at.map(crate::api::guard::utc).unwrap_or_default(),
        finished: job.finished_at.map(crate::api::guard::utc).unwrap_or_default(),
        tail: tail.into_iter().map(Into::into).collect(),
        total_lines: job.output_lines,
    })
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
