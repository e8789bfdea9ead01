//! Alerts (manual §8) against real peers: the staging host's NGINX stopped
//! and started again, a webhook receiver of the test's own, a real SMTP
//! server (aiosmtpd) with STARTTLS and a login, an NGINX of the test's own
//! serving a certificate that expires in five days. One notification per
//! change of state, whatever the number of console processes; a failing
//! channel retried and shown; bad settings refused.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use domain::accounts::Locale;
use domain::alerts::{AlertKind, ChannelSettings, DeliveryFailure, EmailSettings, SmtpSecurity};
use domain::error::DomainError;
use domain::hosts::KeyChoice;
use domain::jobs::{JobStatus, Runbook};
use serde_json::Value;
use sqlx::PgPool;

use crate::backups::staging_database_alone;
use crate::helpers::*;
use crate::hosts::{private_key, register, run_to_end};

/// The consoles' own schedulers look once at start, then sleep an hour:
/// the tests run the passes themselves.
const QUIET: [&str; 2] = ["--scheduler-seconds", "3600"];

const METRICS_TOKEN: &str = "a metrics token of at least thirty-two characters";

/// A test authority and a certificate it signed for `localhost` and
/// `127.0.0.1`, valid for `days` (openssl): (directory, authority's PEM,
/// certificate, key).
struct Authority {
    dir: TempDataDir,
}

impl Authority {
    fn new(days: u32) -> Self {
        let dir = TempDataDir::new();
        let run = |args: &[&str]| {
            let status = Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success(), "openssl {args:?}");
        };
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        run(&[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "30",
                "-subj",
                "/CN=OC Pizza test authority",
            ],
        ]
        .concat());
        run(&[
            &["req"][..],
            &ec,
            &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"],
        ]
        .concat());
        std::fs::write(
            dir.path().join("server.ext"),
            "basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .unwrap();
        let days = days.to_string();
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            &days,
            "-extfile",
            "server.ext",
        ]);
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A console's arguments: its schedulers quiet, `more`, and this
    /// authority trusted (`--ca-file`).
    fn console_args(&self, more: &[&str]) -> Vec<String> {
        QUIET
            .iter()
            .chain(more)
            .map(|a| a.to_string())
            .chain(["--ca-file".into(), self.path("ca.pem").to_str().unwrap().into()])
            .collect()
    }
}

/// A child process stopped when dropped.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A real SMTP server: STARTTLS with the authority's certificate, a login
/// required; the messages it takes as JSON files in its mail directory.
struct SmtpServer {
    port: u16,
    mail: TempDataDir,
    _process: Peer,
}

const SMTP_USER: &str = "alertes@ocpizza.test";

impl SmtpServer {
    fn start(authority: &Authority, password: &str) -> Self {
        let port = free_port();
        let mail = TempDataDir::new();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/smtp_server.py");
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .arg(port.to_string())
            .arg(mail.path())
            .arg(authority.path("server.pem"))
            .arg(authority.path("server.key"))
            .args([SMTP_USER, password])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 with aiosmtpd (Debian's python3-aiosmtpd)");
        let mut ready = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut ready).unwrap();
        assert_eq!(ready.trim(), "ready", "the SMTP server started");
        Self {
            port,
            mail,
            _process: Peer(child),
        }
    }

