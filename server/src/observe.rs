//! The outermost layer: gives each request an id and a client address (the
//! provenance every audit record carries), logs it in a span, counts it and
//! times it for `/metrics`.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use domain::audit::Provenance;
use http::HeaderValue;
use tracing::Instrument;

use crate::startup::AppState;

pub async fn observe(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let client_address = client_address(&request, state.config.trust_forwarded_for);
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| route_family(request.uri().path()).to_owned());
    let method = request.method().clone();
    request.extensions_mut().insert(Provenance {
        client_address: client_address.clone(),
        request_id: Some(request_id.clone()),
        token: None,
    });
    let span = tracing::info_span!(
        "request",
        %method,
        path = %request.uri().path(),
        request_id = %request_id,
        client = client_address.as_deref().unwrap_or("-"),
    );
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    span.in_scope(|| tracing::debug!(status, elapsed_ms = elapsed.as_secs_f64() * 1e3, "served"));
    let labels = [
        ("method", method.to_string()),
        ("route", route),
        ("status", status.to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels[..2]).record(elapsed.as_secs_f64());
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// Requests outside the router's named routes (static files, unknown paths)
/// are counted under a few families, so label values stay bounded.
fn route_family(path: &str) -> &'static str {
    if path.starts_with("/pkg/") {
        "/pkg/*"
    } else if path.starts_with("/api/") {
        "/api/*"
    } else {
        "other"
    }
}

fn client_address(request: &Request, trust_forwarded_for: bool) -> Option<String> {
    if trust_forwarded_for {
        let forwarded = request
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map(|hop| hop.trim().to_owned())
            .filter(|hop| hop.parse::<std::net::IpAddr>().is_ok());
        if forwarded.is_some() {
            return forwarded;
        }
    }
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
}
