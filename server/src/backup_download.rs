//! `GET /backups/{id}/download` (a stored backup, encrypted as stored) and
//! `GET /backups/key.txt` (the identity that opens backups), for admins:
//! the domain checks the role and audits both; the bytes stream in
//! constant memory.

use app::context::{Caller, Refusal};
use axum::body::Body;
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use domain::DomainError;
use http::{header, StatusCode};

pub async fn download(caller: Caller, Path(backup_id): Path<i64>) -> Response {
    match caller
        .console
        .backups
        .download(&caller.operator, &caller.provenance, backup_id)
        .await
    {
        Ok(download) => {
            let mut response = (
                [
                    (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{}\"", download.file_name),
                    ),
                    (header::CACHE_CONTROL, "no-store".to_owned()),
                ],
                Body::from_stream(download.bytes),
            )
                .into_response();
            if let Some(size) = download
                .size
                .and_then(|s| http::HeaderValue::from_str(&s.to_string()).ok())
            {
                response.headers_mut().insert(header::CONTENT_LENGTH, size);
            }
            response
        }
        Err(error) => refused(error),
    }
}

pub async fn export_key(caller: Caller) -> Response {
    match caller
        .console
        .backups
        .export_key(&caller.operator, &caller.provenance)
        .await
    {
        Ok(identity) => {
            let mut text = String::from(concat!(
                "# OC Pizza console: the age identity that opens its backups.\n",
                "# Keep it offline, apart from the backups. To restore one without the console:\n",
                "#   age -d -i this-file BACKUP.dump.zst.age | zstd -d | pg_restore --clean --if-exists --single-transaction -d DATABASE\n",
            ));
            text.push_str(&String::from_utf8_lossy(&identity));
            text.push('\n');
            (
                [
                    (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"ocpizza-backups-identity.txt\"",
                    ),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                text,
            )
                .into_response()
        }
        Err(error) => refused(error),
    }
}

fn refused(error: DomainError) -> Response {
    match error {
        DomainError::Forbidden => Refusal::Forbidden.into_response(),
        DomainError::NotFound(_) => (StatusCode::NOT_FOUND, "Introuvable / Not found").into_response(),
        DomainError::Invalid(_) => (
            StatusCode::CONFLICT,
            "Seule une sauvegarde réussie se télécharge / Only a successful backup downloads",
        )
            .into_response(),
        other => {
            tracing::error!(error = %other, "a backup download failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "Erreur interne / Internal error").into_response()
        }
    }
}
