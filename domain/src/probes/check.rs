//! One probe of a site: a GET from the console, timed; up when the answer
//! has the expected status (and, when asked, the expected text in its
//! first MiB); for an https URL, the end of validity of the certificate
//! the site presented. A redirect is an answer like any other, not
//! followed. What went wrong is a code ([`ProbeFailure`]), never a
//! library's words (those go to the log).

use std::time::{Duration, Instant};

use time::OffsetDateTime;
use vocabulary::supervision::ProbeFailure;

use super::ProbeSettings;

/// How much of a body is searched for the expected text.
const BODY_SEARCHED: usize = 1024 * 1024;

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOutcome {
    pub at: OffsetDateTime,
    pub up: bool,
    /// The answer's status, when there was one.
    pub status: Option<u16>,
    pub latency: Duration,
    pub failure: Option<ProbeFailure>,
    pub cert_expires_at: Option<OffsetDateTime>,
}

/// The client probes ask with: no redirects followed, no proxy, the
/// certificate the site presented kept for its expiry.
pub(super) fn client(extra_roots: &[reqwest::Certificate]) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .tls_info(true);
    for root in extra_roots {
        builder = builder.add_root_certificate(root.clone());
    }
    builder.build().expect("a client with fixed settings builds")
}

/// Probes `url` as `settings` say.
pub(super) async fn probe(client: &reqwest::Client, url: &str, settings: &ProbeSettings) -> ProbeOutcome {
    let at = OffsetDateTime::now_utc();
    let started = Instant::now();
    let deadline = started + settings.timeout;
    let mut outcome = ProbeOutcome {
        at,
        up: false,
        status: None,
        latency: Duration::ZERO,
        failure: None,
        cert_expires_at: None,
    };
    let answered = client.get(url).timeout(settings.timeout).send().await;
    let response = match answered {
        Ok(response) => response,
        Err(error) => {
            tracing::info!(error = ?error, url, "a site probe got no answer");
            outcome.latency = started.elapsed();
            outcome.failure = Some(failure_of(&error));
            return outcome;
        }
    };
    outcome.cert_expires_at = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .and_then(certificate_not_after);
    let status = response.status().as_u16();
    outcome.status = Some(status);
    if status != settings.expected_status {
        outcome.latency = started.elapsed();
        outcome.failure = Some(ProbeFailure::WrongStatus);
        return outcome;
    }
    if let Some(expected) = &settings.expected_text {
        let left = deadline.saturating_duration_since(Instant::now());
        let body = tokio::time::timeout(left, first_bytes(response, BODY_SEARCHED)).await;
        outcome.latency = started.elapsed();
        match body {
            Err(_) => outcome.failure = Some(ProbeFailure::Timeout),
            Ok(Err(error)) => {
                tracing::info!(%error, url, "a site probe could not read the answer");
                outcome.failure = Some(ProbeFailure::NoAnswer);
            }
            Ok(Ok(body)) if !String::from_utf8_lossy(&body).contains(expected.as_str()) => {
                outcome.failure = Some(ProbeFailure::TextMissing)
            }
            Ok(Ok(_)) => outcome.up = true,
        }
        return outcome;
    }
    outcome.latency = started.elapsed();
    outcome.up = true;
    outcome
}

/// At most `limit` bytes of the body.
async fn first_bytes(mut response: reqwest::Response, limit: usize) -> reqwest::Result<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        body.extend_from_slice(&chunk);
        if body.len() >= limit {
            body.truncate(limit);
            break;
        }
    }
    Ok(body)
}

/// Why a request got no answer, as a code.
pub(super) fn failure_of(error: &reqwest::Error) -> ProbeFailure {
    if error.is_timeout() {
        return ProbeFailure::Timeout;
    }
    if refused_certificate(error) {
        return ProbeFailure::Certificate;
    }
    if error.is_connect() {
        return ProbeFailure::NoConnection;
    }
    ProbeFailure::NoAnswer
}

/// Whether TLS refused the peer's certificate somewhere in `error`'s
/// causes. rustls's error travels inside I/O errors, sometimes one inside
/// another, whose `source()` skips the error they wrap: each is opened.
pub(crate) fn refused_certificate(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if matches!(
            error.downcast_ref::<rustls::Error>(),
            Some(rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)
        ) {
            return true;
        }
        cause = match error.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => error.source(),
        };
    }
    false
}

/// The end of validity of a DER certificate (a probed site's, the
/// console's own).
pub fn certificate_not_after(der: &[u8]) -> Option<OffsetDateTime> {
    use x509_cert::der::Decode;
    let certificate = x509_cert::Certificate::from_der(der).ok()?;
    let end = certificate.tbs_certificate.validity.not_after.to_unix_duration();
    OffsetDateTime::from_unix_timestamp(i64::try_from(end.as_secs()).ok()?).ok()
}
