//! SSH to the hosts the console manages, through russh: read a host's key
//! (to show its fingerprint for confirmation), connect only to the pinned
//! key, authenticate with the host's private key, and run a command built
//! from validated values, with connect and command timeouts and keepalives.
//!
//! Every command runs in a session and process group of its own on the host
//! (`setsid`), which reports its number first; cancelling a command, or its
//! timeout, kills that whole group over a second channel, so nothing the
//! command started outlives it (closing the channel alone would not stop a
//! command that ignores SIGHUP). Output lines are capped at [`MAX_LINE`].

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::ChannelMsg;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::Sender;

use crate::error::{DomainError, Result};

mod bytes;
mod warm;

pub use bytes::StreamError;
pub use warm::{WarmKey, WarmSessions, IDLE_FOR};

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
        // A command's output comes in packets as large as SSH allows (half
        // as many to decrypt and cut into lines as with russh's 32 KiB)...
        maximum_packet_size: 65535,
        // Short messages go at once: with Nagle's algorithm, a channel
        // opened right after another closed waited for the host's delayed
        // acknowledgement (40 ms on Linux), on every command.
        nodelay: true,
        preferred: russh::Preferred {
            // ...sealed with AES-GCM first: the processors' AES instructions
            // make it cheaper than ChaCha20-Poly1305 at both ends.
            cipher: std::borrow::Cow::Borrowed(&[
                russh::cipher::AES_256_GCM,
                russh::cipher::CHACHA20_POLY1305,
                russh::cipher::AES_256_CTR,
                russh::cipher::AES_192_CTR,
                russh::cipher::AES_128_CTR,
            ]),
            ..Default::default()
        },
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
    /// Where the session waits once closed in good health (none: closed).
    warm: Option<(WarmSessions, WarmKey)>,
    /// False once the connection failed or timed out: never reused.
    healthy: AtomicBool,
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
        Ok(Self::over(handle, settings))
    }

    fn over(handle: Handle<PinnedKey>, settings: SshSettings) -> Self {
        Self {
            handle,
            settings,
            warm: None,
            healthy: AtomicBool::new(true),
        }
    }

    /// A session to `key`'s host: one waiting in `warm` if one still
    /// answers, otherwise `connect()`'s. Either way, once closed in good
    /// health it waits in `warm` for its next user.
    pub async fn reuse_or<F>(
        warm: &WarmSessions,
        key: WarmKey,
        settings: SshSettings,
        connect: F,
    ) -> Result<Self, SshError>
    where
        F: Future<Output = Result<Self, SshError>>,
    {
        let mut session = match warm.take(&key).await {
            Some(handle) => Self::over(handle, settings),
            None => connect.await?,
        };
        session.warm = Some((warm.clone(), key));
        Ok(session)
    }

    /// Runs `command`, sending every output line to `lines` as it comes.
    /// A slow receiver slows the reading (SSH flow control holds the remote
    /// side), so memory stays bounded whatever the output's size. Returns the
    /// exit status (`None` when the remote side sent none, e.g. killed by a
    /// signal). Fails on timeout or loss of the connection: it never hangs.
    pub async fn run(&self, command: &RemoteCommand, lines: &Sender<OutputLine>) -> Result<Option<u32>, SshError> {
        match self.run_until(command, lines, std::future::pending()).await? {
            Ended::Exited(status) => Ok(status),
            Ended::Cancelled => unreachable!("a pending future never resolves"),
        }
    }

    /// Runs `command` for a short answer (a state, a version, a list):
    /// its exit status and its standard output's lines.
    pub async fn answer(&self, command: &RemoteCommand) -> Result<(Option<u32>, Vec<String>), SshError> {
        let (sender, mut receiver) = tokio::sync::mpsc::channel(64);
        let run = async move {
            let status = self.run(command, &sender).await;
            drop(sender);
            status
        };
        let read = async {
            let mut lines = Vec::new();
            while let Some(line) = receiver.recv().await {
                if !line.stderr {
                    lines.push(line.text);
                }
            }
            lines
        };
        let (status, lines) = tokio::join!(run, read);
        Ok((status?, lines))
    }

    /// Like [`SshSession::run`], until `cancel` resolves: then, as on a
    /// timeout, the command's whole process group on the host is killed
    /// (SIGTERM, then SIGKILL a second later) before this returns.
    pub async fn run_until(
        &self,
        command: &RemoteCommand,
        lines: &Sender<OutputLine>,
        cancel: impl Future<Output = ()>,
    ) -> Result<Ended, SshError> {
        let line = in_own_process_group(command);
        let group = AtomicU32::new(0);
        let lost = |e: russh::Error| SshError::Lost(e.to_string());
        let work = async {
            let mut channel = self.handle.channel_open_session().await.map_err(lost)?;
            channel.exec(true, line.as_str()).await.map_err(lost)?;
            let mut stdout = LineBuffer::default();
            let mut stderr = StderrLines::default();
            let mut status = None;
            let mut ready = Vec::new();
            while let Some(message) = channel.wait().await {
                match message {
                    ChannelMsg::Data { ref data } => stdout.push(data, |l| ready.push(OutputLine::out(l))),
                    ChannelMsg::ExtendedData { ref data, ext: 1 } => stderr.push(data, &group, &mut ready),
                    ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                    _ => {}
                }
                // A receiver gone means nobody wants the rest: stop reading.
                if send_all(lines, &mut ready).await.is_err() {
                    return Ok(status);
                }
            }
            stdout.finish(|l| ready.push(OutputLine::out(l)));
            stderr.finish(&mut ready);
            let _ = send_all(lines, &mut ready).await;
            Ok(status)
        };
        let stopped = tokio::select! {
            ended = tokio::time::timeout(self.settings.command_timeout, work) => match ended {
                Ok(result) => return result.map(Ended::Exited).inspect_err(|_| self.unhealthy()),
                Err(_) => Err(SshError::TimedOut(self.settings.command_timeout)),
            },
            () = cancel => Ok(Ended::Cancelled),
        };
        if stopped.is_err() {
            self.unhealthy();
        }
        self.kill_process_group(group.load(Ordering::Relaxed)).await;
        stopped
    }

    /// Kills process group `id` on the host, over a channel of its own.
    async fn kill_process_group(&self, id: u32) {
        let Some(group) = ProcessGroup::new(id) else {
            tracing::warn!("the command's process group is unknown: it may still run on the host");
            return;
        };
        let kill = RemoteCommand::program("sh")
            .fixed("-c")
            .fixed(KILL_GROUP_SCRIPT)
            .fixed("sh")
            .arg(&group);
        let run = async {
            let mut channel = self.handle.channel_open_session().await?;
            channel.exec(true, kill.line().as_str()).await?;
            while let Some(message) = channel.wait().await {
                if let ChannelMsg::ExitStatus { .. } = message {
                    break;
                }
            }
            Ok::<_, russh::Error>(())
        };
        match tokio::time::timeout(self.settings.connect_timeout, run).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, group = id, "could not kill the command's process group"),
            Err(_) => tracing::warn!(group = id, "killing the command's process group timed out"),
        }
    }

    /// The connection is not to be reused.
    fn unhealthy(&self) {
        self.healthy.store(false, Ordering::Relaxed);
    }

    /// Done with the session: it waits for its next user when it came
    /// from [`SshSession::reuse_or`] and nothing went wrong, otherwise
    /// the connection closes.
    pub async fn close(self) {
        match self.warm {
            Some((warm, key)) if self.healthy.load(Ordering::Relaxed) && !self.handle.is_closed() => {
                warm.give_back(key, self.handle)
            }
            _ => {
                let _ = self.handle.disconnect(russh::Disconnect::ByApplication, "", "en").await;
            }
        }
    }
}

