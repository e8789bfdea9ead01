//! HTTPS served by the console itself and systemd's readiness (issue 14,
//! items 1 and 2), on the real binary: `READY=1` reaches `NOTIFY_SOCKET`
//! once `/healthz` answers, over HTTPS with Secure cookies and HSTS; a
//! renewed certificate is served after SIGHUP without a restart; a renewal
//! whose key does not match is refused and the served one kept; SIGTERM
//! says `STOPPING=1` and ends cleanly.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use sqlx::PgPool;

use crate::helpers::*;

/// A self-signed certificate for localhost and its key, written by openssl.
fn certificate(dir: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>) {
    let (cert, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ])
        .args(["-days", "30", "-subj", &format!("/CN={name}")])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        // An end-entity certificate (webpki refuses a CA serving as one).
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let pem = std::fs::read(&cert).unwrap();
    (cert, key, pem)
}

/// The DER of the first certificate in `pem`.
fn der_of(pem: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(pem).unwrap();
    let body: String = text
        .lines()
        .skip_while(|line| !line.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|line| !line.starts_with("-----END"))
        .collect();
    data_encoding::BASE64.decode(body.as_bytes()).unwrap()
}

/// The certificate the console presents now, and its answer to /healthz.
async fn served(client: &reqwest::Client, port: u16) -> (Vec<u8>, reqwest::Response) {
    let response = client
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await
        .unwrap();
    (peer_certificate(&response), response)
}

/// The certificate the answer came with.
fn peer_certificate(response: &reqwest::Response) -> Vec<u8> {
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("the served certificate")
        .to_vec()
}

/// A client trusting `pem` alone, that keeps what TLS presented.
fn trusting(pem: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem).unwrap())
        .tls_info(true)
        .build()
        .unwrap()
}

/// The console's binary running `command` with the certificate and key.
fn console_with_tls(command: &str, port: u16, cert: &Path, key: &Path, data_dir: &Path) -> Command {
    let mut console = Command::new(env!("CARGO_BIN_EXE_ocpizza-console"));
    console
        .arg(command)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--public-url", &format!("https://localhost:{port}")])
        .arg("--tls-cert")
        .arg(cert)
        .arg("--tls-key")
        .arg(key)
        .arg("--data-dir")
        .arg(data_dir);
    console
}

fn next_state(socket: &UnixDatagram) -> String {
    let mut buffer = [0; 256];
    let read = socket.recv(&mut buffer).expect("a message from the console in time");
    String::from_utf8_lossy(&buffer[..read]).into_owned()
}

#[sqlx::test(migrations = "../migrations")]
async fn the_console_serves_https_says_when_it_is_ready_and_takes_a_renewed_certificate_on_sighup(pool: PgPool) {
    let dir = TempDataDir::new();
    let (cert, key, first_pem) = certificate(dir.path(), "first");
    let notify = dir.path().join("notify.sock");
    let states = UnixDatagram::bind(&notify).unwrap();
    states.set_read_timeout(Some(Duration::from_secs(90))).unwrap();

    let database = pool.connect_options().get_database().unwrap().to_owned();
    let mut url = url::Url::parse(&std::env::var("DATABASE_URL").unwrap()).unwrap();
    url.set_path(&database);
    let port = free_port();
    let mut child = console_with_tls("serve", port, &cert, &key, &dir.path().join("data"))
        .env("DATABASE_URL", url.as_str())
        .env("NOTIFY_SOCKET", &notify)
        .env(
            "CONSOLE_MASTER_KEY",
            domain::secrets::MasterKey::generate().encode().as_str(),
        )
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = log_lines(&mut child);
    let console = Stopped(child.id());

    // Ready means /healthz answers, at once, over HTTPS.
    assert_eq!(next_state(&states), "READY=1");
    let client = trusting(&first_pem);
    let (der, response) = served(&client, port).await;
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .get("strict-transport-security")
            .is_some_and(|value| value.to_str().unwrap().contains("max-age=")),
        "{:?}",
        response.headers()
    );
    assert_eq!(der, der_of(&first_pem));
    // Plain HTTP on the same port gets no page.
    assert!(reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await.is_err());

    // A renewal (written over the same files), then SIGHUP: served at once
    // by the same process.
    let (renewed_cert, renewed_key, renewed_pem) = certificate(dir.path(), "renewed");
    std::fs::copy(&renewed_cert, &cert).unwrap();
    std::fs::copy(&renewed_key, &key).unwrap();
    let hang_up = || nix::sys::signal::kill(nix::unistd::Pid::from_raw(console.0 as i32), nix::sys::signal::SIGHUP);
    hang_up().unwrap();
    let client = trusting(&renewed_pem);
    let mut presented = Vec::new();
    for _ in 0..100 {
        if let Ok(response) = client.get(format!("https://localhost:{port}/healthz")).send().await {
            presented = peer_certificate(&response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(presented, der_of(&renewed_pem), "the renewed certificate after SIGHUP");

    // A key of another certificate: refused, the renewed one kept.
    let (_, stray_key, _) = certificate(dir.path(), "stray");
    std::fs::copy(&stray_key, &key).unwrap();
    hang_up().unwrap();
    let refusal = std::iter::from_fn(|| log.recv_timeout(Duration::from_secs(30)).ok())
        .find(|line| line.contains("the TLS certificate was not reloaded"))
        .expect("the refused renewal in the log");
    assert!(refusal.contains("is not the key of the certificate"), "{refusal}");
    let (der, response) = served(&client, port).await;
    assert_eq!((der, response.status().as_u16()), (der_of(&renewed_pem), 200));

    // SIGTERM: STOPPING=1, then a clean exit, though the client keeps its
    // connection open (and, its runtime blocked here, answers nothing):
    // open connections get a few seconds, not forever.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(console.0 as i32), nix::sys::signal::SIGTERM).unwrap();
    assert_eq!(next_state(&states), "STOPPING=1");
    let status = (0..300)
        .find_map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            child.try_wait().unwrap()
        })
        .expect("the console stops within 30 s");
    assert!(status.success(), "{status}");
    drop(client);
    std::mem::forget(console);

    // The doctor reads the same certificate: valid, and its key private.
    std::fs::copy(&renewed_key, &key).unwrap();
    let doctor = |key_mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(key_mode)).unwrap();
        let output = console_with_tls("doctor", port, &cert, &key, &dir.path().join("data"))
            .env("DATABASE_URL", url.as_str())
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let report = doctor(0o600);
    assert!(
        report.contains("ok    TLS: the console serves HTTPS; its certificate is valid 29 more days"),
        "{report}"
    );
    let report = doctor(0o644);
    assert!(
        report.contains(&format!(
            "FAIL  TLS: {} has mode 0644: other users may read the certificate's key\n      fix: chmod 640 {}",
            key.display(),
            key.display()
        )),
        "{report}"
    );
}

/// Kills the console when the test fails before stopping it (it would keep
/// the test database open).
struct Stopped(u32);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.0 as i32), nix::sys::signal::SIGKILL);
    }
}

#[test]
fn a_plain_http_public_url_is_refused_when_the_console_serves_https() {
    let dir = TempDataDir::new();
    let (cert, key, _) = certificate(dir.path(), "refused");
    let output = Command::new(env!("CARGO_BIN_EXE_ocpizza-console"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--public-url",
            "http://localhost:3000",
        ])
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("CONSOLE_PUBLIC_URL is http://localhost:3000/ but the console serves HTTPS itself"),
        "{said}"
    );
    // Refused before anything was created.
    assert!(!dir.path().join("data").exists());
}
