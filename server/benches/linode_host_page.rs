//! A host page with its Linode section under load (a bench harness: it
//! reports, it asserts nothing): the release binary on a fresh database
//! talking to the local double of the Linode API (a real HTTP server in
//! this process), the staging host registered and linked to an instance
//! whose Backup service is on (and its graphs), one signed-in session,
//! `wrk` with 2 threads and 16 connections for BENCH_SECONDS (default 10)
//! after a 2 s warm-up. Reported: requests per second, the latency
//! percentiles, the page's size and how many API calls the page views cost
//! (goal: the console's memory keeps 1,000 views to a handful). Needs
//! DATABASE_URL and the staging host's settings (scripts/bench).

mod support;

use std::time::Duration;

use server::linode_double::LinodeDouble;
use support::{wrk, BenchDatabase, RunningConsole};

const INSTANCE: i64 = 4242;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds = support::bench_seconds();
    let double = LinodeDouble::new(Duration::from_secs(5));
    double.add_instance(INSTANCE, "ocpizza-prod", "running");
    double.with_automatic_backups(INSTANCE);
    let token: String = (0..2).map(|_| uuid::Uuid::new_v4().simple().to_string()).collect();
    double.add_token(&token, "*");
    let api = double.serve(tokio::net::TcpListener::bind("127.0.0.1:0").await?);

    let database = BenchDatabase::create().await?;
    let running = RunningConsole::start_with(&database.url, &[("CONSOLE_LINODE_API_URL", api.as_str())]).await?;
    let cookie = running.sign_in(&database.pool).await?;
    let host_id = running
        .register_staging(&database.pool, "staging", support::staging("STAGING_SERVICE_COMMAND"))
        .await?;
    let post = |path: &'static str, form: Vec<(&'static str, String)>| {
        running
            .client
            .post(format!("{}{path}", running.base))
            .header("origin", &running.base)
            .header("cookie", &cookie)
            .form(&form)
            .send()
    };
    let saved = post("/api/linode/token", vec![("token", token.clone())]).await?;
    anyhow::ensure!(
        saved.status().is_success(),
        "the token was refused: {}",
        saved.text().await?
    );
    let linked = post(
        "/api/linode/link",
        vec![("host_id", host_id.to_string()), ("linode_id", INSTANCE.to_string())],
    )
    .await?;
    anyhow::ensure!(
        linked.status().is_success(),
        "the link was refused: {}",
        linked.text().await?
    );
    let page = format!("{}/server/{host_id}", running.base);
    let html = running
        .client
        .get(&page)
        .header("cookie", &cookie)
        .send()
        .await?
        .text()
        .await?;
    anyhow::ensure!(
        html.contains("ocpizza-prod") && html.contains("linode-backup-list") && html.contains("linode-graph-cpu"),
        "the host page lacks its Linode section"
    );

    wrk(&page, &cookie, 2)?;
    let calls_before = double.calls();
    let text = wrk(&page, &cookie, seconds)?;
    let calls = double.calls() - calls_before;
    let line = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .unwrap_or("?")
            .to_owned()
    };
    let views: u64 = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    println!("== host page with its Linode section, wrk 2 threads, 16 connections, {seconds} s");
    println!("{}", line("Requests/sec"));
    for percentile in ["50%", "75%", "90%", "99%"] {
        println!("latency p{}", line(percentile));
    }
    match line("Non-2xx") {
        missing if missing == "?" => println!("Non-2xx responses: 0"),
        found => println!("{found}"),
    }
    println!("page size: {} KiB", html.len() / 1024);
    println!(
        "Linode API calls: {calls} for {views} page views ({:.2} per 1,000 views)",
        calls as f64 * 1000.0 / views.max(1) as f64
    );
    running.stop();
    database.drop_it().await?;
    Ok(())
}