/// Sends `ready`'s lines in order, emptying it: room for a packet's lines
/// is taken at once, not line by line. Fails when the receiver is gone.
async fn send_all(lines: &Sender<OutputLine>, ready: &mut Vec<OutputLine>) -> Result<(), ()> {
    let mut ready = ready.drain(..);
    while ready.len() > 0 {
        let room = lines
            .reserve_many(ready.len().min(lines.max_capacity()))
            .await
            .map_err(|_| ())?;
        for (permit, line) in room.zip(&mut ready) {
            permit.send(line);
        }
    }
    Ok(())
}

/// How a command run with [`SshSession::run_until`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// It ended by itself, with this exit status (`None`: killed by a signal).
    Exited(Option<u32>),
    /// It was cancelled, and its process group killed.
    Cancelled,
}

/// What the wrapper prints first on stderr, followed by the process group's number.
const GROUP_REPORT: &str = "ocpizza-console-process-group ";

/// Runs `"$@"` after reporting its process group (its own pid, since
/// `setsid` made it a group leader).
const GROUP_WRAPPER: &str = "echo \"ocpizza-console-process-group $$\" >&2; exec \"$@\"";

/// Kills the group `$1` (`-<pgid>`): SIGTERM, then SIGKILL to what is left.
const KILL_GROUP_SCRIPT: &str =
    "kill -TERM \"$1\" 2>/dev/null || exit 0; sleep 1; kill -KILL \"$1\" 2>/dev/null; exit 0";

/// The line sent to the host: `command` in a new session and process group
/// (`setsid -w` waits for it and passes its exit status on).
fn in_own_process_group(command: &RemoteCommand) -> String {
    format!("exec setsid -w sh -c {} sh {}", quote(GROUP_WRAPPER), command.line())
}

/// A command's standard error as lines, less the wrapper's report of the
/// command's process group (its first line), which goes to `group`.
#[derive(Default)]
struct StderrLines {
    lines: LineBuffer,
    past_report: bool,
}

