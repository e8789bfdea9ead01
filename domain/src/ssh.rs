//! SSH to the hosts the console manages, through russh: read a host's key
//! (to show its fingerprint for confirmation), connect only to the pinned
//! key, authenticate with the host's private key, and run a command built
//! from validated values, with connect and command timeouts and keepalives.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::ChannelMsg;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::Sender;

use crate::error::{DomainError, Result};

/// Where and as whom to connect. Built only from validated parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    pub address: SshAddress,
    pub port: u16,
    pub user: SshUser,
}

/// A host name or IP address: letters, digits, `.`, `-`, `:` (IPv6), at most
/// 253 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshAddress(String);

impl SshAddress {
    pub fn parse(raw: &str) -> Result<Self> {
        let raw = raw.trim();
        let valid = !raw.is_empty()
            && raw.len() <= 253
            && !raw.starts_with('-')
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
        valid
            .then(|| Self(raw.to_owned()))
            .ok_or_else(|| DomainError::invalid("ssh_address", "error-ssh-address"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A POSIX user name: `[a-z_][a-z0-9_-]*`, at most 32 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshUser(String);

impl SshUser {
    pub fn parse(raw: &str) -> Result<Self> {
        let raw = raw.trim();
        let mut chars = raw.chars();
        let valid = raw.len() <= 32
            && chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'));
        valid
            .then(|| Self(raw.to_owned()))
            .ok_or_else(|| DomainError::invalid("ssh_user", "error-ssh-user"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A host's public key, as OpenSSH writes it, and its SHA-256 fingerprint
/// (`SHA256:…`, what `ssh-keygen -lf` shows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostKey {
    pub openssh: String,
    pub fingerprint: String,
}

impl HostKey {
    fn of(key: &PublicKey) -> Self {
        Self {
            openssh: key.to_openssh().unwrap_or_default(),
            fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
        }
    }
}

/// Timeouts and keepalives, from configuration.
#[derive(Debug, Clone, Copy)]
pub struct SshSettings {
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    pub keepalive_interval: Duration,
}

impl Default for SshSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            command_timeout: Duration::from_secs(300),
            keepalive_interval: Duration::from_secs(15),
        }
    }
}

/// Why an SSH operation failed, in terms an operator can act on.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SshError {
    #[error("the host does not answer on its SSH port: {0}")]
    Unreachable(String),
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
    #[error("the host presented key {presented}, not the pinned {pinned}")]
    HostKeyChanged { pinned: String, presented: String },
    #[error("the host refused the console's key for this user")]
    AuthenticationRefused,
    #[error("the connection was lost: {0}")]
    Lost(String),
    #[error("the private key is not a valid OpenSSH private key")]
    BadPrivateKey,
}

struct PinnedKey {
    pinned: Option<String>,
    presented: Arc<Mutex<Option<HostKey>>>,
}

impl client::Handler for PinnedKey {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let public = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            PublicKeyOrCertificate::Certificate(certificate) => PublicKey::from(certificate.public_key().clone()),
        };
        let presented = HostKey::of(&public);
        let accepted = self.pinned.as_deref() == Some(presented.fingerprint.as_str());
        *self.presented.lock().expect("not poisoned") = Some(presented);
        Ok(accepted)
    }
}

fn config(settings: &SshSettings) -> Arc<client::Config> {
    Arc::new(client::Config {
        keepalive_interval: Some(settings.keepalive_interval),
        keepalive_max: 3,
        inactivity_timeout: Some(settings.command_timeout),
        ..Default::default()
    })
}

/// Connects without trusting anything and returns the key the host shows:
/// for the operator to compare with the host's real fingerprint.
pub async fn read_host_key(target: &SshTarget, settings: &SshSettings) -> Result<HostKey, SshError> {
    let presented = Arc::new(Mutex::new(None));
    let handler = PinnedKey {
        pinned: None,
        presented: presented.clone(),
    };
    let attempt = client::connect(config(settings), (target.address.as_str(), target.port), handler);
    let outcome = tokio::time::timeout(settings.connect_timeout, attempt).await;
    let seen = presented.lock().expect("not poisoned").take();
    match (seen, outcome) {
        (Some(key), _) => Ok(key),
        (None, Err(_)) => Err(SshError::TimedOut(settings.connect_timeout)),
        (None, Ok(Err(error))) => Err(SshError::Unreachable(error.to_string())),
        (None, Ok(Ok(_))) => Err(SshError::Lost("the host showed no key".into())),
    }
}

/// A value that may stand as one argument of a remote command: only
/// validated types implement it, so no remote command line is ever built from
/// a raw string.
pub trait RemoteArgument {
    fn as_argument(&self) -> &str;
}

impl RemoteArgument for SshUser {
    fn as_argument(&self) -> &str {
        self.as_str()
    }
}

/// A command line for a host: a program and arguments, each single-quoted
/// for the remote shell when needed. Built from constants and validated
/// values only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteCommand {
    words: Vec<String>,
}

