//! Browser-facing protections on every response: a Content-Security-Policy
//! that allows only the console's own scripts (a fresh nonce per page for
//! Leptos' hydration script), no framing, no MIME sniffing, a same-origin
//! referrer, HSTS over HTTPS; a refusal of any request naming another host
//! (DNS rebinding); and a refusal, audited, of any state-changing request
//! that comes from another origin. Both compare with the console's public
//! URL, never with what the request says about itself.

use std::net::SocketAddr;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use domain::audit::{Actor, AuditAction, Provenance};
use http::{header, HeaderValue, Method, StatusCode};

use crate::startup::AppState;

/// The nonce this response's CSP allows; the page renders it on its scripts.
#[derive(Clone, Debug)]
pub struct CspNonce(pub String);

/// Where staff reach the console: the origin state-changing requests must
/// come from, and the `Host` values requests may carry. From the public URL;
/// without one (allowed on loopback only) from the bound address, as
/// `127.0.0.1:<port>` (or `[::1]:<port>`) and `localhost:<port>`.
#[derive(Clone, Debug)]
pub struct Site {
    origins: Vec<String>,
    hosts: Vec<String>,
}

impl Site {
    pub fn new(public_url: Option<&url::Url>, bound: SocketAddr, scheme: &str) -> Self {
        match public_url {
            Some(url) => {
                let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
                let mut hosts = vec![format!("{host}:{}", url.port_or_known_default().unwrap_or_default())];
                if url.port().is_none() {
                    hosts.insert(0, host);
                }
                Self {
                    origins: vec![url.origin().ascii_serialization()],
                    hosts,
                }
            }
            None => {
                let port = bound.port();
                let address = match bound {
                    SocketAddr::V4(v4) => v4.ip().to_string(),
                    SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
                };
                let hosts = vec![format!("{address}:{port}"), format!("localhost:{port}")];
                Self {
                    origins: hosts.iter().map(|host| format!("{scheme}://{host}")).collect(),
                    hosts,
                }
            }
        }
    }

    /// The origin the console's own pages post from.
    pub fn origin(&self) -> &str {
        &self.origins[0]
    }

    fn allows_origin(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == origin)
    }

    fn allows_host(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }
}

/// Probes answer whatever name the monitoring uses to reach them.
fn is_probe(path: &str) -> bool {
    matches!(path, "/healthz" | "/metrics")
}

pub async fn protect(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    if !is_probe(request.uri().path()) {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| request.uri().authority().map(|a| a.as_str()))
            .unwrap_or_default();
        if !state.site.allows_host(host) {
            tracing::info!(host = %host.chars().take(100).collect::<String>(), "request for another host refused");
            let mut response = (
                StatusCode::MISDIRECTED_REQUEST,
                "Hôte inconnu : ouvrez la console à son adresse publique. / Unknown host: open the console at its public address.",
            )
                .into_response();
            add_headers(&mut response, &state, None);
            return response;
        }
    }
    if !is_safe(request.method()) {
        if let Some(refusal) = foreign_origin(&state, &request) {
            let provenance = request.extensions().get::<Provenance>().cloned().unwrap_or_default();
            let path = request.uri().path().to_owned();
            if let Err(error) = state
                .console
                .record_refusal(
                    Actor::Anonymous,
                    AuditAction::RequestCrossOrigin,
                    &path,
                    &provenance,
                    &refusal,
                )
                .await
            {
                tracing::error!(%error, "could not audit a cross-origin refusal");
            }
            tracing::warn!(%refusal, "cross-origin request refused");
            let mut response = (StatusCode::FORBIDDEN, "Requête refusée : elle ne vient pas de la console. / Request refused: it does not come from the console.").into_response();
            add_headers(&mut response, &state, None);
            return response;
        }
    }
    let nonce = {
        use rand::RngCore;
        let mut bytes = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        hex::encode(bytes)
    };
    request.extensions_mut().insert(CspNonce(nonce.clone()));
    let mut response = next.run(request).await;
    add_headers(&mut response, &state, Some(&nonce));
    response
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Why a state-changing request is refused, if it is: its `Origin` (or, when
/// the browser sent none, its `Sec-Fetch-Site`) says it comes from elsewhere.
fn foreign_origin(state: &AppState, request: &Request) -> Option<String> {
    let headers = request.headers();
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("<not text>");
        return (!state.site.allows_origin(origin)).then(|| {
            let shown: String = origin.chars().take(100).collect();
            format!("origin {shown} is not {}", state.site.origin())
        });
    }
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some("same-origin") | Some("none") | None => None,
        Some(other) => Some(format!("sec-fetch-site {other}")),
    }
}

fn add_headers(response: &mut Response, state: &AppState, nonce: Option<&str>) {
    let script = match nonce {
        Some(nonce) => format!("script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'"),
        None => "script-src 'none'".to_owned(),
    };
    let csp = format!(
        "default-src 'self'; {script}; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
         font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set("content-security-policy", &csp);
    set("x-frame-options", "DENY");
    set("x-content-type-options", "nosniff");
    set("referrer-policy", "same-origin");
    set("cross-origin-opener-policy", "same-origin");
    if state.config.secure() {
        set("strict-transport-security", "max-age=31536000; includeSubDomains");
    }
}
