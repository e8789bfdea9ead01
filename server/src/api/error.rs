//! The API's errors: a status, a stable code a script can test, and a
//! sentence in French and English. What must not be shown (a library's
//! words, a host's answer) stays in the log under the request id, which
//! the answer quotes.

use app::errors::AppError;
use app::i18n::{Locale, Translate};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

/// An error as the API answers it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable: `unauthorized`, `forbidden`, `not_found`, `invalid`,
    /// `bad_request`, `too_large`, `unsupported_media_type`, `host_busy`,
    /// `host_unreachable`, `linode_failed`, `internal`.
    pub code: &'static str,
    pub message: Message,
    /// The field refused (`invalid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The job already running on the host (`host_busy`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<i64>,
    /// What to quote to whoever reads the console's log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// A sentence in both of the console's languages.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Message {
    pub fr: String,
    pub en: String,
}

impl Message {
    fn of(key: &str, detail: &str) -> Self {
        let args = [("detail", detail.to_owned().into())];
        Self {
            fr: Locale::Fr.t_with(key, &args),
            en: Locale::En.t_with(key, &args),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, key: &str) -> Self {
        Self {
            status,
            body: ErrorBody {
                code,
                message: Message::of(key, ""),
                field: None,
                job_id: None,
                request_id: None,
            },
        }
    }

    /// No token, or one that lets nobody in (the same answer whatever the
    /// reason).
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "api-error-unauthorized")
    }

    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "api-error-forbidden")
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "error-not-found")
    }

    /// A value refused before reaching the domain.
    pub fn invalid(field: &str, key: &str) -> Self {
        let mut error = Self::new(StatusCode::BAD_REQUEST, "invalid", key);
        error.body.field = Some(field.to_owned());
        error
    }

    /// A domain error, converted as the pages convert it (logged with
    /// `request_id` when internal).
    pub fn from_domain(error: domain::DomainError, request_id: Option<&str>) -> Self {
        AppError::from_domain(error, request_id).into()
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        use StatusCode as S;
        let (status, code) = match &error {
            AppError::NotSignedIn => return Self::unauthorized(),
            AppError::Forbidden => return Self::forbidden(),
            AppError::Invalid { .. } => (S::BAD_REQUEST, "invalid"),
            AppError::NotFound => (S::NOT_FOUND, "not_found"),
            AppError::HostBusy { .. } => (S::CONFLICT, "host_busy"),
            AppError::Remote { .. } => (S::BAD_GATEWAY, "host_unreachable"),
            AppError::Linode { .. } => (S::BAD_GATEWAY, "linode_failed"),
            AppError::Internal { .. } | AppError::Transport(_) => (S::INTERNAL_SERVER_ERROR, "internal"),
        };
        let body = ErrorBody {
            code,
            message: Message::of(error.message_key(), error.detail()),
            field: error.field().map(str::to_owned),
            job_id: match &error {
                AppError::HostBusy { job } => Some(*job),
                _ => None,
            },
            request_id: match &error {
                AppError::Remote { request_id, .. } | AppError::Internal { request_id } => Some(request_id.clone()),
                _ => None,
            },
        };
        Self { status, body }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer realm=\"ocpizza-console\""),
            );
        }
        response
    }
}

/// A body that is not the JSON asked for: 400, or 413 past the size
/// limit, or 415 when it is not said to be JSON.
impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", "api-error-too-large")
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "api-error-media-type",
            ),
            _ => Self::new(StatusCode::BAD_REQUEST, "bad_request", "api-error-bad-request"),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", "api-error-bad-request")
    }
}

impl From<QueryRejection> for ApiError {
    fn from(_: QueryRejection) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", "api-error-bad-request")
    }
}

/// The extractors the routes use, answering their refusals as [`ApiError`]s.
#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);
