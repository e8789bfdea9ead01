//! The hosts the console manages (manual §4.1.2): where to reach them over
//! SSH, the console's key for them (sealed in the secret store), the host key
//! an admin confirmed and pinned, the app directory, the services and how to
//! control them, the site's URL. Every change is audited.

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use time::OffsetDateTime;

use crate::accounts::{Operator, Role};
use crate::audit::{AuditEntry, Outcome, Provenance};
use crate::error::{DomainError, Result};
use crate::secrets::{SecretId, SecretStore, Zeroizing};
use crate::ssh::{
    self, read_host_key, HostKey, RemoteArgument, RemoteCommand, SshAddress, SshError, SshSession, SshSettings,
    SshTarget, SshUser,
};

/// A host's name in the console: 1 to 63 of `a-z 0-9 -`, starting with a
/// letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostName(String);

impl HostName {
    pub fn parse(raw: &str) -> Result<Self> {
        let name = raw.trim().to_lowercase();
        let valid = (1..=63).contains(&name.len())
            && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        valid
            .then_some(Self(name))
            .ok_or_else(|| DomainError::invalid("name", "error-host-name"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A systemd unit (or service) name: `A-Z a-z 0-9 @ . _ -`, not starting
/// with `-`, at most 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitName(String);

impl UnitName {
    pub fn parse(raw: &str, field: &'static str) -> Result<Self> {
        let raw = raw.trim();
        let valid = (1..=64).contains(&raw.len())
            && !raw.starts_with('-')
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '@' | '.' | '_' | '-'));
        valid
            .then(|| Self(raw.to_owned()))
            .ok_or_else(|| DomainError::invalid(field, "error-unit-name"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl RemoteArgument for UnitName {
    fn as_argument(&self) -> &str {
        &self.0
    }
}

/// An absolute path on a host: `/` then `A-Z a-z 0-9 / . _ -`, no `..`
/// component, at most 255 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemotePath(String);

impl RemotePath {
    pub fn parse(raw: &str, field: &'static str) -> Result<Self> {
        let raw = raw.trim();
        let valid = raw.starts_with('/')
            && raw.len() <= 255
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'))
            && !raw.split('/').any(|part| part == "..");
        valid
            .then(|| Self(raw.to_owned()))
            .ok_or_else(|| DomainError::invalid(field, "error-remote-path"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl RemoteArgument for RemotePath {
    fn as_argument(&self) -> &str {
        &self.0
    }
}

/// What a service-control command does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServiceVerb {
    Stop,
    Restart,
    IsActive,
}

impl ServiceVerb {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceVerb::Stop => "stop",
            ServiceVerb::Restart => "restart",
            ServiceVerb::IsActive => "is-active",
        }
    }
}

/// How a host's services are controlled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServiceControl {
    /// `sudo -n systemctl <verb> <unit>` (the default).
    Systemd,
    /// `<program> <unit> <verb>`, for hosts without systemd.
    Command(RemotePath),
}

impl ServiceControl {
    pub fn command(&self, unit: &UnitName, verb: ServiceVerb) -> RemoteCommand {
        match self {
            ServiceControl::Systemd => RemoteCommand::program("sudo")
                .fixed("-n")
                .fixed("systemctl")
                .fixed(verb.as_str())
                .arg(unit),
            ServiceControl::Command(program) => {
                RemoteCommand::validated_program(program).arg(unit).fixed(verb.as_str())
            }
        }
    }
}

/// A registered host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub id: i64,
    pub name: HostName,
    pub target: SshTarget,
    pub private_key: SecretId,
    pub public_key: String,
    pub host_key: HostKey,
    /// The key the host presented instead of the pinned one, and when.
    pub key_alert: Option<(String, OffsetDateTime)>,
    pub app_dir: RemotePath,
    pub web_service: UnitName,
    pub wsgi_service: UnitName,
    pub control: ServiceControl,
    pub site_url: String,
}

#[derive(sqlx::FromRow)]
struct HostRow {
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
    fn host(self) -> Result<Host> {
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

const HOST_COLUMNS: &str = "id, name, ssh_address, ssh_port, ssh_user, private_key_secret, public_key, host_key, \
     host_key_fingerprint, presented_fingerprint, presented_at, app_dir, web_service, wsgi_service, service_command, site_url";

/// The versions the manual requires (§3.1-3.2); newer passes, older warns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredVersions {
    pub nginx: String,
    pub gunicorn: String,
    pub postgresql: String,
}

impl Default for RequiredVersions {
    fn default() -> Self {
        Self {
            nginx: "1.21.6".into(),
            gunicorn: "20.1".into(),
            postgresql: "12.9".into(),
        }
    }
}

impl RequiredVersions {
    pub fn as_pairs(&self) -> [(&str, &str); 3] {
        [
            ("nginx", &self.nginx),
            ("gunicorn", &self.gunicorn),
            ("postgresql", &self.postgresql),
        ]
    }
}

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

/// The registered hosts and what is done with them.
#[derive(Clone, Debug)]
pub struct HostDirectory {
    pool: PgPool,
    secrets: SecretStore,
    ssh: SshSettings,
}

/// A service's state as `systemctl is-active` says it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceState {
    pub unit: String,
    /// `active`, `inactive`, `failed`… as printed, or empty when unknown.
    pub state: String,
}

impl HostDirectory {
    /// Asks the host for the state of its web and WSGI servers (a read: no
    /// job, no lock).
    pub async fn service_states(
        &self,
        host: &Host,
        by: &Operator,
        provenance: &Provenance,
    ) -> Result<Vec<ServiceState>, SshError> {
        let session = self.connect(host, by, provenance).await?;
        let mut states = Vec::new();
        for unit in [&host.web_service, &host.wsgi_service] {
            let (sender, mut receiver) = tokio::sync::mpsc::channel(64);
            let run = session
                .run(&host.control.command(unit, ServiceVerb::IsActive), &sender)
                .await;
            drop(sender);
            let mut state = String::new();
            while let Some(line) = receiver.recv().await {
                if !line.stderr && state.is_empty() {
                    state = line.text.trim().to_owned();
                }
            }
            run?;
            states.push(ServiceState {
                unit: unit.as_str().to_owned(),
                state,
            });
        }
        session.close().await;
        Ok(states)
    }

    pub fn new(pool: PgPool, secrets: SecretStore, ssh: SshSettings) -> Self {
        Self { pool, secrets, ssh }
    }

    pub fn ssh_settings(&self) -> SshSettings {
        self.ssh
    }

    pub async fn list(&self) -> Result<Vec<Host>> {
        let rows: Vec<HostRow> = sqlx::query_as(&format!("SELECT {HOST_COLUMNS} FROM hosts ORDER BY name"))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(HostRow::host).collect()
    }

    pub async fn get(&self, id: i64) -> Result<Host> {
        let row: Option<HostRow> = sqlx::query_as(&format!("SELECT {HOST_COLUMNS} FROM hosts WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.ok_or(DomainError::NotFound("host"))?.host()
    }

    /// Reads the key a host presents, for an admin to compare with the
    /// host's real fingerprint before pinning it.
    pub async fn read_host_key(&self, by: &Operator, address: &str, port: u16) -> Result<HostKey> {
        by.require(Role::Admin)?;
        let target = SshTarget {
            address: SshAddress::parse(address)?,
            port,
            user: SshUser::parse("root")?,
        };
        read_host_key(&target, &self.ssh).await.map_err(ssh_failure)
    }

    /// Registers a host, pinning the key the admin confirmed. The host is
    /// asked again: if it now shows another key, nothing is stored.
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
    pub async fn register_demo_host(
        &self,
        registration: HostRegistration,
        host_key_file_line: &str,
    ) -> Result<Option<Host>> {
        let hosts: i64 = sqlx::query_scalar("SELECT count(*) FROM hosts")
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
        let row: HostRow = sqlx::query_as(&format!(
            "INSERT INTO hosts (name, ssh_address, ssh_port, ssh_user, private_key_secret, public_key, host_key,
                                host_key_fingerprint, app_dir, web_service, wsgi_service, service_command, site_url)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING {HOST_COLUMNS}"
        ))
        .bind(name.as_str())
        .bind(target.address.as_str())
        .bind(i32::from(target.port))
        .bind(target.user.as_str())
        .bind(secret)
        .bind(&public_key)
        .bind(&presented.openssh)
        .bind(&presented.fingerprint)
        .bind(app_dir.as_str())
        .bind(web_service.as_str())
        .bind(wsgi_service.as_str())
        .bind(service_command.as_ref().map(RemotePath::as_str))
        .bind(&site_url)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| DomainError::on_constraint(e, "hosts_name_key", "name", "error-host-name-taken"))?;
        AuditEntry::new(actor, "host.register", name.as_str(), Outcome::Success)
            .detail(
                "ssh",
                format!("{}@{}:{}", target.user.as_str(), target.address.as_str(), target.port),
            )
            .detail("host_key", presented.fingerprint.as_str())
            .from(provenance)
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        row.host()
    }

    /// Pins the key the host now presents, after an admin confirmed it.
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
        sqlx::query(
            "UPDATE hosts SET host_key = $2, host_key_fingerprint = $3, presented_fingerprint = NULL, presented_at = NULL
             WHERE id = $1",
        )
        .bind(host_id)
        .bind(&presented.openssh)
        .bind(&presented.fingerprint)
        .execute(&mut *tx)
        .await?;
        AuditEntry::new(by.actor(), "host.repin", host.name.as_str(), Outcome::Success)
            .detail("from", host.host_key.fingerprint.as_str())
            .detail("to", presented.fingerprint.as_str())
            .from(provenance)
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        self.get(host_id).await
    }

    /// Opens an SSH session to the host with its pinned key. A host showing
    /// another key is refused, recorded as an alert on the host, and audited
    /// as a denial on behalf of `by`.
    pub async fn connect(&self, host: &Host, by: &Operator, provenance: &Provenance) -> Result<SshSession, SshError> {
        let private_key = self
            .secrets
            .get_for(host.private_key, &private_key_purpose(&host.name))
            .await
            .map_err(|e| SshError::Lost(format!("the host's key cannot be read: {e}")))?;
        let key = ssh::parse_private_key(std::str::from_utf8(&private_key).map_err(|_| SshError::BadPrivateKey)?)?;
        let result = SshSession::connect(&host.target, &host.host_key.fingerprint, &key, self.ssh).await;
        if let Err(SshError::HostKeyChanged { pinned, presented }) = &result {
            let recorded = async {
                let mut tx = self.pool.begin().await?;
                sqlx::query("UPDATE hosts SET presented_fingerprint = $2, presented_at = now() WHERE id = $1")
                    .bind(host.id)
                    .bind(presented)
                    .execute(&mut *tx)
                    .await?;
                AuditEntry::new(by.actor(), "ssh.host_key_changed", host.name.as_str(), Outcome::Denied)
                    .detail("pinned", pinned.as_str())
                    .detail("presented", presented.as_str())
                    .from(provenance)
                    .record(&mut tx)
                    .await?;
                tx.commit().await?;
                Ok::<_, DomainError>(())
            };
            if let Err(error) = recorded.await {
                tracing::error!(%error, "could not record a host key change");
            }
        }
        result
    }
}

/// What a host's private key is stored for in the secret store: the value is
/// sealed to it, and read back only for this host.
fn private_key_purpose(name: &HostName) -> String {
    format!("host:{}:private_key", name.as_str())
}

fn parse_site_url(raw: &str) -> Result<String> {
    let raw = raw.trim();
    let valid = (raw.starts_with("http://") || raw.starts_with("https://"))
        && raw.len() <= 2000
        && !raw.chars().any(|c| c.is_whitespace() || c.is_control());
    valid
        .then(|| raw.to_owned())
        .ok_or_else(|| DomainError::invalid("site_url", "error-site-url"))
}

/// An SSH failure met while an admin registers or re-pins a host.
fn ssh_failure(error: SshError) -> DomainError {
    DomainError::Remote(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_units_and_paths_refuse_injection() {
        for bad in ["nginx; reboot", "-nginx", "$(id)", "ng inx", "", "a`b`"] {
            assert!(UnitName::parse(bad, "web_service").is_err(), "{bad:?}");
        }
        assert!(UnitName::parse("gunicorn@ocpizza.service", "wsgi_service").is_ok());
        for bad in [
            "relative/path",
            "/srv/../etc",
            "/srv/app;rm",
            "/srv/$HOME",
            "/srv/a b",
            "",
        ] {
            assert!(RemotePath::parse(bad, "app_dir").is_err(), "{bad:?}");
        }
        assert!(RemotePath::parse("/srv/ocpizza/app", "app_dir").is_ok());
        for bad in ["Prod!", "-x", "", &"h".repeat(64)] {
            assert!(HostName::parse(bad).is_err(), "{bad:?}");
        }
    }

    /// Property: whatever shell metacharacter is slipped anywhere into a
    /// valid value, every newtype that reaches a command line refuses it.
    #[test]
    fn no_shell_metacharacter_survives_any_newtype_anywhere() {
        const HOSTILE: [char; 24] = [
            ';', '&', '|', '$', '`', '(', ')', '<', '>', '\'', '"', '\\', ' ', '\n', '\t', '*', '?', '[', ']', '{',
            '}', '!', '#', '~',
        ];
        let valid = [
            ("nginx", 0),
            ("/srv/ocpizza/app", 1),
            ("staging-1", 2),
            ("deploy", 3),
            ("vps.ocpizza.fr", 4),
        ];
        let accepts = |kind: usize, text: &str| match kind {
            0 => UnitName::parse(text, "web_service").is_ok(),
            1 => RemotePath::parse(text, "app_dir").is_ok(),
            2 => HostName::parse(text).is_ok(),
            3 => SshUser::parse(text).is_ok(),
            _ => SshAddress::parse(text).is_ok(),
        };
        let mut tried = 0;
        for (base, kind) in valid {
            assert!(accepts(kind, base), "{base} must be valid");
            for hostile in HOSTILE {
                for at in 0..=base.len() {
                    let mut candidate = base.to_owned();
                    candidate.insert(at, hostile);
                    let trimmed_away = matches!(hostile, ' ' | '\n' | '\t') && (at == 0 || at == base.len());
                    if !trimmed_away {
                        assert!(!accepts(kind, &candidate), "{candidate:?} was accepted");
                    }
                    tried += 1;
                }
            }
        }
        assert!(tried > 1000);
    }

    #[test]
    fn service_commands_are_systemctl_through_sudo_or_the_hosts_own_program() {
        let unit = UnitName::parse("nginx", "web_service").unwrap();
        assert_eq!(
            ServiceControl::Systemd.command(&unit, ServiceVerb::Stop).line(),
            "sudo -n systemctl stop nginx"
        );
        let program = RemotePath::parse("/opt/staging/bin/service", "service_command").unwrap();
        assert_eq!(
            ServiceControl::Command(program)
                .command(&unit, ServiceVerb::IsActive)
                .line(),
            "/opt/staging/bin/service nginx is-active"
        );
    }

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

    #[test]
    fn site_urls_are_http_or_https() {
        assert!(parse_site_url("https://www.ocpizza.fr/").is_ok());
        for bad in ["ftp://x", "javascript:alert(1)", "http://a b"] {
            assert!(parse_site_url(bad).is_err(), "{bad:?}");
        }
    }
}
