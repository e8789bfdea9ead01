//! The hosts table: a row read back into a [`Host`] (every value validated
//! again on the way out), and the lists the pages show.

use time::OffsetDateTime;

use super::{Host, HostDirectory, HostName, RemotePath, ServiceControl, UnitName};
use crate::error::{DomainError, Result};
use crate::secrets::SecretId;
use crate::ssh::{HostKey, SshAddress, SshTarget, SshUser};

pub(super) struct HostRow {
    id: i64,
    name: String,
    ssh_address: String,
    ssh_port: i32,
    ssh_user: String,
    private_key_secret: i64,
    public_key: String,
    host_key: String,
    host_key_fingerprint: String,
    presented_fingerprint: Option<String>,
    presented_at: Option<OffsetDateTime>,
    app_dir: String,
    web_service: String,
    wsgi_service: String,
    service_command: Option<String>,
    site_url: String,
}

impl HostRow {
    pub(super) fn host(self) -> Result<Host> {
        Ok(Host {
            id: self.id,
            name: HostName::parse(&self.name)?,
            target: SshTarget {
                address: SshAddress::parse(&self.ssh_address)?,
                port: u16::try_from(self.ssh_port).map_err(|_| DomainError::invalid("ssh_port", "error-ssh-port"))?,
                user: SshUser::parse(&self.ssh_user)?,
            },
            private_key: SecretId(self.private_key_secret),
            public_key: self.public_key,
            host_key: HostKey {
                openssh: self.host_key,
                fingerprint: self.host_key_fingerprint,
            },
            key_alert: self.presented_fingerprint.zip(self.presented_at),
            app_dir: RemotePath::parse(&self.app_dir, "app_dir")?,
            web_service: UnitName::parse(&self.web_service, "web_service")?,
            wsgi_service: UnitName::parse(&self.wsgi_service, "wsgi_service")?,
            control: match self.service_command {
                Some(program) => ServiceControl::Command(RemotePath::parse(&program, "service_command")?),
                None => ServiceControl::Systemd,
            },
            site_url: self.site_url,
        })
    }
}

/// Every host, or the one whose id is given: the one place the hosts table
/// is read, so its columns are listed once.
pub(super) async fn host_rows(executor: impl sqlx::PgExecutor<'_>, id: Option<i64>) -> Result<Vec<HostRow>> {
    Ok(sqlx::query_as!(
        HostRow,
        "SELECT id, name, ssh_address, ssh_port, ssh_user, private_key_secret, public_key, host_key,
                host_key_fingerprint, presented_fingerprint, presented_at, app_dir, web_service, wsgi_service,
                service_command, site_url
         FROM hosts WHERE $1::bigint IS NULL OR id = $1 ORDER BY name",
        id
    )
    .fetch_all(executor)
    .await?)
}

impl HostDirectory {
    /// Every host, by name: remembered from one change of the hosts table
    /// to the next while its announcements are heard (this process's own
    /// changes are forgotten at once), read otherwise.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn list(&self) -> Result<Vec<Host>> {
        let hosts = self
            .listed
            .get(|| async {
                host_rows(&self.pool, None)
                    .await?
                    .into_iter()
                    .map(HostRow::host)
                    .collect()
            })
            .await?;
        Ok(hosts.as_ref().clone())
    }

    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn get(&self, id: i64) -> Result<Host> {
        let row = host_rows(&self.pool, Some(id)).await?.pop();
        row.ok_or(DomainError::NotFound("host"))?.host()
    }
}
