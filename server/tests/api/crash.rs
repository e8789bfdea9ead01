//! The console process killed outright (SIGKILL) in the middle of a job,
//! then started again: the job is marked interrupted, never left running,
//! and the host's lock is free for the next action.

use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::redirect::Policy;
use sqlx::PgPool;

const ADMIN: &str = "chef.de.nuit";
const ADMIN_PASSWORD: &str = "le four tombe en panne a minuit";

/// The real binary on `port`, over the test's database.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn start(env: &[(&str, String)], port: u16, data_dir: &std::path::Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ocpizza-console"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(data_dir)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let lines = crate::helpers::log_lines(&mut child);
        let running = Self { child, lines };
        let deadline = Instant::now() + Duration::from_secs(60);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match running.lines.recv_timeout(left) {
                Ok(line) if line.contains("listening on") => return running,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!("the console did not start listening");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn job_status(pool: &PgPool, job: i64) -> String {
    sqlx::query_scalar("SELECT status FROM jobs WHERE id = $1")
        .bind(job)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_console_killed_mid_job_marks_it_interrupted_and_frees_the_host_when_restarted(pool: PgPool) {
    let data_dir = crate::helpers::TempDataDir::new();
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    let mut database_url = url::Url::parse(&std::env::var("DATABASE_URL").unwrap()).unwrap();
    database_url.set_path(&name);
    let key = domain::secrets::MasterKey::generate();
    let env = [
        ("DATABASE_URL", database_url.to_string()),
        ("CONSOLE_MASTER_KEY", key.encode().to_string()),
    ];
    let created = Command::new(env!("CARGO_BIN_EXE_ocpizza-console"))
        .args(["create-admin", "--username", ADMIN])
        .arg("--data-dir")
        .arg(data_dir.path())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("CONSOLE_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));

    let sshd = crate::own_sshd::OwnSshd::start();
    let service = sshd.dir.join("service");
    std::fs::write(&service, "#!/bin/sh\necho started\nsleep 30\necho never\n").unwrap();
    Command::new("chmod").arg("+x").arg(&service).status().unwrap();
    let fingerprint = String::from_utf8(
        Command::new("ssh-keygen")
            .arg("-lf")
            .arg(sshd.dir.join("host_key.pub"))
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .split_whitespace()
    .nth(1)
    .unwrap()
    .to_owned();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let post = |path: &str, form: Vec<(&str, String)>| {
        client
            .post(format!("{base}{path}"))
            .header("origin", &base)
            .form(&form)
            .send()
    };
    let mut first = Running::start(&env, port, data_dir.path());
    let signed_in = post(
        "/sign-in",
        vec![
            ("username", ADMIN.into()),
            ("password", ADMIN_PASSWORD.into()),
            ("next", "/".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(signed_in.headers()["location"], "/");
    let registered = post(
        "/api/hosts/register",
        vec![
            ("form[name]", "crash".into()),
            ("form[ssh_address]", "127.0.0.1".into()),
            ("form[ssh_port]", sshd.port.to_string()),
            ("form[ssh_user]", std::env::var("STAGING_SSH_USER").unwrap()),
            (
                "form[private_key]",
                std::fs::read_to_string(std::env::var("STAGING_SSH_KEY").unwrap()).unwrap(),
            ),
            ("form[app_dir]", "/tmp".into()),
            ("form[web_service]", "nginx".into()),
            ("form[wsgi_service]", "gunicorn".into()),
            ("form[service_command]", service.to_str().unwrap().to_owned()),
            ("form[site_url]", "http://127.0.0.1/".into()),
            ("form[fingerprint]", fingerprint),
        ],
    )
    .await
    .unwrap();
    assert!(registered.status().is_success(), "{:?}", registered.text().await);
    let host_id = registered.text().await.unwrap().trim().to_owned();
    let start = || {
        post(
            "/api/jobs/start",
            vec![
                ("host_id", host_id.clone()),
                ("action", "webapp.restart_web_server".into()),
            ],
        )
    };
    let started = start().await.unwrap();
    assert!(started.status().is_success(), "{:?}", started.text().await);
    let job: i64 = started.text().await.unwrap().trim().parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let printed: i64 = sqlx::query_scalar("SELECT count(*) FROM job_output WHERE job_id = $1")
            .bind(job)
            .fetch_one(&pool)
            .await
            .unwrap();
        if printed > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the job printed nothing");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(job_status(&pool, job).await, "running");

    // SIGKILL: no shutdown code runs.
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    assert_eq!(job_status(&pool, job).await, "running", "nobody has looked yet");

    let _second = Running::start(&env, port, data_dir.path());
    assert_eq!(job_status(&pool, job).await, "interrupted");
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'job.interrupted' AND outcome = 'failure'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(audited, 1);
    // The host's lock is free: the same action starts again at once.
    let again = start().await.unwrap();
    assert!(again.status().is_success(), "{:?}", again.text().await);
}
