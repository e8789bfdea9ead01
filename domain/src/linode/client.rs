//! The Linode API v4 client: one `reqwest` client (rustls), a bearer token
//! per call (the token lives in the secret store, never here), connect and
//! request timeouts, and retries on what the API says will pass: 429, 408,
//! 500, 502, 503 (unless the API is in maintenance), 504 and `Linode busy.`,
//! after `Retry-After` (or until `X-RateLimit-Reset`), else after a backoff
//! with jitter, a bounded number of times. When the rate-limit headers say
//! nothing is left in the window, the next call waits for its reset.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;
use zeroize::Zeroizing;

use super::model::{Event, EventAction, Instance, LinodeBackup, LinodeBackups, LinodeStats, Page};

/// A personal access token, checked for shape (never shown: `Debug` hides it).
#[derive(Clone)]
pub struct LinodeToken(Arc<Zeroizing<String>>);

impl LinodeToken {
    /// A token as typed: 20 to 256 letters, digits, `.`, `_` or `-`
    /// (Linode's are 64 hexadecimal digits). Spaces around it are dropped.
    pub fn parse(text: &str) -> Result<Self, LinodeError> {
        let text = text.trim();
        let valid = (20..=256).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        valid
            .then(|| Self(Arc::new(Zeroizing::new(text.to_owned()))))
            .ok_or(LinodeError::MalformedToken)
    }

    pub fn expose(&self) -> &str {
        self.0.as_str()
    }
}

impl std::fmt::Debug for LinodeToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinodeToken([hidden])")
    }
}

/// What went wrong, in words an operator can act on. The API's own
/// reasons (its `errors` envelope) are kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinodeError {
    #[error("no Linode API token is stored")]
    NoToken,
    #[error("the token is malformed (a Linode token is 64 letters and digits)")]
    MalformedToken,
    #[error("the Linode API refused the token (revoked, expired, or mistyped)")]
    TokenRefused,
    #[error("the token lacks the scope {needed}")]
    MissingScope { needed: String },
    #[error("the Linode API knows no such {what} on this account")]
    NotFound { what: &'static str },
    #[error("the Linode API refused: {}", reasons.join("; "))]
    Refused { status: u16, reasons: Vec<String> },
    #[error("the Linode API still answered {status} after {attempts} attempts: {}", reasons.join("; "))]
    GaveUp {
        status: u16,
        reasons: Vec<String>,
        attempts: u32,
    },
    #[error("the Linode API could not be reached: {0}")]
    Unreachable(String),
    #[error("the Linode API did not answer in time")]
    TimedOut,
    #[error("the Linode API's answer could not be read: {0}")]
    Unreadable(String),
    #[error("the Linode API has no graphs for this instance yet")]
    StatsNotReady,
}

/// How hard the client tries again.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The first backoff when the API gives no delay (doubled each time,
    /// with up to half of it again at random).
    pub first_backoff: Duration,
    /// The longest the client waits before one retry, whatever
    /// `Retry-After` says.
    pub longest_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 4,
            first_backoff: Duration::from_millis(500),
            longest_wait: Duration::from_secs(60),
        }
    }
}

/// What a token may do, as the API said when it was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCheck {
    /// `X-OAuth-Scopes` as sent (`*` for every scope).
    pub scopes: String,
}

/// The scopes the console's actions need.
pub const NEEDED_SCOPES: [&str; 2] = ["linodes:read_write", "events:read_only"];

/// The Linode API v4 at a base URL (`https://api.linode.com/v4/`, or the
/// local double's).
#[derive(Debug, Clone)]
pub struct LinodeApi {
    base: url::Url,
    http: reqwest::Client,
    retry: RetryPolicy,
    /// Set when the API said the rate-limit window is spent: no call
    /// before then.
    not_before: Arc<Mutex<Option<Instant>>>,
}

impl LinodeApi {
    pub const PUBLIC: &'static str = "https://api.linode.com/v4/";

