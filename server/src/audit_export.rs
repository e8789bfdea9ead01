//! `GET /audit/export.csv`: the audit log's rows matching the audit page's
//! filters, streamed as CSV in constant memory.

use app::audit_query::AuditQuery;
use app::context::{Caller, Refusal};
use axum::body::Body;
use axum::extract::Query;
use axum::response::{IntoResponse, Response};
use domain::accounts::Role;
use domain::audit::{AuditAction, AuditEntry, Outcome};
use futures::TryStreamExt;
use http::{header, StatusCode};

pub async fn export(caller: Caller, Query(query): Query<AuditQuery>) -> Result<Response, Refusal> {
    let caller = caller.at_least(Role::Operator).await?;
    let filter = match query.to_filter() {
        Ok(filter) => filter,
        Err(error) => return Ok((StatusCode::BAD_REQUEST, format!("{error}")).into_response()),
    };
    let recorded = AuditEntry::new(
        caller.operator.actor(),
        AuditAction::AuditExport,
        "audit_log",
        Outcome::Success,
    )
    .detail("filter", query.describe())
    .from(&caller.provenance)
    .record_alone(caller.console.pool())
    .await;
    if let Err(error) = recorded {
        tracing::error!(%error, "could not audit an export");
        return Ok((StatusCode::INTERNAL_SERVER_ERROR, "").into_response());
    }
    let stream = caller.console.audit.export_csv(filter).map_err(|error| {
        tracing::error!(%error, "audit export interrupted");
        std::io::Error::other("audit export interrupted")
    });
    Ok((
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
        .into_response())
}
