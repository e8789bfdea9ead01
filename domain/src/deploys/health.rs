//! The health gate: after a deploy, the site must answer its URL with the
//! expected status within the time limit. Asked from the console, every
//! half second, each attempt a line of the job's output (the status and
//! how long it took, or that nothing answered); a redirect is an answer
//! like any other, not followed.

use std::time::{Duration, Instant};

use crate::jobs::JobContext;

/// How long one attempt may take at most.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// The pause between two attempts.
const PAUSE: Duration = Duration::from_millis(500);

/// How the gate ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Gate {
    Passed,
    Failed,
    Cancelled,
}

/// The client the gate asks with: no redirects followed, no proxy.
pub(super) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("a client with fixed settings builds")
}

/// Asks `url` until it answers `expected` or `limit` has passed.
pub(super) async fn wait_for(
    client: &reqwest::Client,
    job: &JobContext,
    url: &str,
    expected: u16,
    limit: Duration,
) -> Gate {
    let deadline = Instant::now() + limit;
    job.say(format!("GET {url}: expecting {expected} within {} s", limit.as_secs()))
        .await;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let asked = Instant::now();
        let answer = client
            .get(url)
            .timeout(ATTEMPT_TIMEOUT.min(left.max(Duration::from_millis(100))));
        let answered = tokio::select! {
            answered = answer.send() => answered,
            () = job.cancelled() => return Gate::Cancelled,
        };
        let millis = asked.elapsed().as_millis();
        match answered {
            Ok(response) if response.status().as_u16() == expected => {
                job.say(format!(
                    "{} in {millis} ms: the site answers",
                    response.status().as_u16()
                ))
                .await;
                return Gate::Passed;
            }
            Ok(response) => job.say(format!("{} in {millis} ms", response.status().as_u16())).await,
            Err(error) => {
                tracing::info!(%error, url, "the health gate's attempt got no answer");
                let what = if error.is_timeout() {
                    "no answer in time"
                } else if error.is_connect() {
                    "no connection"
                } else {
                    "no answer"
                };
                job.say(format!("{what} after {millis} ms")).await;
            }
        }
        if Instant::now() + PAUSE >= deadline {
            job.say(format!(
                "the site did not answer {expected} within {} s",
                limit.as_secs()
            ))
            .await;
            return Gate::Failed;
        }
        tokio::select! {
            () = tokio::time::sleep(PAUSE) => {}
            () = job.cancelled() => return Gate::Cancelled,
        }
    }
}
