//! SSH against the real staging host (OpenSSH sshd on loopback, started by
//! `scripts/staging-host`; scripts/test exports its STAGING_* settings).

use std::time::{Duration, Instant};

use domain::ssh::{
    generate_key_pair, parse_private_key, read_host_key, RemoteCommand, SshAddress, SshError, SshSession, SshSettings,
    SshTarget, SshUser,
};

fn staging(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through scripts/test (it starts the staging host)")
    })
}

fn target() -> SshTarget {
    SshTarget {
        address: SshAddress::parse(&staging("STAGING_SSH_ADDRESS")).unwrap(),
        port: staging("STAGING_SSH_PORT").parse().unwrap(),
        user: SshUser::parse(&staging("STAGING_SSH_USER")).unwrap(),
    }
}

fn settings() -> SshSettings {
    SshSettings {
        connect_timeout: Duration::from_secs(3),
        command_timeout: Duration::from_secs(5),
        keepalive_interval: Duration::from_secs(1),
    }
}

fn console_key() -> russh::keys::PrivateKey {
    parse_private_key(&std::fs::read_to_string(staging("STAGING_SSH_KEY")).unwrap()).unwrap()
}

/// What `ssh-keygen -lf` says of the staging host's key.
fn real_fingerprint() -> String {
    let output = std::process::Command::new("ssh-keygen")
        .args(["-lf", &staging("STAGING_HOST_KEY")])
        .output()
        .unwrap();
    String::from_utf8(output.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_host_key_read_for_confirmation_is_the_one_ssh_keygen_shows() {
    let key = read_host_key(&target(), &settings()).await.unwrap();
    assert_eq!(key.fingerprint, real_fingerprint());
    assert!(key.openssh.starts_with("ssh-ed25519 "));
}

#[tokio::test]
async fn a_command_streams_its_lines_and_exit_status_through_the_pinned_key() {
    let session = SshSession::connect(&target(), &real_fingerprint(), &console_key(), settings())
        .await
        .unwrap();
    let command = RemoteCommand::program("sh")
        .fixed("-c")
        .fixed("printf 'un\\ndeux\\n'; echo trois >&2; exit 3");
    let (sender, mut receiver) = tokio::sync::mpsc::channel(16);
    let status = session.run(&command, &sender).await.unwrap();
    drop(sender);
    assert_eq!(status, Some(3));
    let mut lines = Vec::new();
    while let Some(line) = receiver.recv().await {
        lines.push((line.stderr, line.text));
    }
    lines.sort();
    assert_eq!(
        lines,
        [
            (false, "deux".to_owned()),
            (false, "un".to_owned()),
            (true, "trois".to_owned())
        ]
    );
    session.close().await;
}

#[tokio::test]
async fn a_host_whose_key_changed_is_refused_with_both_fingerprints() {
    let (_, other) = generate_key_pair("impostor").unwrap();
    let pinned = russh::keys::PublicKey::from_openssh(&other)
        .unwrap()
        .fingerprint(russh::keys::HashAlg::Sha256)
        .to_string();
    let error = SshSession::connect(&target(), &pinned, &console_key(), settings())
        .await
        .err()
        .unwrap();
    assert_eq!(
        error,
        SshError::HostKeyChanged {
            pinned,
            presented: real_fingerprint()
        }
    );
}

#[tokio::test]
async fn a_key_the_host_does_not_authorize_is_refused_clearly() {
    let (private, _) = generate_key_pair("stranger").unwrap();
    let key = parse_private_key(&private).unwrap();
    let error = SshSession::connect(&target(), &real_fingerprint(), &key, settings())
        .await
        .err()
        .unwrap();
    assert_eq!(error, SshError::AuthenticationRefused);
}

#[tokio::test]
async fn nothing_listening_fails_at_once_and_a_silent_peer_within_the_timeout() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut nowhere = target();
    nowhere.port = closed;
    let error = read_host_key(&nowhere, &settings()).await.err().unwrap();
    assert!(matches!(error, SshError::Unreachable(_)), "{error:?}");

    // A peer that accepts the connection and never speaks.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut mute = target();
    mute.port = silent.local_addr().unwrap().port();
    let _held = tokio::spawn(async move {
        let (_socket, _) = silent.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let started = Instant::now();
    let error = SshSession::connect(&mute, &real_fingerprint(), &console_key(), settings())
        .await
        .err()
        .unwrap();
    assert_eq!(error, SshError::TimedOut(settings().connect_timeout));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_command_that_outlives_its_timeout_fails_instead_of_hanging() {
    let session = SshSession::connect(&target(), &real_fingerprint(), &console_key(), settings())
        .await
        .unwrap();
    let started = Instant::now();
    let (sender, _receiver) = tokio::sync::mpsc::channel(16);
    let error = session
        .run(&RemoteCommand::program("sleep").fixed("30"), &sender)
        .await
        .err()
        .unwrap();
    assert_eq!(error, SshError::TimedOut(settings().command_timeout));
    assert!(started.elapsed() < Duration::from_secs(8));
}

/// This process's resident memory, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A host printing 50 MB with no newline: one line comes out, cut at the
/// cap with a marker, and the reader's memory does not follow the output.
#[tokio::test]
async fn an_endless_line_is_cut_at_the_cap_and_memory_stays_bounded() {
    let generous = SshSettings {
        command_timeout: Duration::from_secs(60),
        ..settings()
    };
    let session = SshSession::connect(&target(), &real_fingerprint(), &console_key(), generous)
        .await
        .unwrap();
    let command = RemoteCommand::program("sh")
        .fixed("-c")
        .fixed("head -c 50000000 /dev/zero | tr '\\000' x; echo; echo after");
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<domain::ssh::OutputLine>(16);
    let before = rss_kib();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampling = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kib(), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let collect = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Some(line) = receiver.recv().await {
            lines.push(line.text);
        }
        lines
    });
    let started = Instant::now();
    let status = session.run(&command, &sender).await.unwrap();
    drop(sender);
    let lines = collect.await.unwrap();
    sampling.abort();
    assert_eq!(status, Some(0));
    assert_eq!(lines.len(), 2, "the cut line, then the next one");
    assert_eq!(lines[0].len(), domain::ssh::MAX_LINE + domain::ssh::CUT_MARKER.len());
    assert!(lines[0].ends_with(domain::ssh::CUT_MARKER));
    assert_eq!(lines[1], "after");
    let growth_mib = (peak.load(std::sync::atomic::Ordering::Relaxed) - before) / 1024;
    println!(
        "50 MB without a newline read in {:?}, memory growth {growth_mib} MiB",
        started.elapsed()
    );
    assert!(growth_mib < 20, "memory grew by {growth_mib} MiB");
    session.close().await;
}

/// Whether a process whose command line contains `pattern` runs on this
/// machine (the staging host is this machine).
fn running(pattern: &str) -> bool {
    std::process::Command::new("pgrep")
        .args(["-f", pattern])
        .output()
        .unwrap()
        .status
        .success()
}

/// Cancelling stops the remote command itself, even one that ignores
/// SIGHUP: its whole process group is killed, not only the channel closed.
#[tokio::test]
async fn cancelling_a_command_kills_it_on_the_host_even_when_it_ignores_sighup() {
    let session = SshSession::connect(&target(), &real_fingerprint(), &console_key(), settings())
        .await
        .unwrap();
    // A sleep length no other process uses, to find it with pgrep.
    let seconds = format!("6{:06}", std::process::id() % 1_000_000);
    let marker = format!("sleep {seconds}");
    let script: &'static str = Box::leak(format!("trap '' HUP; echo started; {marker}; echo never").into_boxed_str());
    let command = RemoteCommand::program("sh").fixed("-c").fixed(script);
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<domain::ssh::OutputLine>(16);
    let cancel = {
        let marker = marker.clone();
        async move {
            assert_eq!(receiver.recv().await.unwrap().text, "started");
            for _ in 0..100 {
                if running(&marker) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("{marker} never ran on the host");
        }
    };
    let ended = session.run_until(&command, &sender, cancel).await.unwrap();
    assert_eq!(ended, domain::ssh::Ended::Cancelled);
    for _ in 0..50 {
        if !running(&marker) {
            session.close().await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{marker} still runs on the host after the cancel");
}
