//! What the browser downloads (a bench harness: it reports, it asserts
//! nothing). Needs DATABASE_URL (a PostgreSQL where it may create a
//! database) and a `cargo leptos build --release --precompress`;
//! `scripts/bench` does both and runs this.
//!
//! For the sign-in page and the signed-in home page: the bytes a first
//! visit takes on the wire, the page itself plus every site file it names
//! (`/pkg/…`: the wasm, its JavaScript, the stylesheet), each asked for as
//! a browser does (`Accept-Encoding: br, gzip`); and what a second visit
//! downloads again (a file cached as `immutable` is not asked for).

mod support;

use support::{BenchDatabase, RunningConsole};

const ENCODINGS: &str = "br, gzip";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let database = BenchDatabase::create().await?;
    // The site's files as `cargo leptos build` left them at the workspace's root.
    let site = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/site");
    let console = RunningConsole::start_with(&database.url, &[("LEPTOS_SITE_ROOT", site)]).await?;
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    println!("== first visit (bytes on the wire, `Accept-Encoding: {ENCODINGS}`)");
    visit(&anonymous, &console.base, "/sign-in", None).await?;
    let cookie = console.sign_in(&database.pool).await?;
    visit(&anonymous, &console.base, "/", Some(&cookie)).await?;
    console.stop();
    database.drop_it().await
}

/// Fetches the page and the site files it names; prints each and the sums.
async fn visit(client: &reqwest::Client, base: &str, path: &str, cookie: Option<&str>) -> anyhow::Result<()> {
    let mut page = client.get(format!("{base}{path}")).header("accept-encoding", ENCODINGS);
    if let Some(cookie) = cookie {
        page = page.header("cookie", cookie);
    }
    let page = page.send().await?;
    anyhow::ensure!(page.status() == 200, "{path} answered {}", page.status());
    let encoding = header(&page, "content-encoding");
    let html = page.bytes().await?;
    println!("{path}");
    println!("  {:>9} B  the page ({encoding})", html.len());
    let (mut first, mut again) = (html.len(), html.len());
    for file in site_files(&String::from_utf8_lossy(&html)) {
        let answer = client
            .get(format!("{base}{file}"))
            .header("accept-encoding", ENCODINGS)
            .send()
            .await?;
        anyhow::ensure!(answer.status() == 200, "{file} answered {}", answer.status());
        let encoding = header(&answer, "content-encoding");
        let cache = header(&answer, "cache-control");
        let size = answer.bytes().await?.len();
        first += size;
        if !cache.contains("immutable") {
            again += size;
        }
        println!("  {size:>9} B  {file} ({encoding}; {cache})");
    }
    println!("  {first:>9} B  first visit");
    println!("  {again:>9} B  next visit (the page; its files are cached as immutable)");
    Ok(())
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .to_owned()
}

/// The `/pkg/…` addresses a page names (links, scripts, the wasm preload),
/// each once, in order of appearance.
fn site_files(html: &str) -> Vec<String> {
    let mut files: Vec<String> = Vec::new();
    for (at, _) in html.match_indices("/pkg/") {
        let name: String = html[at..]
            .chars()
            .take_while(|c| !matches!(c, '"' | '\'' | ' ' | '>' | ')'))
            .collect();
        if !files.contains(&name) {
            files.push(name);
        }
    }
    files
}
