//! Registering a host: the admin's form validated, the console's key
//! pasted or generated and sealed in the secret store, the host key the
//! admin confirmed asked for again and pinned, all audited in one
//! transaction.

use super::directory::host_rows;
use super::host_key::ssh_failure;
use super::names::parse_site_url;
use super::{Host, HostDirectory, HostName, RemotePath, UnitName};
use crate::accounts::{Operator, Role};
use crate::audit::{AuditAction, AuditEntry, Outcome, Provenance};
use crate::error::{DomainError, Result};
use crate::secrets::Zeroizing;
use crate::ssh::{self, read_host_key, SshAddress, SshTarget, SshUser};

/// The console's key for a new host: pasted by the admin (wiped from memory
/// when dropped, never shown by `Debug`), or generated.
pub enum KeyChoice {
    Paste(Zeroizing<String>),
    Generate,
}

impl KeyChoice {
    /// A pasted key, taken over (no copy of it is left behind).
    pub fn paste(text: String) -> Self {
        KeyChoice::Paste(Zeroizing::new(text))
    }
}

impl std::fmt::Debug for KeyChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyChoice::Paste(_) => f.write_str("Paste(****)"),
            KeyChoice::Generate => f.write_str("Generate"),
        }
    }
}

/// A registration as the admin fills it in (raw text, validated here). Its
/// `Debug` shows the key as `****`.
#[derive(Debug)]
pub struct HostRegistration {
    pub name: String,
    pub ssh_address: String,
    pub ssh_port: u16,
    pub ssh_user: String,
    pub key: KeyChoice,
    pub app_dir: String,
    pub web_service: String,
    pub wsgi_service: String,
    /// Empty: systemd.
    pub service_command: String,
    pub site_url: String,
}

impl HostDirectory {
    /// Registers a host, pinning the key the admin confirmed. The host is
    /// asked again: if it now shows another key, nothing is stored.
    #[tracing::instrument(skip_all, fields(host = %registration.name, by = %by.username))]
    pub async fn register(
        &self,
        by: &Operator,
        provenance: &Provenance,
        registration: HostRegistration,
        confirmed_fingerprint: &str,
    ) -> Result<Host> {
        by.require(Role::Admin)?;
        self.pin_and_store(by.actor(), provenance, registration, confirmed_fingerprint)
            .await
    }

    /// Registers the local demo host from the command line, when no host is
    /// registered yet: the fingerprint comes from the host key file on this
    /// machine (what an admin would compare by hand). Returns `None` when
    /// hosts exist already.
    #[tracing::instrument(skip_all, fields(host = %registration.name))]
    pub async fn register_demo_host(
        &self,
        registration: HostRegistration,
        host_key_file_line: &str,
    ) -> Result<Option<Host>> {
        let hosts = sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM hosts"#)
            .fetch_one(&self.pool)
            .await?;
        if hosts > 0 {
            return Ok(None);
        }
        let key = russh::keys::PublicKey::from_openssh(host_key_file_line.trim())
            .map_err(|_| DomainError::invalid("host_key", "error-host-key-file"))?;
        let fingerprint = key.fingerprint(russh::keys::HashAlg::Sha256).to_string();
        let host = self
            .pin_and_store(
                crate::audit::Actor::System,
                &Provenance::default(),
                registration,
                &fingerprint,
            )
            .await?;
        Ok(Some(host))
    }

    async fn pin_and_store(
        &self,
        actor: crate::audit::Actor,
        provenance: &Provenance,
        registration: HostRegistration,
        confirmed_fingerprint: &str,
    ) -> Result<Host> {
        let name = HostName::parse(&registration.name)?;
        if registration.ssh_port == 0 {
            return Err(DomainError::invalid("ssh_port", "error-ssh-port"));
        }
        let target = SshTarget {
            address: SshAddress::parse(&registration.ssh_address)?,
            port: registration.ssh_port,
            user: SshUser::parse(&registration.ssh_user)?,
        };
        let app_dir = RemotePath::parse(&registration.app_dir, "app_dir")?;
        let web_service = UnitName::parse(&registration.web_service, "web_service")?;
        let wsgi_service = UnitName::parse(&registration.wsgi_service, "wsgi_service")?;
        let service_command = match registration.service_command.trim() {
            "" => None,
            program => Some(RemotePath::parse(program, "service_command")?),
        };
        let site_url = parse_site_url(&registration.site_url)?;
        let (private_key, public_key) = match registration.key {
            KeyChoice::Paste(text) => {
                let key = ssh::parse_private_key(text.trim())
                    .map_err(|_| DomainError::invalid("private_key", "error-private-key"))?;
                let public = key
                    .public_key()
                    .to_openssh()
                    .map_err(|e| DomainError::Internal(e.to_string()))?;
                (Zeroizing::new(text.trim().to_owned() + "\n"), public)
            }
            KeyChoice::Generate => ssh::generate_key_pair(&format!("ocpizza-console@{}", name.as_str()))?,
        };
        let presented = read_host_key(&target, &self.ssh).await.map_err(ssh_failure)?;
        if presented.fingerprint != confirmed_fingerprint.trim() {
            return Err(DomainError::invalid("fingerprint", "error-fingerprint-mismatch"));
        }
        let mut tx = self.pool.begin().await?;
        let secret = self
            .secrets
            .put(&mut tx, &private_key_purpose(&name), private_key.as_bytes())
            .await?;
        let id = sqlx::query_scalar!(
            "INSERT INTO hosts (name, ssh_address, ssh_port, ssh_user, private_key_secret, public_key, host_key,
                                host_key_fingerprint, app_dir, web_service, wsgi_service, service_command, site_url)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
            name.as_str(),
            target.address.as_str(),
            i32::from(target.port),
            target.user.as_str(),
            secret.0,
            public_key,
            presented.openssh,
            presented.fingerprint,
            app_dir.as_str(),
            web_service.as_str(),
            wsgi_service.as_str(),
            service_command.as_ref().map(RemotePath::as_str),
            site_url,
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| DomainError::on_constraint(e, "hosts_name_key", "name", "error-host-name-taken"))?;
        let row = host_rows(&mut *tx, Some(id))
            .await?
            .pop()
            .ok_or(DomainError::NotFound("host"))?;
        AuditEntry::new(actor, AuditAction::HostRegister, name.as_str(), Outcome::Success)
            .detail(
                "ssh",
                format!("{}@{}:{}", target.user.as_str(), target.address.as_str(), target.port),
            )
            .detail("host_key", presented.fingerprint.as_str())
            .from(provenance)
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        self.listed.changed();
        row.host()
    }
}

/// What a host's private key is stored for in the secret store: the value is
/// sealed to it, and read back only for this host.
pub(super) fn private_key_purpose(name: &HostName) -> String {
    format!("host:{}:private_key", name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registrations_debug_does_not_show_its_private_key() {
        let registration = HostRegistration {
            name: "prod".into(),
            ssh_address: "vps.ocpizza.fr".into(),
            ssh_port: 22,
            ssh_user: "deploy".into(),
            key: KeyChoice::paste("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE\n".into()),
            app_dir: "/srv/ocpizza".into(),
            web_service: "nginx".into(),
            wsgi_service: "gunicorn".into(),
            service_command: String::new(),
            site_url: "https://www.ocpizza.fr/".into(),
        };
        let shown = format!("{registration:?}");
        assert!(
            shown.contains("vps.ocpizza.fr") && shown.contains("Paste(****)"),
            "{shown}"
        );
        assert!(
            !shown.contains("b3BlbnNzaC1rZXktdjE") && !shown.contains("BEGIN"),
            "{shown}"
        );
    }
}
