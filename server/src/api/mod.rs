//! The JSON API under `/api/v1`, for scripts and CI (`curl -H
//! "Authorization: Bearer ocp_…"`).
//!
//! - **Bearer tokens only**: no cookie is read on these routes (they are
//!   outside the session layer), so a browser's credentials never reach
//!   them, the Origin check has nothing to protect and CSRF cannot apply.
//!   [`caller::ApiCaller`] checks the token; a route narrows it with
//!   `at_least(role)`, audited when refused, like the pages.
//! - **The same rules as the pages**: each route calls the domain function
//!   the page's server function calls, so a change is audited exactly like
//!   the UI's, the token's name in the record's details.
//! - **Errors** are JSON with a stable `code` and a sentence in French and
//!   English ([`error::ErrorBody`]); bodies are limited to 64 KiB (413);
//!   lists page by cursor.
//! - **The OpenAPI document** is built from these very routes (`utoipa`),
//!   so it cannot drift from them, and served at `/api/v1/openapi.json`.

mod backups;
mod caller;
mod deploys;
mod error;
mod hosts;
mod jobs;

use axum::extract::DefaultBodyLimit;
use axum::routing::{any, get};
use axum::{middleware, Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::startup::AppState;
pub use error::ErrorBody;

/// The largest body a request may carry.
pub const BODY_LIMIT: usize = 64 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "OC Pizza operations console",
        description = "The console's actions for scripts and CI. Every request carries `Authorization: Bearer <token>` (a token issued on the account's page, scope `read` or `operate`). Errors are JSON with a stable `code`."
    ),
    modifiers(&BearerToken),
    // Named by `jobs::StartAnswers`, which does not bring its schemas along.
    components(schemas(jobs::Started)),
    tags(
        (name = "hosts", description = "The registered hosts and their sites"),
        (name = "jobs", description = "Runbook actions on a host"),
        (name = "backups", description = "Database backups"),
        (name = "deploys", description = "Deploys of the app"),
    )
)]
struct ApiDoc;

/// The `token` security scheme the routes name.
struct BearerToken;

impl utoipa::Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("ocp_ followed by 64 hex digits")
                    .build(),
            ),
        );
    }
}

/// The API's routes and the document describing them, built together.
fn routes_and_document() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(hosts::list_hosts))
        .routes(routes!(jobs::start_job))
        .routes(routes!(jobs::job))
        .routes(routes!(jobs::job_output))
        .routes(routes!(backups::back_up_now))
        .routes(routes!(backups::list_backups))
        .routes(routes!(backups::backup))
        .routes(routes!(deploys::deploy, deploys::deploys))
        .split_for_parts()
}

/// The OpenAPI document of `/api/v1`.
pub fn document() -> utoipa::openapi::OpenApi {
    routes_and_document().1
}

/// `/api/v1`: its routes, its document, a JSON 404 for any other path
/// under it; with the request's id and provenance (as every request), no
/// session, no caching.
pub fn router(state: &AppState) -> Router<AppState> {
    let (routes, document) = routes_and_document();
    let document = std::sync::Arc::new(document);
    routes
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let document = document.clone();
                async move { Json(document) }
            }),
        )
        .route("/api/v1/{*rest}", any(|| async { error::ApiError::not_found() }))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-store"),
        ))
        .layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
            http::header::X_CONTENT_TYPE_OPTIONS,
            http::HeaderValue::from_static("nosniff"),
        ))
        .layer(middleware::from_fn_with_state(state.clone(), crate::observe::observe))
}

/// A time as the API writes it: RFC 3339, UTC.
fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
