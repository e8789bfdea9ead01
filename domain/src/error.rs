//! The domain's one error type. Its variants say what went wrong in terms a
//! caller can act on; database and internal failures carry their cause so the
//! HTTP layer can log it while showing the operator only a safe sentence.

use std::time::Duration;

/// What is wrong with one field of a request. `message` is a translation key
/// (see the app's `locales/*.ftl`), so the UI can say it in the operator's
/// language next to the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: &'static str,
    pub message: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error("invalid {}: {}", .0.field, .0.message)]
    Invalid(Invalid),
    /// The same answer for an unknown account, a wrong password and a
    /// disabled account, so a sign-in form cannot be used to probe names.
    #[error("wrong username or password")]
    BadCredentials,
    #[error("too many failed attempts; retry in {0:?}")]
    Throttled(Duration),
    #[error("not allowed")]
    Forbidden,
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness rule was broken, e.g. a username already taken.
    #[error("conflict on {}: {}", .0.field, .0.message)]
    Conflict(Invalid),
    /// Another mutating job runs on the host.
    #[error("another action (job {job}) is running on this host")]
    HostBusy { job: i64 },
    /// A host could not be reached or refused the console (SSH).
    #[error("ssh: {0}")]
    Remote(#[from] crate::ssh::SshError),
    /// The Linode API could not be used or refused (its words inside).
    #[error("linode: {0}")]
    Linode(#[from] crate::linode::LinodeError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("internal: {0}")]
    Internal(String),
}

impl DomainError {
    pub fn invalid(field: &'static str, message: &'static str) -> Self {
        Self::Invalid(Invalid { field, message })
    }

    /// Maps a unique-constraint violation on `constraint` to a field conflict,
    /// any other database error to itself.
    pub fn on_constraint(error: sqlx::Error, constraint: &str, field: &'static str, message: &'static str) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.constraint() == Some(constraint) => {
                Self::Conflict(Invalid { field, message })
            }
            _ => Self::Database(error),
        }
    }
}

pub type Result<T, E = DomainError> = std::result::Result<T, E>;
