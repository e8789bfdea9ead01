//! Byte streams over SSH, for payloads that are not output lines (a
//! database dump going out, a dump going back in): a remote command's
//! standard output copied into a local writer, or a local reader fed into
//! its standard input. Flow control holds the slower side both ways (a slow
//! writer stops the reading, and SSH's window then stops the host), so the
//! memory used stays bounded whatever the size. The command's standard
//! error still arrives as lines, and a cancel, a stall or a failure on
//! either side kills the command's process group on the host, as
//! [`SshSession::run_until`] does.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};

use russh::ChannelMsg;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc::Sender;

use super::{in_own_process_group, send_all, Ended, OutputLine, RemoteCommand, SshError, SshSession, StderrLines};

/// Why a byte stream stopped: the host's side, or the console's own side
/// (the writer refused the bytes: storage full; the reader failed: a
/// stored object that does not decrypt).
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error(transparent)]
    Ssh(#[from] SshError),
    #[error("the console's side of the stream failed: {0}")]
    Local(io::Error),
}

/// Bytes read from the local side per write to the host.
const FEED_CHUNK: usize = 64 * 1024;

impl SshSession {
    /// Runs `command` and copies its standard output into `sink`, byte for
    /// byte, until the command ends; standard error goes to `lines`. The
    /// command may run for as long as bytes keep coming: it fails once
    /// nothing arrived for the command timeout. Returns how the command
    /// ended; a failing `sink` is a [`StreamError::Local`].
    pub async fn stream_stdout<W: AsyncWrite + Unpin>(
        &self,
        command: &RemoteCommand,
        sink: &mut W,
        lines: &Sender<OutputLine>,
        cancel: impl Future<Output = ()>,
    ) -> Result<Ended, StreamError> {
        let group = AtomicU32::new(0);
        let stall = self.settings.command_timeout;
        let work = async {
            let mut channel = self.open_exec(command).await?;
            let mut stderr = StderrLines::default();
            let mut ready = Vec::new();
            let mut status = None;
            loop {
                let message = tokio::time::timeout(stall, channel.wait())
                    .await
                    .map_err(|_| SshError::TimedOut(stall))?;
                match message {
                    None => break,
                    Some(ChannelMsg::Data { data }) => sink.write_all(&data).await.map_err(StreamError::Local)?,
                    Some(ChannelMsg::ExtendedData { data, ext: 1 }) => stderr.push(&data, &group, &mut ready),
                    Some(ChannelMsg::ExitStatus { exit_status }) => status = Some(exit_status),
                    Some(_) => {}
                }
                // A receiver gone only means nobody reads the lines.
                let _ = send_all(lines, &mut ready).await;
            }
            stderr.finish(&mut ready);
            let _ = send_all(lines, &mut ready).await;
            sink.flush().await.map_err(StreamError::Local)?;
            Ok(status)
        };
        self.until_cancelled(work, cancel, &group).await
    }

    /// Runs `command` and feeds it everything `source` yields on its
    /// standard input, then the end of input; standard error goes to
    /// `lines`. If `source` fails midway, the command is killed before it
    /// sees an end of input (a restore never takes half a dump for a whole
    /// one). Fails when the host takes no byte for the command timeout
    /// while input remains.
    pub async fn feed_stdin<R: AsyncRead + Unpin>(
        &self,
        command: &RemoteCommand,
        source: &mut R,
        lines: &Sender<OutputLine>,
        cancel: impl Future<Output = ()>,
    ) -> Result<Ended, StreamError> {
        let group = AtomicU32::new(0);
        let stall = self.settings.command_timeout;
        let work = async {
            let (mut reader, writer) = self.open_exec(command).await?.split();
            let mut stdin = writer.make_writer();
            let feed = async {
                let mut chunk = vec![0u8; FEED_CHUNK];
                loop {
                    let read = source.read(&mut chunk).await.map_err(StreamError::Local)?;
                    let write = if read == 0 {
                        // The end of input: only once everything was read.
                        tokio::time::timeout(stall, stdin.shutdown()).await
                    } else {
                        tokio::time::timeout(stall, stdin.write_all(&chunk[..read])).await
                    };
                    write
                        .map_err(|_| SshError::TimedOut(stall))?
                        .map_err(|e| SshError::Lost(e.to_string()))?;
                    if read == 0 {
                        return Ok::<_, StreamError>(());
                    }
                }
            };
            let listen = async {
                let mut stderr = StderrLines::default();
                let mut ready = Vec::new();
                let mut status = None;
                while let Some(message) = reader.wait().await {
                    match message {
                        ChannelMsg::ExtendedData { data, ext: 1 } => stderr.push(&data, &group, &mut ready),
                        ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                        _ => {}
                    }
                    // A receiver gone only means nobody reads the lines.
                    let _ = send_all(lines, &mut ready).await;
                }
                stderr.finish(&mut ready);
                let _ = send_all(lines, &mut ready).await;
                status
            };
            tokio::pin!(listen);
            tokio::select! {
                fed = feed => fed?,
                // The command ended before taking all its input: its exit
                // status says how.
                status = &mut listen => return Ok(status),
            }
            // All input taken: the command may now work quietly for long
            // (a restore rebuilding indexes); keepalives notice a lost host.
            Ok(listen.await)
        };
        self.until_cancelled(work, cancel, &group).await
    }

    /// Opens a channel and starts `command` in a process group of its own.
    async fn open_exec(&self, command: &RemoteCommand) -> Result<russh::Channel<russh::client::Msg>, SshError> {
        let lost = |e: russh::Error| SshError::Lost(e.to_string());
        let channel = self.handle.channel_open_session().await.map_err(lost)?;
        channel
            .exec(true, in_own_process_group(command).as_str())
            .await
            .map_err(lost)?;
        Ok(channel)
    }

    /// Runs `work` until `cancel` resolves; when it fails or is cancelled,
    /// the command's process group is killed before this returns.
    async fn until_cancelled(
        &self,
        work: impl Future<Output = Result<Option<u32>, StreamError>>,
        cancel: impl Future<Output = ()>,
        group: &AtomicU32,
    ) -> Result<Ended, StreamError> {
        let stopped = tokio::select! {
            ended = work => match ended {
                Ok(status) => return Ok(Ended::Exited(status)),
                Err(error) => {
                    self.unhealthy();
                    Err(error)
                }
            },
            () = cancel => Ok(Ended::Cancelled),
        };
        self.kill_process_group(group.load(Ordering::Relaxed)).await;
        stopped
    }
}
