//! The one error type server functions return: serialisable and safe to show.
//! On the server, a domain error is logged with its whole cause, and the
//! browser gets only what helps the operator (a translated sentence, the
//! field it concerns, a request id to quote).

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("not signed in")]
    NotSignedIn,
    #[error("forbidden")]
    Forbidden,
    /// A field's value was refused; `message` is a translation key.
    #[error("invalid {field}")]
    Invalid { field: String, message: String },
    #[error("not found")]
    NotFound,
    /// Another mutating action runs on the host.
    #[error("host busy with job {job}")]
    HostBusy { job: i64 },
    /// The host could not be reached or refused the console. `message` is a
    /// translation key; what SSH said (library text, in English) stays in
    /// the server's log under `request_id`, for the operator to quote.
    #[error("remote: {message} (request {request_id})")]
    Remote { message: String, request_id: String },
    /// The Linode API could not be used or refused: `message` is a
    /// translation key, `detail` what it quotes (the scope missing, the
    /// API's own words); never the token.
    #[error("linode: {message} ({detail})")]
    Linode { message: String, detail: String },
    #[error("internal error (request {request_id})")]
    Internal { request_id: String },
    /// The request did not reach the server or its answer was unreadable.
    #[error("transport: {0}")]
    Transport(String),
}

impl AppError {
    /// The translation key of the sentence shown to the operator.
    pub fn message_key(&self) -> &str {
        match self {
            AppError::NotSignedIn => "error-not-signed-in",
            AppError::Forbidden => "error-forbidden",
            AppError::Invalid { message, .. } => message,
            AppError::NotFound => "error-not-found",
            AppError::HostBusy { .. } => "error-host-busy",
            AppError::Remote { message, .. } | AppError::Linode { message, .. } => message,
            AppError::Internal { .. } => "error-internal",
            AppError::Transport(_) => "error-transport",
        }
    }

    /// What the sentence quotes (`{ $detail }`), if anything.
    pub fn detail(&self) -> &str {
        match self {
            AppError::Linode { detail, .. } => detail,
            _ => "",
        }
    }

    /// The sentence shown to the operator, in `locale`.
    pub fn text(&self, locale: crate::i18n::Locale) -> String {
        use crate::i18n::Translate;
        locale.t_with(self.message_key(), &[("detail", self.detail().to_owned().into())])
    }

    /// The field the error concerns, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            AppError::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::Transport(value.to_string())
    }
}

#[cfg(feature = "ssr")]
impl AppError {
    /// Converts a domain error, logging what the operator must not see.
    pub fn from_domain(error: domain::DomainError, request_id: Option<&str>) -> Self {
        use domain::DomainError as E;
        match error {
            E::Invalid(i) | E::Conflict(i) => AppError::Invalid {
                field: i.field.to_owned(),
                message: i.message.to_owned(),
            },
            E::Forbidden => AppError::Forbidden,
            E::NotFound(_) => AppError::NotFound,
            E::BadCredentials => AppError::Invalid {
                field: "password".into(),
                message: "error-credentials".into(),
            },
            E::Throttled(_) => AppError::Invalid {
                field: "password".into(),
                message: "error-throttled".into(),
            },
            E::HostBusy { job } => AppError::HostBusy { job },
            E::Linode(linode) => {
                tracing::warn!(error = %linode, request_id, "the Linode API could not be used or refused");
                AppError::Linode {
                    message: linode.message_key().into(),
                    detail: linode.detail(),
                }
            }
            E::Remote(ssh) => {
                tracing::warn!(error = %ssh, request_id, "a host could not be reached or refused the console");
                AppError::Remote {
                    message: remote_message(&ssh).into(),
                    request_id: request_id.unwrap_or("-").to_owned(),
                }
            }
            other => {
                tracing::error!(error = ?other, request_id, "request failed");
                AppError::Internal {
                    request_id: request_id.unwrap_or("-").to_owned(),
                }
            }
        }
    }
}

/// `?` on a domain error in a server function: converted with the current
/// request's id (the one the operator can quote), logged if internal.
#[cfg(feature = "ssr")]
impl From<domain::DomainError> for AppError {
    fn from(error: domain::DomainError) -> Self {
        let request_id = crate::context::request_context().and_then(|c| c.provenance.request_id);
        let error = AppError::from_domain(error, request_id.as_deref());
        error.answer_with_status();
        error
    }
}

#[cfg(feature = "ssr")]
impl AppError {
    /// The HTTP status that says what went wrong, for a client that is not
    /// a page (a script, the pages' own fetches): 400 for refused input,
    /// 404, 409 when the host is busy, 502 when a host or the Linode API
    /// failed us, 500 otherwise.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            AppError::NotSignedIn => S::UNAUTHORIZED,
            AppError::Forbidden => S::FORBIDDEN,
            AppError::Invalid { .. } => S::BAD_REQUEST,
            AppError::NotFound => S::NOT_FOUND,
            AppError::HostBusy { .. } => S::CONFLICT,
            AppError::Remote { .. } | AppError::Linode { .. } => S::BAD_GATEWAY,
            AppError::Internal { .. } | AppError::Transport(_) => S::INTERNAL_SERVER_ERROR,
        }
    }

    /// Sets the server function's answer status, except for a plain form
    /// post (no JavaScript), which must stay the redirect back to its page.
    pub(crate) fn answer_with_status(&self) {
        let plain_form = leptos::prelude::use_context::<http::request::Parts>().is_some_and(|parts| {
            parts
                .headers
                .get(http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("text/html"))
        });
        if let (false, Some(response)) = (
            plain_form,
            leptos::prelude::use_context::<leptos_axum::ResponseOptions>(),
        ) {
            response.set_status(self.status());
        }
    }
}

#[cfg(feature = "ssr")]
pub(crate) fn remote_message(error: &domain::ssh::SshError) -> &'static str {
    use domain::ssh::SshError as S;
    match error {
        S::Unreachable(_) => "error-ssh-unreachable",
        S::TimedOut(_) => "error-ssh-timeout",
        S::HostKeyChanged { .. } => "error-ssh-host-key-changed",
        S::AuthenticationRefused => "error-ssh-auth",
        S::Lost(_) => "error-ssh-lost",
        S::BadPrivateKey => "error-private-key",
    }
}
