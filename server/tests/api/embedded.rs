//! The embedded default: the real binary, no DATABASE_URL, its own cluster.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

struct Console {
    child: Child,
    lines: mpsc::Receiver<String>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(data_dir: &Path, port: u16) -> Console {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ocpizza-console"))
        .args([
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    Console { child, lines }
}

impl Console {
    /// Waits for a log line containing `needle`; returns it.
    fn wait_for(&self, needle: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        panic!("no line with {needle:?} within {within:?}; saw:\n{}", seen.join("\n"));
    }
}

fn temp_data_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ocpizza-embedded-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_embedded_cluster_serves_refuses_a_second_console_and_stops_cleanly() {
    let data_dir = temp_data_dir();
    let port = free_port();
    let mut first = start(&data_dir, port);
    let setup = first.wait_for("/setup?token=", Duration::from_secs(120));
    first.wait_for("listening on", Duration::from_secs(30));
    assert!(
        setup.contains(&format!("http://127.0.0.1:{port}/setup?token=")),
        "{setup}"
    );

    let health = http_get(port, "/healthz");
    let health: serde_json::Value = serde_json::from_str(health.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(health["database"], true);
    let conf = std::fs::read_to_string(data_dir.join("log/postgres.log")).unwrap_or_default();
    assert!(
        !conf.contains("listening on IPv4"),
        "the embedded cluster opens no TCP port"
    );

    // A second console on the same data directory says so and exits.
    let second = start(&data_dir, free_port());
    second.wait_for("another console", Duration::from_secs(30));
    let mut second = second.child;
    let status = wait_exit(&mut second, Duration::from_secs(10));
    assert!(!status.success());

    // SIGTERM: the first one drains, stops its cluster, exits 0.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    first.wait_for("embedded PostgreSQL stopped", Duration::from_secs(60));
    let status = wait_exit(&mut first.child, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    assert!(
        !data_dir.join("postgres/postmaster.pid").exists(),
        "the cluster is stopped"
    );

    // The data survives a restart: the setup token is still the only one.
    let again = start(&data_dir, free_port());
    again.wait_for("listening on", Duration::from_secs(60));
    let mut child = again.child;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    assert!(wait_exit(&mut child, Duration::from_secs(60)).success());
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// A bare HTTP/1.0 GET: the whole response, headers and body.
fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the console did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
