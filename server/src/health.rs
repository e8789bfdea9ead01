//! Probes for operators' tooling: `/healthz` (is the console and its
//! database up?) and `/metrics` (Prometheus text format), which answers only
//! a scraper holding the metrics token: request counts and sign-in failures
//! tell an outsider when staff work and how an attack goes.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;
use serde_json::json;

use crate::startup::AppState;

pub async fn healthz(State(state): State<AppState>) -> Response {
    let database = state.console.database_reachable().await;
    let status = if database {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if database { "ok" } else { "degraded" },
        "database": database,
        "version": env!("CARGO_PKG_VERSION"),
    });
    (status, Json(body)).into_response()
}

pub async fn metrics(State(state): State<AppState>, headers: http::HeaderMap) -> Response {
    let Some(token) = &state.config.metrics_token else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let presented = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !same_secret(presented.trim(), token.trim()) {
        return (
            StatusCode::UNAUTHORIZED,
            [(http::header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\"")],
        )
            .into_response();
    }
    let mut text = state.metrics.render();
    match state.console.probes.metrics().await {
        Ok(probes) => text.push_str(&probes),
        Err(error) => tracing::error!(%error, "the site probes' metrics could not be read"),
    }
    match state.console.alerts.metrics().await {
        Ok(alerts) => text.push_str(&alerts),
        Err(error) => tracing::error!(%error, "the alerts' metrics could not be read"),
    }
    ([(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// Compares two secrets in time that does not depend on where they differ
/// (only their lengths can show).
fn same_secret(presented: &str, expected: &str) -> bool {
    presented.len() == expected.len()
        && presented
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |differ, (a, b)| differ | (a ^ b))
            == 0
}