    /// The messages taken so far, oldest first.
    fn messages(&self) -> Vec<Value> {
        let mut files: Vec<_> = std::fs::read_dir(self.mail.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        files.sort_by_key(|path| std::fs::metadata(path).unwrap().modified().unwrap());
        files
            .iter()
            .map(|path| serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
            .collect()
    }

    fn channel(&self, password: &str) -> ChannelSettings {
        ChannelSettings::Email {
            email: EmailSettings {
                smtp_host: "localhost".into(),
                smtp_port: self.port,
                security: SmtpSecurity::Starttls,
                username: Some(SMTP_USER.into()),
                from: "console@ocpizza.test".into(),
                to: "astreinte@ocpizza.test, technique@ocpizza.test".into(),
            },
            password: Some(password.into()),
        }
    }
}

/// A webhook receiver on loopback: what it was sent, and how many of the
/// first posts it answers with a 500.
#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<Vec<Value>>>,
    failing: Arc<Mutex<u32>>,
}

impl Receiver {
    async fn start(failing_first: u32) -> (Self, String) {
        let receiver = Self {
            failing: Arc::new(Mutex::new(failing_first)),
            ..Self::default()
        };
        let state = receiver.clone();
        let router = axum::Router::new().route(
            "/hooks/{token}",
            axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
                let state = state.clone();
                async move {
                    let mut failing = state.failing.lock().unwrap();
                    if *failing > 0 {
                        *failing -= 1;
                        return http::StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    state.received.lock().unwrap().push(body);
                    http::StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        (receiver, format!("http://{address}/hooks/jeton-secret-du-webhook"))
    }

    fn texts(&self) -> Vec<String> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|body| body["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

/// Probes every host's site now, from both consoles at once.
async fn probe_round(a: &TestApp, b: &TestApp) {
    sqlx::query("UPDATE site_probes SET next_at = now()")
        .execute(&a.pool)
        .await
        .unwrap();
    let (x, y) = tokio::join!(a.console.probes.run_due(), b.console.probes.run_due());
    x.unwrap();
    y.unwrap();
}

/// Evaluates the rules and sends what is due, from both consoles at once;
/// the alerts opened and resolved, counted over both.
async fn alert_round(a: &TestApp, b: &TestApp) -> (usize, usize) {
    let (x, y) = tokio::join!(a.console.alerts.evaluate(), b.console.alerts.evaluate());
    let (x, y) = (x.unwrap(), y.unwrap());
    let (p, q) = tokio::join!(a.console.alerts.deliver_due(), b.console.alerts.deliver_due());
    p.unwrap();
    q.unwrap();
    (x.opened.len() + y.opened.len(), x.resolved.len() + y.resolved.len())
}

/// How many times the host's site was probed.
async fn probe_count(app: &TestApp, host_id: i64) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM probe_results WHERE host_id = $1")
        .bind(host_id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// Waits for the probe a job's end makes due (whichever console process
/// woke first runs it) and checks it ran once.
async fn probed_once_since(app: &TestApp, host_id: i64, before: i64) {
    for _ in 0..100 {
        if probe_count(app, host_id).await > before {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(probe_count(app, host_id).await, before + 1, "probed once after the job");
}

/// Runs a runbook action to its end; it must succeed.
async fn operate(app: &TestApp, by: &domain::accounts::Operator, host_id: i64, runbook: Runbook) {
    let done = run_to_end(app, by, host_id, runbook).await;
    assert_eq!(done.status, JobStatus::Succeeded, "{:?}", done.failure);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_stopped_site_is_notified_once_and_its_return_once_whatever_the_processes(pool: PgPool) {
    // This test stops the staging host's NGINX: the others that need it wait.
    // The turn also restarts NGINX if this test fails with it stopped.
    let _turn = staging_database_alone().await;
    let authority = Authority::new(30);
    let args = authority.console_args(&[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let app = spawn_app_with(pool, &args).await;
    let other = spawn_app_beside_with(&app, &args).await;
    let admin = app.admin().await;
    let operator = app.operator(&admin).await;
    let host = register(&app, &admin, KeyChoice::paste(private_key())).await;

    let smtp_password = format!("mot-de-passe-{}", free_port());
    let smtp = SmtpServer::start(&authority, &smtp_password);
    let (receiver, url) = Receiver::start(0).await;
    let alerts = &app.console.alerts;
    let from = Default::default();
    let hook = alerts
        .add_channel(
            &admin,
            &from,
            "Mattermost astreinte",
            Locale::Fr,
            ChannelSettings::Webhook { url },
        )
        .await
        .unwrap();
    let mail = alerts
        .add_channel(
            &admin,
            &from,
            "Courriel astreinte",
            Locale::En,
            smtp.channel(&smtp_password),
        )
        .await
        .unwrap();
    // "Send a test" reaches both.
    assert_eq!(alerts.send_test(&operator, &from, hook).await.unwrap(), Ok(()));
    assert_eq!(alerts.send_test(&operator, &from, mail).await.unwrap(), Ok(()));
    assert_eq!(receiver.texts().len(), 1);
    assert_eq!(smtp.messages().len(), 1);
    assert_eq!(smtp.messages()[0]["subject"], "[OC Pizza] Test message");
    assert_eq!(app.audit_count("alert.channel_test", "success").await, 2);
    // Down after two probes in a row.
    alerts
        .save_rule(&admin, &from, AlertKind::SiteDown, true, 2)
        .await
        .unwrap();

    probe_round(&app, &other).await;
    assert_eq!(alert_round(&app, &other).await, (0, 0), "the site is up");

    // Stopping NGINX probes the site as the job ends, once for both
    // processes.
    let before = probe_count(&app, host.id).await;
    operate(&app, &operator, host.id, Runbook::StopWebServer).await;
    probed_once_since(&app, host.id, before).await;
    assert_eq!(
        alert_round(&app, &other).await,
        (0, 0),
        "one probe down is not yet an alert"
    );
    probe_round(&app, &other).await;
    assert_eq!(alert_round(&app, &other).await, (1, 0), "opened once by two processes");
    for _ in 0..2 {
        probe_round(&app, &other).await;
        assert_eq!(alert_round(&app, &other).await, (0, 0), "still open: nothing new");
    }
    assert_eq!(receiver.texts().len(), 2, "{:?}", receiver.texts());
    assert!(
        receiver.texts()[1].starts_with("[OC Pizza] Alerte sur staging : le site est hors ligne (2 sondes de suite)"),
        "{:?}",
        receiver.texts()
    );
    let mails = smtp.messages();
    assert_eq!(mails.len(), 2);
    assert_eq!(
        mails[1]["subject"],
        "[OC Pizza] Alert on staging: the site is down (2 probes in a row)"
    );
    assert_eq!(
        mails[1]["to"],
        serde_json::json!(["astreinte@ocpizza.test", "technique@ocpizza.test"])
    );
    assert_eq!(app.console.alerts.open_count().await.unwrap(), 1);

    let before = probe_count(&app, host.id).await;
    operate(&app, &operator, host.id, Runbook::RestartWebServer).await;
    probed_once_since(&app, host.id, before).await;
    assert_eq!(
        alert_round(&app, &other).await,
        (0, 1),
        "resolved once by two processes"
    );
    probe_round(&app, &other).await;
    assert_eq!(alert_round(&app, &other).await, (0, 0));
    assert_eq!(receiver.texts().len(), 3);
    assert!(
        receiver.texts()[2].starts_with("[OC Pizza] Résolu sur staging"),
        "{:?}",
        receiver.texts()
    );
    let mails = smtp.messages();
    assert_eq!(mails.len(), 3);
    assert!(mails[2]["subject"]
        .as_str()
        .unwrap()
        .starts_with("[OC Pizza] Resolved on staging"));

    // The history: one alert, resolved, each change sent to both channels.
    let history = app.console.alerts.history().await.unwrap();
    assert_eq!(history.len(), 1);
    assert!(!history[0].is_open());
    assert_eq!(history[0].deliveries.len(), 4);
    assert!(history[0]
        .deliveries
        .iter()
        .all(|d| d.sent_at.is_some() && d.attempts == 1));
    // The webhook's URL, its token, is nowhere in clear.
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM alert_channels c WHERE c.shown_address LIKE '%jeton%' OR c::text LIKE '%jeton%'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(stored, 0);
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE details::text LIKE '%jeton%'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(audited, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_failing_channel_is_retried_with_its_failure_shown_and_bad_settings_are_refused(pool: PgPool) {
    let authority = Authority::new(30);
    let args = authority.console_args(&[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let app = spawn_app_with(pool, &args).await;
    let admin = app.admin().await;
    let operator = app.operator(&admin).await;
    let host = register(&app, &admin, KeyChoice::paste(private_key())).await;
    let alerts = &app.console.alerts;
    let from = Default::default();
    let field = |result: domain::error::Result<i64>| match result {
        Err(DomainError::Invalid(invalid)) => invalid.field,
        other => panic!("refused by field, not {other:?}"),
    };
    let webhook = |url: &str| ChannelSettings::Webhook { url: url.into() };

    // A webhook that is not https outside this machine; a bad address.
    for url in [
        "http://hooks.example.com/x",
        "ftp://127.0.0.1/x",
        "pas une adresse",
        "https://user:pw@example.com/",
    ] {
        assert_eq!(
            field(
                alerts
                    .add_channel(&admin, &from, "Essai", Locale::Fr, webhook(url))
                    .await
            ),
            "url",
            "{url}"
        );
    }
    let smtp = |to: &str| ChannelSettings::Email {
        email: EmailSettings {
            smtp_host: "localhost".into(),
            smtp_port: 587,
            security: SmtpSecurity::Starttls,
            username: None,
            from: "console@ocpizza.test".into(),
            to: to.into(),
        },
        password: None,
    };
    assert_eq!(
        field(
            alerts
                .add_channel(&admin, &from, "Courriel", Locale::Fr, smtp("pas-une-adresse"))
                .await
        ),
        "to"
    );
    assert_eq!(
        field(alerts.add_channel(&admin, &from, "", Locale::Fr, smtp("a@b.fr")).await),
        "name"
    );
    assert!(matches!(
        alerts
            .add_channel(
                &operator,
                &from,
                "Essai",
                Locale::Fr,
                webhook("https://hooks.example.com/x")
            )
            .await,
        Err(DomainError::Forbidden)
    ));
    assert_eq!(app.audit_count("alert.channel_add", "denied").await, 1);
    assert!(alerts.channels().await.unwrap().is_empty(), "nothing was added");
    // Rules: a threshold out of bounds; admins only.
    assert!(matches!(
        alerts.save_rule(&admin, &from, AlertKind::SiteSlow, true, 5).await,
        Err(DomainError::Invalid(_))
    ));
    assert!(matches!(
        alerts.save_rule(&operator, &from, AlertKind::SiteSlow, true, 500).await,
        Err(DomainError::Forbidden)
    ));

    // An SMTP server that refuses the password: the test says so.
    let smtp_server = SmtpServer::start(&authority, "le-bon-mot-de-passe");
    let wrong = alerts
        .add_channel(
            &admin,
            &from,
            "Courriel",
            Locale::Fr,
            smtp_server.channel("un-mauvais-mot-de-passe"),
        )
        .await
        .unwrap();
    assert_eq!(
        alerts.send_test(&operator, &from, wrong).await.unwrap(),
        Err(DeliveryFailure::Credentials)
    );
    assert_eq!(app.audit_count("alert.channel_test", "failure").await, 1);
    assert!(smtp_server.messages().is_empty());
    alerts.remove_channel(&admin, &from, wrong).await.unwrap();
    assert_eq!(app.audit_count("alert.channel_remove", "success").await, 1);

    // A webhook failing once: the failure shown, retried later, then sent.
    let (receiver, url) = Receiver::start(1).await;
    let hook = alerts
        .add_channel(&admin, &from, "Slack", Locale::Fr, webhook(&url))
        .await
        .unwrap();
    sqlx::query("UPDATE hosts SET presented_fingerprint = 'SHA256:autre', presented_at = now() WHERE id = $1")
        .bind(host.id)
        .execute(&app.pool)
        .await
        .unwrap();
    let changes = alerts.evaluate().await.unwrap();
    assert_eq!(changes.opened, [(host.id, AlertKind::HostKeyChanged)]);
    let next = alerts.deliver_due().await.unwrap().expect("a retry is due");
    assert!(
        next > time::OffsetDateTime::now_utc() + time::Duration::seconds(20),
        "backoff: {next}"
    );
    let channel = alerts.channel(hook).await.unwrap();
    assert_eq!(channel.pending, 1);
    assert_eq!(channel.last.unwrap().1, Some(DeliveryFailure::Refused));
    assert!(receiver.texts().is_empty());
    alerts.deliver_due().await.unwrap();
    assert!(receiver.texts().is_empty(), "not retried before its time");
    sqlx::query("UPDATE alert_notifications SET next_at = now()")
        .execute(&app.pool)
        .await
        .unwrap();
    alerts.deliver_due().await.unwrap();
    assert_eq!(receiver.texts().len(), 1);
    assert!(receiver.texts()[0].contains("l'hôte a présenté une autre clé SSH (SHA256:autre)"));
    let channel = alerts.channel(hook).await.unwrap();
    assert_eq!((channel.pending, channel.last.unwrap().1), (0, None));
    let history = alerts.history().await.unwrap();
    assert_eq!(history[0].deliveries[0].attempts, 2);

    // Acknowledged by an operator, once; audited.
    alerts.acknowledge(&operator, &from, history[0].id).await.unwrap();
    assert!(alerts.acknowledge(&operator, &from, history[0].id).await.is_err());
    let acknowledged = alerts.history().await.unwrap()[0].acknowledged.clone().unwrap();
    assert_eq!(acknowledged.0, OPERATOR);
    assert_eq!(app.audit_count("alert.acknowledge", "success").await, 1);
}

/// An NGINX of the test's own serving https with the authority's
/// certificate on a loopback port.
fn own_https_site(authority: &Authority) -> (Peer, String) {
    let port = free_port();
    let dir = authority.dir.path();
    let conf = format!(
        "daemon off; master_process off; worker_processes 1; pid {dir}/nginx.pid; error_log {dir}/error.log;
         events {{}}
         http {{
           access_log off;
           client_body_temp_path {dir}; proxy_temp_path {dir}; fastcgi_temp_path {dir}; uwsgi_temp_path {dir}; scgi_temp_path {dir};
           server {{
             listen 127.0.0.1:{port} ssl;
             ssl_certificate {dir}/server.pem; ssl_certificate_key {dir}/server.key;
             location / {{ return 200 'Bienvenue chez OC Pizza'; }}
           }}
         }}",
        dir = dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let nginx = Peer(
        Command::new("nginx")
            .args(["-e", &format!("{}/error.log", dir.display()), "-p"])
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx"),
    );
    let url = format!("https://localhost:{port}/");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (nginx, url);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!(
        "the test's NGINX did not start: {}",
        std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_certificate_expiring_in_five_days_opens_its_alert(pool: PgPool) {
    let authority = Authority::new(5);
    let (_nginx, url) = own_https_site(&authority);
    let args = authority.console_args(&["--metrics-token", METRICS_TOKEN]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let app = spawn_app_with(pool, &args).await;
    let admin = app.admin().await;
    let host = register(&app, &admin, KeyChoice::paste(private_key())).await;
    sqlx::query("UPDATE hosts SET site_url = $2 WHERE id = $1")
        .bind(host.id)
        .bind(&url)
        .execute(&app.pool)
        .await
        .unwrap();

    // Without the authority (`--ca-file`), the certificate is refused.
    let untrusting = domain::probes::SiteProbes::new(app.pool.clone(), app.console.hosts.clone(), &[]);
    let refused = untrusting.probe_now(host.id).await.unwrap();
    assert_eq!(refused.failure, Some(domain::probes::ProbeFailure::Certificate));

    app.console.probes.run_due().await.unwrap();
    let health = app.console.probes.health(host.id).await.unwrap();
    assert!(health.last.as_ref().unwrap().up, "{:?}", health.last);
    let days = health.cert_days_left(time::OffsetDateTime::now_utc()).unwrap();
    assert!((4..=5).contains(&days), "{days}");
    let changes = app.console.alerts.evaluate().await.unwrap();
    assert_eq!(changes.opened, [(host.id, AlertKind::CertificateExpiring)]);
    let history = app.console.alerts.history().await.unwrap();
    assert_eq!(history[0].details["days"], serde_json::json!(days));

    // Scraped: the open alert, beside the site's gauges.
    let scrape = app.browser().metrics(METRICS_TOKEN).await;
    assert!(
        scrape.contains("ocpizza_alert_open{host=\"staging\",rule=\"certificate-expiring\"} 1"),
        "{scrape}"
    );
    assert!(
        scrape.contains(&format!(
            "ocpizza_site_certificate_days_left{{host=\"staging\"}} {days}"
        )),
        "{scrape}"
    );

    // A threshold of 3 days: the rule no longer holds, the alert resolves.
    app.console
        .alerts
        .save_rule(&admin, &Default::default(), AlertKind::CertificateExpiring, true, 3)
        .await
        .unwrap();
    let changes = app.console.alerts.evaluate().await.unwrap();
    assert_eq!(changes.resolved, [(host.id, AlertKind::CertificateExpiring)]);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_prerequisites_check_that_finds_the_disk_nearly_full_opens_its_alert(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin().await;
    let host = register(&app, &admin, KeyChoice::paste(private_key())).await;
    let alerts = &app.console.alerts;
    assert_eq!(alerts.evaluate().await.unwrap(), Default::default(), "no check yet");

    // The staging host's real free space, as `df` on it says.
    let check = run_to_end(&app, &admin, host.id, Runbook::CheckPrerequisites).await;
    assert_eq!(check.status, JobStatus::Succeeded);
    let (_, lines) = app.console.jobs.latest_prerequisites(host.id).await.unwrap().unwrap();
    let free_kib: i64 = lines
        .iter()
        .find_map(|l| l.line.strip_prefix("disk_free_kib: "))
        .expect("the check reports the free space")
        .trim()
        .parse()
        .unwrap();
    let free_mib = free_kib / 1024;
    assert!(free_mib > 1, "the test machine has some room");

    // Under the default (1 GiB) only if this machine is that full; with a
    // threshold above what is free, the rule holds.
    let above = i32::try_from(free_mib + 1).unwrap_or(1_048_576).min(1_048_576);
    alerts
        .save_rule(&admin, &Default::default(), AlertKind::DiskNearlyFull, true, above)
        .await
        .unwrap();
    let changes = alerts.evaluate().await.unwrap();
    assert_eq!(changes.opened, [(host.id, AlertKind::DiskNearlyFull)]);
    let history = alerts.history().await.unwrap();
    assert_eq!(history[0].details["free_mib"], serde_json::json!(free_mib));
    assert_eq!(history[0].details["threshold_mib"], serde_json::json!(above));
    let said = domain::alerts::message::what(AlertKind::DiskNearlyFull, &history[0].details, Locale::Fr);
    assert!(said.contains(&format!("{free_mib} Mio libres")), "{said}");

    // Evaluated again: still one alert, nothing more to notify.
    assert_eq!(alerts.evaluate().await.unwrap(), Default::default());

    // A threshold under what is free: resolved.
    alerts
        .save_rule(&admin, &Default::default(), AlertKind::DiskNearlyFull, true, 1)
        .await
        .unwrap();
    let changes = alerts.evaluate().await.unwrap();
    assert_eq!(changes.resolved, [(host.id, AlertKind::DiskNearlyFull)]);
}
