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