impl RemoteCommand {
    /// Starts with a program name fixed in the console's code.
    pub fn program(program: &'static str) -> Self {
        Self {
            words: vec![quote(program)],
        }
    }

    /// Starts with a program given as a validated path (a host's own
    /// service-control program).
    pub fn validated_program(program: &dyn RemoteArgument) -> Self {
        Self {
            words: vec![quote(program.as_argument())],
        }
    }

    /// Adds an argument fixed in the console's code.
    pub fn fixed(mut self, argument: &'static str) -> Self {
        self.words.push(quote(argument));
        self
    }

    /// Adds a validated value as one argument.
    pub fn arg(mut self, argument: &dyn RemoteArgument) -> Self {
        self.words.push(quote(argument.as_argument()));
        self
    }

    /// The line sent to the host (also what the job page shows).
    pub fn line(&self) -> String {
        self.words.join(" ")
    }
}

/// Single-quotes a word for a POSIX shell: nothing inside is interpreted.
fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r#"'\''"#))
    }
}

/// An open, authenticated connection to a host whose key matched the pin.
pub struct SshSession {
    handle: Handle<PinnedKey>,
    settings: SshSettings,
}

/// Parses an OpenSSH private key (as pasted or generated).
pub fn parse_private_key(text: &str) -> Result<PrivateKey, SshError> {
    russh::keys::decode_secret_key(text, None).map_err(|_| SshError::BadPrivateKey)
}

/// A fresh Ed25519 key pair: (private key in OpenSSH form, public key line
/// for `authorized_keys`).
pub fn generate_key_pair(comment: &str) -> Result<(crate::secrets::Zeroizing<String>, String)> {
    let mut seed = crate::secrets::Zeroizing::new([0u8; 32]);
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, seed.as_mut());
    let keypair = russh::keys::ssh_key::private::Ed25519Keypair::from_seed(&seed);
    let mut key = PrivateKey::from(keypair);
    key.set_comment(comment);
    let private = key
        .to_openssh(russh::keys::ssh_key::LineEnding::LF)
        .map_err(|e| DomainError::Internal(format!("key encoding: {e}")))?;
    let public = key
        .public_key()
        .to_openssh()
        .map_err(|e| DomainError::Internal(format!("key encoding: {e}")))?;
    Ok((crate::secrets::Zeroizing::new(private.to_string()), public))
}

impl SshSession {
    /// Connects to `target`, checks its key against `pinned_fingerprint`,
    /// and signs in with `private_key`.
    pub async fn connect(
        target: &SshTarget,
        pinned_fingerprint: &str,
        private_key: &PrivateKey,
        settings: SshSettings,
    ) -> Result<Self, SshError> {
        let presented = Arc::new(Mutex::new(None));
        let handler = PinnedKey {
            pinned: Some(pinned_fingerprint.to_owned()),
            presented: presented.clone(),
        };
        let connect = async {
            let mut handle = client::connect(config(&settings), (target.address.as_str(), target.port), handler)
                .await
                .map_err(|error| match presented.lock().expect("not poisoned").take() {
                    Some(key) if key.fingerprint != pinned_fingerprint => SshError::HostKeyChanged {
                        pinned: pinned_fingerprint.to_owned(),
                        presented: key.fingerprint,
                    },
                    _ => SshError::Unreachable(error.to_string()),
                })?;
            let hash = handle
                .best_supported_rsa_hash()
                .await
                .map_err(|e| SshError::Lost(e.to_string()))?
                .flatten();
            let auth = handle
                .authenticate_publickey(
                    target.user.as_str(),
                    PrivateKeyWithHashAlg::new(Arc::new(private_key.clone()), hash),
                )
                .await
                .map_err(|e| SshError::Lost(e.to_string()))?;
            if !auth.success() {
                return Err(SshError::AuthenticationRefused);
            }
            Ok(handle)
        };
        let handle = tokio::time::timeout(settings.connect_timeout, connect)
            .await
            .map_err(|_| SshError::TimedOut(settings.connect_timeout))??;
        Ok(Self { handle, settings })
    }

