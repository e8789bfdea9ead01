//! A host's key: read for an admin to confirm, re-pinned after a confirmed
//! change, and checked on every connection (a host showing another key is
//! refused, the key it showed is kept as an alert on the host, and the
//! refusal is audited).

use super::registration::private_key_purpose;
use super::{Host, HostDirectory};
use crate::accounts::{Operator, Role};
use crate::audit::{Actor, AuditAction, AuditEntry, Outcome, Provenance};
use crate::error::{DomainError, Result};
use crate::ssh::{self, read_host_key, HostKey, SshAddress, SshError, SshSession, SshTarget, SshUser, WarmKey};

impl HostDirectory {
    /// Reads the key a host presents, for an admin to compare with the
    /// host's real fingerprint before pinning it.
    #[tracing::instrument(skip(self, by), fields(by = %by.username))]
    pub async fn read_host_key(&self, by: &Operator, address: &str, port: u16) -> Result<HostKey> {
        by.require(Role::Admin)?;
        let target = SshTarget {
            address: SshAddress::parse(address)?,
            port,
            user: SshUser::parse("root")?,
        };
        read_host_key(&target, &self.ssh).await.map_err(ssh_failure)
    }

    /// Pins the key the host now presents, after an admin confirmed it.
    #[tracing::instrument(skip(self, by, provenance), fields(by = %by.username))]
    pub async fn repin(
        &self,
        by: &Operator,
        provenance: &Provenance,
        host_id: i64,
        confirmed_fingerprint: &str,
    ) -> Result<Host> {
        by.require(Role::Admin)?;
        let host = self.get(host_id).await?;
        let presented = read_host_key(&host.target, &self.ssh).await.map_err(ssh_failure)?;
        if presented.fingerprint != confirmed_fingerprint.trim() {
            return Err(DomainError::invalid("fingerprint", "error-fingerprint-mismatch"));
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query!(
            "UPDATE hosts SET host_key = $2, host_key_fingerprint = $3, presented_fingerprint = NULL, presented_at = NULL
             WHERE id = $1",
            host_id,
            presented.openssh,
            presented.fingerprint,
        )
        .execute(&mut *tx)
        .await?;
        AuditEntry::new(by.actor(), AuditAction::HostRepin, host.name.as_str(), Outcome::Success)
            .detail("from", host.host_key.fingerprint.as_str())
            .detail("to", presented.fingerprint.as_str())
            .from(provenance)
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        self.listed.changed();
        self.forget_service_states(host_id);
        self.warm.forget(host_id);
        self.get(host_id).await
    }

    /// Opens an SSH session to the host with its pinned key. A host showing
    /// another key is refused, recorded as an alert on the host, and audited
    /// as a denial on behalf of `by`.
    #[tracing::instrument(skip_all, fields(host = host.name.as_str(), by = by.name()))]
    pub async fn connect(&self, host: &Host, by: &Actor, provenance: &Provenance) -> Result<SshSession, SshError> {
        let key = WarmKey::new(host.id, &host.target, &host.host_key.fingerprint, host.private_key.0);
        SshSession::reuse_or(&self.warm, key, self.ssh, self.handshake(host, by, provenance)).await
    }

    /// A new connection to the host (see [`HostDirectory::connect`]).
    async fn handshake(&self, host: &Host, by: &Actor, provenance: &Provenance) -> Result<SshSession, SshError> {
        let private_key = self
            .secrets
            .get_for(host.private_key, &private_key_purpose(&host.name))
            .await
            .map_err(|error| {
                // The secret store's words go to the log, not to the page.
                tracing::error!(%error, host = host.name.as_str(), "the host's private key cannot be opened");
                SshError::BadPrivateKey
            })?;
        let key = ssh::parse_private_key(std::str::from_utf8(&private_key).map_err(|_| SshError::BadPrivateKey)?)?;
        let result = SshSession::connect(&host.target, &host.host_key.fingerprint, &key, self.ssh).await;
        if let Err(SshError::HostKeyChanged { pinned, presented }) = &result {
            let recorded = async {
                let mut tx = self.pool.begin().await?;
                sqlx::query!(
                    "UPDATE hosts SET presented_fingerprint = $2, presented_at = now() WHERE id = $1",
                    host.id,
                    presented
                )
                .execute(&mut *tx)
                .await?;
                AuditEntry::new(
                    by.clone(),
                    AuditAction::SshHostKeyChanged,
                    host.name.as_str(),
                    Outcome::Denied,
                )
                .detail("pinned", pinned.as_str())
                .detail("presented", presented.as_str())
                .from(provenance)
                .record(&mut tx)
                .await?;
                tx.commit().await?;
                self.listed.changed();
                Ok::<_, DomainError>(())
            };
            if let Err(error) = recorded.await {
                tracing::error!(%error, "could not record a host key change");
            }
        }
        result
    }
}

/// An SSH failure met while an admin registers or re-pins a host.
pub(super) fn ssh_failure(error: SshError) -> DomainError {
    DomainError::Remote(error)
}
