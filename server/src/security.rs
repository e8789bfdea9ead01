//! Browser-facing protections on every response: a Content-Security-Policy
//! that allows only the console's own scripts (a fresh nonce per page for
//! Leptos' hydration script), no framing, no MIME sniffing, a same-origin
//! referrer, HSTS over HTTPS; and a refusal, audited, of any state-changing
//! request that comes from another origin.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use domain::audit::{Actor, Provenance};
use http::{header, HeaderValue, Method, StatusCode};

use crate::startup::AppState;

/// The nonce this response's CSP allows; the page renders it on its scripts.
#[derive(Clone, Debug)]
pub struct CspNonce(pub String);

pub async fn protect(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    if !is_safe(request.method()) {
        if let Some(refusal) = foreign_origin(&state, &request) {
            let provenance = request.extensions().get::<Provenance>().cloned().unwrap_or_default();
            let path = request.uri().path().to_owned();
            if let Err(error) = state
                .console
                .record_refusal(Actor::Anonymous, "request.cross_origin", &path, &provenance, &refusal)
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
        let expected = expected_origin(state, request);
        return (Some(origin) != expected.as_deref())
            .then(|| format!("origin {origin} is not {}", expected.unwrap_or_default()));
    }
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some("same-origin") | Some("none") | None => None,
        Some(other) => Some(format!("sec-fetch-site {other}")),
    }
}

fn expected_origin(state: &AppState, request: &Request) -> Option<String> {
    if let Some(url) = &state.config.public_url {
        return Some(url.origin().ascii_serialization());
    }
    let host = request.headers().get(header::HOST)?.to_str().ok()?;
    let scheme = if state.config.secure() { "https" } else { "http" };
    Some(format!("{scheme}://{host}"))
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