    /// The API at `base` (its `/v4/` included), with the given timeouts.
    pub fn new(base: &str, connect_timeout: Duration, request_timeout: Duration) -> Result<Self, LinodeError> {
        let mut base = url::Url::parse(base).map_err(|e| LinodeError::Unreachable(format!("{base}: {e}")))?;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .timeout(request_timeout)
            .user_agent(concat!("ocpizza-console/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| LinodeError::Unreachable(e.to_string()))?;
        Ok(Self {
            base,
            http,
            retry: RetryPolicy::default(),
            not_before: Arc::default(),
        })
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    /// Checks a token as it is entered: the API must accept it, and its
    /// scopes must cover what the console does.
    pub async fn check_token(&self, token: &LinodeToken) -> Result<TokenCheck, LinodeError> {
        let (_, headers) = self
            .call::<Page<serde_json::Value>>(token, Method::GET, "linode/instances?page=1&page_size=25", None, None)
            .await?;
        let scopes = headers
            .get("x-oauth-scopes")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        match NEEDED_SCOPES.iter().find(|needed| !covers(&scopes, needed)) {
            Some(needed) => Err(LinodeError::MissingScope {
                needed: (*needed).to_owned(),
            }),
            None => Ok(TokenCheck { scopes }),
        }
    }

    /// Every instance of the account, every page read.
    pub async fn instances(&self, token: &LinodeToken) -> Result<Vec<Instance>, LinodeError> {
        let mut instances = Vec::new();
        let mut page = 1;
        loop {
            let path = format!("linode/instances?page={page}&page_size=100");
            let (answer, _) = self
                .call::<Page<Instance>>(token, Method::GET, &path, None, None)
                .await?;
            instances.extend(answer.data);
            if answer.page >= answer.pages {
                return Ok(instances);
            }
            page = answer.page + 1;
        }
    }

    pub async fn instance(&self, token: &LinodeToken, id: i64) -> Result<Instance, LinodeError> {
        let path = format!("linode/instances/{id}");
        self.call(token, Method::GET, &path, None, None)
            .await
            .map(|(instance, _)| instance)
            .map_err(|e| e.naming("instance"))
    }

    pub async fn boot(&self, token: &LinodeToken, id: i64) -> Result<(), LinodeError> {
        self.power(token, id, "boot").await
    }

    pub async fn reboot(&self, token: &LinodeToken, id: i64) -> Result<(), LinodeError> {
        self.power(token, id, "reboot").await
    }

    pub async fn shutdown(&self, token: &LinodeToken, id: i64) -> Result<(), LinodeError> {
        self.power(token, id, "shutdown").await
    }

    /// The instance's backups: automatic ones and the snapshot slot.
    pub async fn backups(&self, token: &LinodeToken, id: i64) -> Result<LinodeBackups, LinodeError> {
        let path = format!("linode/instances/{id}/backups");
        self.call(token, Method::GET, &path, None, None)
            .await
            .map(|(backups, _)| backups)
            .map_err(|e| e.naming("instance"))
    }

    /// The last 24 h of the instance's graphs (5-minute averages). A new
    /// instance has none for its first minutes: [`LinodeError::StatsNotReady`].
    pub async fn stats(&self, token: &LinodeToken, id: i64) -> Result<LinodeStats, LinodeError> {
        let path = format!("linode/instances/{id}/stats");
        self.call(token, Method::GET, &path, None, None)
            .await
            .map(|(stats, _)| stats)
            .map_err(|e| match e {
                LinodeError::Refused { status: 400, reasons }
                    if reasons.iter().any(|r| r.to_ascii_lowercase().contains("unavailable")) =>
                {
                    LinodeError::StatsNotReady
                }
                other => other.naming("instance"),
            })
    }

    /// Turns the (billed) Backup service on.
    pub async fn enable_backups(&self, token: &LinodeToken, id: i64) -> Result<(), LinodeError> {
        self.power(token, id, "backups/enable").await
    }

    /// Takes a snapshot labelled `label` (it replaces the current one once
    /// it succeeds); the answer is the snapshot, usually `pending`.
    pub async fn take_snapshot(&self, token: &LinodeToken, id: i64, label: &str) -> Result<LinodeBackup, LinodeError> {
        let path = format!("linode/instances/{id}/backups");
        let body = serde_json::json!({ "label": label });
        self.call(token, Method::POST, &path, None, Some(body))
            .await
            .map(|(backup, _)| backup)
            .map_err(|e| e.naming("instance"))
    }

    /// Restores `backup` of instance `id` onto that same instance, its
    /// disks and configs overwritten (the instance must be offline).
    pub async fn restore_backup(&self, token: &LinodeToken, id: i64, backup: i64) -> Result<(), LinodeError> {
        let path = format!("linode/instances/{id}/backups/{backup}/restore");
        let body = serde_json::json!({ "linode_id": id, "overwrite": true });
        self.call::<serde_json::Value>(token, Method::POST, &path, None, Some(body))
            .await
            .map(drop)
            .map_err(|e| e.naming("backup"))
    }

    async fn power(&self, token: &LinodeToken, id: i64, verb: &str) -> Result<(), LinodeError> {
        let path = format!("linode/instances/{id}/{verb}");
        self.call::<serde_json::Value>(token, Method::POST, &path, None, Some(serde_json::json!({})))
            .await
            .map(drop)
            .map_err(|e| e.naming("instance"))
    }

    /// The newest event `action` on instance `id` created at `since` or
    /// later (what a power action just started).
    pub async fn latest_event(
        &self,
        token: &LinodeToken,
        id: i64,
        action: &EventAction,
        since: time::OffsetDateTime,
    ) -> Result<Option<Event>, LinodeError> {
        let since = since
            .to_offset(time::UtcOffset::UTC)
            .format(super::model::API_TIME)
            .map_err(|e| LinodeError::Unreadable(e.to_string()))?;
        let filter = serde_json::json!({
            "entity.type": "linode",
            "entity.id": id,
            "action": action.word(),
            "created": {"+gte": since},
            "+order_by": "created",
            "+order": "desc",
        });
        let (page, _) = self
            .call::<Page<Event>>(
                token,
                Method::GET,
                "account/events?page=1&page_size=25",
                Some(&filter),
                None,
            )
            .await?;
        Ok(page.data.into_iter().next())
    }

    pub async fn event(&self, token: &LinodeToken, id: i64) -> Result<Event, LinodeError> {
        let path = format!("account/events/{id}");
        self.call(token, Method::GET, &path, None, None)
            .await
            .map(|(event, _)| event)
            .map_err(|e| e.naming("event"))
    }

    /// One call, tried again as the policy says.
    async fn call<T: DeserializeOwned>(
        &self,
        token: &LinodeToken,
        method: Method,
        path: &str,
        filter: Option<&serde_json::Value>,
        body: Option<serde_json::Value>,
    ) -> Result<(T, HeaderMap), LinodeError> {
        let url = self
            .base
            .join(path)
            .map_err(|e| LinodeError::Unreachable(format!("{path}: {e}")))?;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.wait_for_window().await;
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(token.expose())
                .header("accept", "application/json");
            if let Some(filter) = filter {
                request = request.header("x-filter", filter.to_string());
            }
            if let Some(body) = &body {
                request = request.json(body);
            }
            let retries_left = attempt <= self.retry.max_retries;
            let response = match request.send().await {
                Ok(response) => response,
                Err(error) => {
                    // A request that never reached the API is always safe to
                    // send again; one that may have (a read cut short) only
                    // when it changes nothing.
                    let again = error.is_connect() || (method == Method::GET && !error.is_timeout());
                    if retries_left && again {
                        tokio::time::sleep(self.backoff(attempt)).await;
                        continue;
                    }
                    return Err(if error.is_timeout() {
                        LinodeError::TimedOut
                    } else {
                        LinodeError::Unreachable(plain(&error))
                    });
                }
            };
            let status = response.status();
            let headers = response.headers().clone();
            self.note_window(&headers).await;
            let bytes = match response.bytes().await {
                Ok(bytes) => bytes,
                Err(error) if retries_left && method == Method::GET => {
                    tracing::debug!(error = %plain(&error), "a Linode answer was cut short; trying again");
                    tokio::time::sleep(self.backoff(attempt)).await;
                    continue;
                }
                Err(error) if error.is_timeout() => return Err(LinodeError::TimedOut),
                Err(error) => return Err(LinodeError::Unreachable(plain(&error))),
            };
            if status.is_success() {
                let value = serde_json::from_slice(&bytes).map_err(|e| LinodeError::Unreadable(e.to_string()))?;
                return Ok((value, headers));
            }
            let reasons = reasons_of(&bytes, status);
            if passing(status, &headers, &reasons) {
                if retries_left {
                    let wait = self.wait_after(&headers, attempt);
                    tracing::info!(%status, ?wait, attempt, "the Linode API asked to try again later");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                return Err(LinodeError::GaveUp {
                    status: status.as_u16(),
                    reasons,
                    attempts: attempt,
                });
            }
            return Err(match status {
                StatusCode::UNAUTHORIZED => LinodeError::TokenRefused,
                StatusCode::FORBIDDEN => LinodeError::MissingScope {
                    needed: headers
                        .get("x-accepted-oauth-scopes")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("?")
                        .to_owned(),
                },
                StatusCode::NOT_FOUND => LinodeError::NotFound { what: "object" },
                _ => LinodeError::Refused {
                    status: status.as_u16(),
                    reasons,
                },
            });
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.retry.first_backoff.saturating_mul(1 << (attempt - 1).min(16));
        let jitter = base.mul_f64(rand::random::<f64>() / 2.0);
        (base + jitter).min(self.retry.longest_wait)
    }

    /// `Retry-After` when given, else the window's reset when it is spent
    /// (a 500 in a window with requests left waits the backoff, not the
    /// window), else the backoff.
    fn wait_after(&self, headers: &HeaderMap, attempt: u32) -> Duration {
        let retry_after = header_number(headers, "retry-after").map(Duration::from_secs);
        let spent = header_number(headers, "x-ratelimit-remaining") == Some(0);
        retry_after
            .or_else(|| spent.then(|| until_reset(headers)).flatten())
            .unwrap_or_else(|| self.backoff(attempt))
            .min(self.retry.longest_wait)
    }

    async fn note_window(&self, headers: &HeaderMap) {
        if header_number(headers, "x-ratelimit-remaining") == Some(0) {
            if let Some(wait) = until_reset(headers) {
                *self.not_before.lock().await = Some(Instant::now() + wait.min(self.retry.longest_wait));
            }
        }
    }

    async fn wait_for_window(&self) {
        let not_before = self.not_before.lock().await.take();
        if let Some(at) = not_before {
            tokio::time::sleep_until(at).await;
        }
    }
}

impl LinodeError {
    /// The translation key of the sentence staff read (the app's
    /// `locales/*.ftl`); [`LinodeError::detail`] fills its `{ $detail }`.
    pub fn message_key(&self) -> &'static str {
        match self {
            Self::NoToken => "error-linode-no-token",
            Self::MalformedToken => "error-linode-token-malformed",
            Self::TokenRefused => "error-linode-token-refused",
            Self::MissingScope { .. } => "error-linode-missing-scope",
            Self::NotFound { .. } => "error-linode-not-found",
            Self::Refused { .. } => "error-linode-refused",
            Self::GaveUp { .. } => "error-linode-gave-up",
            Self::Unreachable(_) => "error-linode-unreachable",
            Self::TimedOut => "error-linode-timed-out",
            Self::Unreadable(_) => "error-linode-unreadable",
            Self::StatsNotReady => "error-linode-stats-not-ready",
        }
    }

    /// What the sentence quotes: the scope missing, the API's own words.
    /// Never the token (no error carries it).
    pub fn detail(&self) -> String {
        match self {
            Self::MissingScope { needed } => needed.clone(),
            Self::NotFound { what } => (*what).to_owned(),
            Self::Refused { reasons, .. } => reasons.join("; "),
            Self::GaveUp {
                status,
                reasons,
                attempts,
            } => format!("{status} × {attempts}: {}", reasons.join("; ")),
            Self::Unreachable(why) | Self::Unreadable(why) => why.clone(),
            Self::NoToken | Self::MalformedToken | Self::TokenRefused | Self::TimedOut | Self::StatsNotReady => {
                String::new()
            }
        }
    }

    /// Every message key, for the test that each one is translated.
    pub const MESSAGE_KEYS: [&'static str; 11] = [
        "error-linode-no-token",
        "error-linode-token-malformed",
        "error-linode-token-refused",
        "error-linode-missing-scope",
        "error-linode-not-found",
        "error-linode-refused",
        "error-linode-gave-up",
        "error-linode-unreachable",
        "error-linode-timed-out",
        "error-linode-unreadable",
        "error-linode-stats-not-ready",
    ];

    fn naming(self, what: &'static str) -> Self {
        match self {
            Self::NotFound { .. } => Self::NotFound { what },
            other => other,
        }
    }
}

/// Whether `scopes` (`X-OAuth-Scopes`) grant `needed`: `*` grants all, and
/// `read_write` grants `read_only` on the same area.
fn covers(scopes: &str, needed: &str) -> bool {
    let (area, level) = needed.split_once(':').unwrap_or((needed, ""));
    scopes.split([' ', ',']).filter(|s| !s.is_empty()).any(|scope| {
        scope == "*" || scope == needed || (level == "read_only" && scope.split_once(':') == Some((area, "read_write")))
    })
}

/// The statuses that pass with time.
fn passing(status: StatusCode, headers: &HeaderMap, reasons: &[String]) -> bool {
    match status.as_u16() {
        429 | 408 | 500 | 502 | 504 => true,
        503 => !headers.contains_key("x-maintenance-mode"),
        400 => reasons
            .iter()
            .any(|r| r.trim_end_matches('.').eq_ignore_ascii_case("linode busy")),
        _ => false,
    }
}

#[derive(Deserialize)]
struct Envelope {
    errors: Vec<ApiError>,
}

#[derive(Deserialize)]
struct ApiError {
    reason: String,
    field: Option<String>,
}

/// The reasons of the API's `errors` envelope (`field: reason`), or the
/// status itself when the body is not one.
fn reasons_of(body: &[u8], status: StatusCode) -> Vec<String> {
    match serde_json::from_slice::<Envelope>(body) {
        Ok(envelope) if !envelope.errors.is_empty() => envelope
            .errors
            .into_iter()
            .map(|e| match e.field {
                Some(field) => format!("{field}: {}", e.reason),
                None => e.reason,
            })
            .collect(),
        _ => vec![status.to_string()],
    }
}

fn header_number(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// Until `X-RateLimit-Reset` (epoch seconds), when it is ahead.
fn until_reset(headers: &HeaderMap) -> Option<Duration> {
    let reset = header_number(headers, "x-ratelimit-reset")?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    (reset > now).then(|| Duration::from_secs(reset - now))
}

/// A transport error without the URL's query (never a token: it is a header).
fn plain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_checked_for_shape_and_never_shown() {
        for bad in [
            "",
            "short",
            "has spaces inside the token here",
            "é-accentué-pas-permis-ici",
        ] {
            assert_eq!(
                LinodeToken::parse(bad).unwrap_err(),
                LinodeError::MalformedToken,
                "{bad:?}"
            );
        }
        let token = LinodeToken::parse("  0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n").unwrap();
        assert_eq!(token.expose().len(), 64);
        assert!(!format!("{token:?}").contains("0123"));
    }

    #[test]
    fn scopes_are_read_as_linode_grants_them() {
        assert!(covers("*", "linodes:read_write"));
        assert!(covers("linodes:read_write events:read_write", "events:read_only"));
        assert!(covers("linodes:read_write,events:read_only", "events:read_only"));
        assert!(!covers("linodes:read_only events:read_only", "linodes:read_write"));
        assert!(!covers("", "events:read_only"));
    }

    #[test]
    fn what_passes_with_time_is_tried_again_and_nothing_else() {
        let none = HeaderMap::new();
        let busy = vec!["Linode busy.".to_owned()];
        assert!(passing(StatusCode::TOO_MANY_REQUESTS, &none, &[]));
        assert!(passing(StatusCode::INTERNAL_SERVER_ERROR, &none, &[]));
        assert!(passing(StatusCode::BAD_REQUEST, &none, &busy));
        assert!(!passing(
            StatusCode::BAD_REQUEST,
            &none,
            &["label: too long".to_owned()]
        ));
        assert!(!passing(StatusCode::UNAUTHORIZED, &none, &[]));
        let mut maintenance = HeaderMap::new();
        maintenance.insert("x-maintenance-mode", "1".parse().unwrap());
        assert!(!passing(StatusCode::SERVICE_UNAVAILABLE, &maintenance, &[]));
        assert_eq!(
            reasons_of(
                br#"{"errors":[{"reason":"Too long","field":"label"}]}"#,
                StatusCode::BAD_REQUEST
            ),
            vec!["label: Too long"]
        );
        assert_eq!(reasons_of(b"<html>", StatusCode::BAD_GATEWAY), vec!["502 Bad Gateway"]);
    }
}