    /// Runs `command`, sending every output line to `lines` as it comes.
    /// A slow receiver slows the reading (SSH flow control holds the remote
    /// side), so memory stays bounded whatever the output's size. Returns the
    /// exit status (`None` when the remote side sent none, e.g. killed by a
    /// signal). Fails on timeout or loss of the connection: it never hangs.
    pub async fn run(&self, command: &RemoteCommand, lines: &Sender<OutputLine>) -> Result<Option<u32>, SshError> {
        let command = command.line();
        let lost = |e: russh::Error| SshError::Lost(e.to_string());
        let work = async {
            let mut channel = self.handle.channel_open_session().await.map_err(lost)?;
            channel.exec(true, command.as_str()).await.map_err(lost)?;
            let mut stdout = LineBuffer::default();
            let mut stderr = LineBuffer::default();
            let mut status = None;
            let mut ready = Vec::new();
            while let Some(message) = channel.wait().await {
                match message {
                    ChannelMsg::Data { ref data } => stdout.push(data, |l| ready.push(OutputLine::out(l))),
                    ChannelMsg::ExtendedData { ref data, ext: 1 } => {
                        stderr.push(data, |l| ready.push(OutputLine::err(l)))
                    }
                    ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                    _ => {}
                }
                for line in ready.drain(..) {
                    // A receiver gone means nobody wants the rest: stop reading.
                    if lines.send(line).await.is_err() {
                        return Ok(status);
                    }
                }
            }
            stdout.finish(|l| ready.push(OutputLine::out(l)));
            stderr.finish(|l| ready.push(OutputLine::err(l)));
            for line in ready {
                let _ = lines.send(line).await;
            }
            Ok(status)
        };
        tokio::time::timeout(self.settings.command_timeout, work)
            .await
            .map_err(|_| SshError::TimedOut(self.settings.command_timeout))?
    }

    pub async fn close(self) {
        let _ = self.handle.disconnect(russh::Disconnect::ByApplication, "", "en").await;
    }
}

/// One line of a command's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    pub stderr: bool,
    pub text: String,
}

impl OutputLine {
    fn out(text: &str) -> Self {
        Self {
            stderr: false,
            text: text.to_owned(),
        }
    }

    fn err(text: &str) -> Self {
        Self {
            stderr: true,
            text: text.to_owned(),
        }
    }
}

/// Cuts a byte stream into lines (lossy UTF-8), keeping a partial last line
/// until its end arrives.
#[derive(Default)]
struct LineBuffer(Vec<u8>);

impl LineBuffer {
    fn push(&mut self, data: &[u8], mut emit: impl FnMut(&str)) {
        self.0.extend_from_slice(data);
        while let Some(end) = self.0.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.0.drain(..=end).collect();
            emit(String::from_utf8_lossy(&line[..line.len() - 1]).trim_end_matches('\r'));
        }
    }

    fn finish(&mut self, mut emit: impl FnMut(&str)) {
        if !self.0.is_empty() {
            emit(&String::from_utf8_lossy(&self.0));
            self.0.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_users_refuse_shell_metacharacters() {
        for bad in ["host;rm -rf /", "-oProxyCommand=x", "a b", "$(id)", "", "h\0st"] {
            assert!(SshAddress::parse(bad).is_err(), "{bad:?}");
        }
        assert!(SshAddress::parse("vps.ocpizza.fr").is_ok());
        assert!(SshAddress::parse("::1").is_ok());
        for bad in ["Root", "a;b", "-x", "", "user name", &"u".repeat(33)] {
            assert!(SshUser::parse(bad).is_err(), "{bad:?}");
        }
        assert!(SshUser::parse("deploy").is_ok());
    }

    #[test]
    fn remote_arguments_are_quoted_so_the_shell_interprets_nothing() {
        let user = SshUser::parse("deploy").unwrap();
        let line = RemoteCommand::program("id")
            .arg(&user)
            .fixed("a b; rm -rf / $(x) 'q'")
            .line();
        assert_eq!(line, r#"id deploy 'a b; rm -rf / $(x) '\''q'\'''"#);
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn lines_are_cut_across_packets_and_the_last_partial_line_is_kept() {
        let mut buffer = LineBuffer::default();
        let mut lines = Vec::new();
        buffer.push(b"first li", |l| lines.push(l.to_owned()));
        buffer.push(b"ne\r\nsecond\nthi", |l| lines.push(l.to_owned()));
        buffer.finish(|l| lines.push(l.to_owned()));
        assert_eq!(lines, ["first line", "second", "thi"]);
    }

    #[test]
    fn a_generated_key_pair_parses_back_and_shows_an_authorized_keys_line() {
        let (private, public) = generate_key_pair("ocpizza-console").unwrap();
        assert!(public.starts_with("ssh-ed25519 "));
        assert!(parse_private_key(&private).is_ok());
        assert!(parse_private_key("not a key").is_err());
    }
}
