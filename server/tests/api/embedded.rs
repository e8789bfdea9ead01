//! The embedded default: the real binary, no DATABASE_URL, its own cluster.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::helpers::free_port;

struct Console {
    child: Child,
    lines: mpsc::Receiver<String>,
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
    let lines = crate::helpers::log_lines(&mut child);
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

fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

/// A directory only its owner may enter, as a home directory is.
fn private_home(owner: Option<&nix::unistd::User>) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let home = temp_data_dir();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    if let Some(user) = owner {
        nix::unistd::chown(&home, Some(user.uid), Some(user.gid)).unwrap();
    }
    home
}

fn stop(mut console: Console) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(console.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    console.wait_for("embedded PostgreSQL stopped", Duration::from_secs(60));
    assert!(wait_exit(&mut console.child, Duration::from_secs(10)).success());
}

#[test]
fn as_root_a_clone_in_a_private_home_runs_its_cluster_where_postgres_can_reach_it() {
    if !is_root() {
        eprintln!("skipped: this case is about running as root (CI runs as root)");
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let home = private_home(None);
    let data_dir = home.join("ocpizza-console").join("data");
    let port = free_port();
    let console = start(&data_dir, port);
    let said = console.wait_for("cannot enter", Duration::from_secs(120));
    console.wait_for("listening on", Duration::from_secs(60));
    let health = http_get(port, "/healthz");
    assert!(health.contains("\"database\":true"), "{health}");

    let place = std::fs::read_to_string(data_dir.join("postgres.location")).unwrap();
    let place = PathBuf::from(place.trim());
    assert!(
        said.contains(place.to_str().unwrap()),
        "the log names the place: {said}"
    );
    assert!(place.starts_with("/var/lib/ocpizza-console-dev/clusters"), "{place:?}");
    let postgres = nix::unistd::User::from_name("postgres").unwrap().unwrap();
    let version = std::fs::metadata(place.join("postgres/PG_VERSION")).unwrap();
    assert_eq!(version.uid(), postgres.uid.as_raw(), "the cluster belongs to postgres");
    let home_mode = std::fs::metadata(&home).unwrap().mode() & 0o777;
    assert_eq!(home_mode, 0o700, "the home directory is not opened up");

    stop(console);
    // Started again, it finds the same cluster (the data survives).
    let again = start(&data_dir, free_port());
    again.wait_for("listening on", Duration::from_secs(60));
    stop(again);
    let _ = std::fs::remove_dir_all(&place);
    let _ = std::fs::remove_dir_all(&home);
}

/// Runs the console as `user`, from a copy of the binary in `home` (the
/// build's own copy lies in root's home, which that user cannot enter).
fn start_as(user: &nix::unistd::User, home: &Path, data_dir: &str, port: u16) -> Console {
    use std::os::unix::process::CommandExt;
    let binary = home.join("ocpizza-console");
    std::fs::copy(env!("CARGO_BIN_EXE_ocpizza-console"), &binary).unwrap();
    nix::unistd::chown(&binary, Some(user.uid), Some(user.gid)).unwrap();
    let mut child = Command::new(&binary)
        .args(["--data-dir", data_dir, "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(home)
        .env_remove("DATABASE_URL")
        .env("HOME", home)
        .env("RUST_LOG", "info")
        .uid(user.uid.as_raw())
        .gid(user.gid.as_raw())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let lines = crate::helpers::log_lines(&mut child);
    Console { child, lines }
}

#[test]
fn a_normal_user_runs_the_console_from_a_clone_in_a_private_home() {
    if !is_root() {
        eprintln!("skipped: needs root to act as another user (CI runs as root)");
        return;
    }
    let user = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let home = private_home(Some(&user));
    let port = free_port();
    let console = start_as(&user, &home, "data", port);
    console.wait_for("listening on", Duration::from_secs(120));
    let health = http_get(port, "/healthz");
    assert!(health.contains("\"database\":true"), "{health}");
    assert!(
        home.join("data/postgres/PG_VERSION").exists(),
        "the cluster lives in the data directory"
    );
    stop(console);
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn a_data_directory_that_cannot_work_is_refused_in_one_line_before_anything_is_created() {
    if !is_root() {
        eprintln!("skipped: needs root to act as another user (CI runs as root)");
        return;
    }
    let user = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let home = private_home(Some(&user));
    let elsewhere = private_home(None); // root's, mode 0700: nobody may not write there
    let wanted = elsewhere.join("data");
    let mut console = start_as(&user, &home, wanted.to_str().unwrap(), free_port());
    let said = console.wait_for("cannot use the data directory", Duration::from_secs(30));
    assert!(said.contains("--data-dir"), "it says what to do: {said}");
    assert!(!wait_exit(&mut console.child, Duration::from_secs(10)).success());
    assert!(!wanted.exists(), "nothing was created");

    // A file where the data directory should be: refused the same way.
    let file = home.join("data");
    std::fs::write(&file, "not a directory").unwrap();
    let mut console = start_as(&user, &home, "data", free_port());
    let said = console.wait_for("is not a directory", Duration::from_secs(30));
    assert!(said.contains("--data-dir"), "{said}");
    assert!(!wait_exit(&mut console.child, Duration::from_secs(10)).success());
    let _ = std::fs::remove_dir_all(&home);
    let _ = std::fs::remove_dir_all(&elsewhere);
}
