//! `GET /audit/export.csv`: the audit log's rows matching the audit page's
//! filters, streamed as CSV in constant memory.

use app::audit_query::AuditQuery;
use app::context::RequestContext;
use axum::body::Body;
use axum::extract::{Extension, Query, State};
use axum::response::{IntoResponse, Response};
use domain::accounts::Role;
use domain::audit::{AuditAction, AuditEntry, Outcome};
use futures::TryStreamExt;
use http::{header, StatusCode};

use crate::startup::AppState;

pub async fn export(
    State(state): State<AppState>,
    Extension(context): Extension<RequestContext>,
    Query(query): Query<AuditQuery>,
) -> Response {
    let Some(operator) = context.operator else {
        return (StatusCode::UNAUTHORIZED, "Connexion requise / Sign-in required").into_response();
    };
    if operator.require(Role::Operator).is_err() {
        let _ = state
            .console
            .record_refusal(
                operator.actor(),
                "request.forbidden",
                "/audit/export.csv",
                &context.provenance,
                "role",
            )
            .await;
        return (StatusCode::FORBIDDEN, "Accès refusé / Forbidden").into_response();
    }
    let filter = match query.to_filter() {
        Ok(filter) => filter,
        Err(error) => return (StatusCode::BAD_REQUEST, format!("{error}")).into_response(),
    };
    let recorded = AuditEntry::new(
        operator.actor(),
        AuditAction::AuditExport,
        "audit_log",
        Outcome::Success,
    )
    .detail("filter", query.describe())
    .from(&context.provenance)
    .record_alone(state.console.pool())
    .await;
    if let Err(error) = recorded {
        tracing::error!(%error, "could not audit an export");
        return (StatusCode::INTERNAL_SERVER_ERROR, "").into_response();
    }
    let stream = state.console.audit.export_csv(filter).map_err(|error| {
        tracing::error!(%error, "audit export interrupted");
        std::io::Error::other("audit export interrupted")
    });
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"journal-audit.csv\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}