impl StderrLines {
    fn push(&mut self, data: &[u8], group: &AtomicU32, ready: &mut Vec<OutputLine>) {
        let past_report = &mut self.past_report;
        self.lines.push(data, |l| {
            // The wrapper's report comes before anything the command prints.
            if !std::mem::replace(past_report, true) {
                if let Some(id) = l.strip_prefix(GROUP_REPORT).and_then(|n| n.trim().parse().ok()) {
                    group.store(id, Ordering::Relaxed);
                    return;
                }
            }
            ready.push(OutputLine::err(l))
        })
    }

    fn finish(&mut self, ready: &mut Vec<OutputLine>) {
        self.lines.finish(|l| ready.push(OutputLine::err(l)));
    }
}

/// A process group on a host, as `kill` names a whole group: `-<pgid>`.
struct ProcessGroup(String);

impl ProcessGroup {
    /// Groups 0 and 1 would mean "every process": never.
    fn new(id: u32) -> Option<Self> {
        (id > 1).then(|| Self(format!("-{id}")))
    }
}

impl RemoteArgument for ProcessGroup {
    fn as_argument(&self) -> &str {
        &self.0
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

/// The longest output line kept: a host that sends more without a newline
/// gets its line cut there, with [`CUT_MARKER`], and the rest of that line
/// dropped, so a hostile or broken host cannot grow the console's memory.
pub const MAX_LINE: usize = 64 * 1024;
/// Ends a line cut at [`MAX_LINE`] bytes.
pub const CUT_MARKER: &str = " [… line cut: longer than 64 KiB]";

/// Cuts a byte stream into lines (lossy UTF-8), keeping a partial last line
/// until its end arrives, and no more than [`MAX_LINE`] bytes of it.
#[derive(Default)]
struct LineBuffer {
    line: Vec<u8>,
    /// The current line was cut: drop bytes until its newline.
    cut: bool,
}

impl LineBuffer {
    fn push(&mut self, data: &[u8], mut emit: impl FnMut(&str)) {
        for piece in data.split_inclusive(|b| *b == b'\n') {
            let (text, ends) = match piece.split_last() {
                Some((b'\n', text)) => (text, true),
                _ => (piece, false),
            };
            if !self.cut {
                let room = MAX_LINE - self.line.len();
                if text.len() > room {
                    self.line.extend_from_slice(&text[..room]);
                    emit(&format!("{}{CUT_MARKER}", String::from_utf8_lossy(&self.line)));
                    self.line = Vec::new();
                    self.cut = true;
                } else {
                    self.line.extend_from_slice(text);
                }
            }
            if ends {
                if !self.cut {
                    emit(lossy_utf8(&self.line).trim_end_matches('\r'));
                }
                self.line.clear();
                self.cut = false;
            }
        }
    }

    fn finish(&mut self, mut emit: impl FnMut(&str)) {
        if !self.cut && !self.line.is_empty() {
            emit(&lossy_utf8(&self.line));
        }
        self.line.clear();
        self.cut = false;
    }
}

/// `bytes` as text, invalid sequences replaced: checked by the standard
/// library's faster validation first (a line is nearly always valid).
fn lossy_utf8(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.into(),
        Err(_) => String::from_utf8_lossy(bytes),
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
    fn commands_run_in_their_own_process_group_and_only_real_groups_are_killed() {
        let line = in_own_process_group(&RemoteCommand::program("sleep").fixed("600"));
        assert!(line.starts_with("exec setsid -w sh -c '"), "{line}");
        assert!(line.ends_with("' sh sleep 600"), "{line}");
        assert!(ProcessGroup::new(0).is_none() && ProcessGroup::new(1).is_none());
        assert_eq!(ProcessGroup::new(4242).unwrap().as_argument(), "-4242");
    }

    #[test]
    fn an_endless_line_is_cut_at_the_cap_and_the_next_line_kept() {
        let mut buffer = LineBuffer::default();
        let mut lines = Vec::new();
        let packet = vec![b'x'; 32 * 1024];
        for _ in 0..100 {
            buffer.push(&packet, |l| lines.push(l.to_owned()));
            assert!(buffer.line.capacity() <= 2 * MAX_LINE, "the buffer stays bounded");
        }
        buffer.push(b"xx\nnext\n", |l| lines.push(l.to_owned()));
        buffer.push(&vec![b'y'; MAX_LINE], |l| lines.push(l.to_owned()));
        buffer.finish(|l| lines.push(l.to_owned()));
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].len(), MAX_LINE + CUT_MARKER.len());
        assert!(lines[0].ends_with(CUT_MARKER));
        assert_eq!(lines[1], "next");
        assert_eq!(lines[2].len(), MAX_LINE, "a line of exactly the cap is whole");
    }

    #[test]
    fn a_generated_key_pair_parses_back_and_shows_an_authorized_keys_line() {
        let (private, public) = generate_key_pair("ocpizza-console").unwrap();
        assert!(public.starts_with("ssh-ed25519 "));
        assert!(parse_private_key(&private).is_ok());
        assert!(parse_private_key("not a key").is_err());
    }
}
