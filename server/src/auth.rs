//! Sign-in, sign-out, first-admin setup and the language switch: plain form
//! posts answered with a redirect, so they work before (or without) the
//! page's JavaScript.

use app::context::RequestContext;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use domain::accounts::Language;
use domain::DomainError;
use serde::Deserialize;
use tower_sessions::Session;

use crate::session::LANGUAGE_COOKIE;
use crate::startup::AppState;

#[derive(Deserialize)]
pub struct SignInForm {
    username: String,
    password: String,
    #[serde(default)]
    next: String,
}

pub async fn sign_in(
    State(state): State<AppState>,
    Extension(context): Extension<RequestContext>,
    session: Session,
    Form(form): Form<SignInForm>,
) -> Response {
    let next = local_path(&form.next);
    let back = |error: &str, extra: &str| {
        let next = encode(next);
        Redirect::to(&format!("/sign-in?error={error}{extra}&next={next}")).into_response()
    };
    match state
        .console
        .sign_in(&form.username, &form.password, &context.provenance)
        .await
    {
        Ok(operator) => match app::context::start_session(&session, &operator).await {
            Ok(()) => Redirect::to(next).into_response(),
            Err(error) => {
                tracing::error!(%error, "could not start a session");
                back("internal", "")
            }
        },
        Err(DomainError::BadCredentials) => {
            metrics::counter!("sign_in_failures_total", "reason" => "credentials").increment(1);
            back("credentials", "")
        }
        Err(DomainError::Throttled(wait)) => {
            metrics::counter!("sign_in_failures_total", "reason" => "throttled").increment(1);
            back("throttled", &format!("&wait={}", wait.as_secs()))
        }
        Err(error) => {
            tracing::error!(error = ?error, "sign-in failed");
            back("internal", "")
        }
    }
}

pub async fn sign_out(
    State(state): State<AppState>,
    Extension(context): Extension<RequestContext>,
    session: Session,
) -> Response {
    if let Some(operator) = &context.operator {
        if let Err(error) = state
            .console
            .record_session_end(operator.actor(), &context.provenance, "session.sign_out", None)
            .await
        {
            tracing::error!(%error, "could not audit a sign-out");
        }
    }
    if let Err(error) = session.flush().await {
        tracing::error!(%error, "could not end a session");
    }
    Redirect::to("/sign-in?signed_out=1").into_response()
}

#[derive(Deserialize)]
pub struct SetupForm {
    token: String,
    username: String,
    password: String,
    password_confirmation: String,
}

pub async fn setup(
    State(state): State<AppState>,
    Extension(context): Extension<RequestContext>,
    Form(form): Form<SetupForm>,
) -> Response {
    let back = |error: &str| {
        Redirect::to(&format!(
            "/setup?token={}&username={}&error={error}",
            encode(&form.token),
            encode(&form.username)
        ))
        .into_response()
    };
    if form.password != form.password_confirmation {
        return back("error-password-mismatch");
    }
    match state
        .console
        .setup
        .create_first_admin(&context.provenance, &form.token, &form.username, &form.password)
        .await
    {
        Ok(account) => {
            tracing::info!(username = %account.username, "first admin created");
            Redirect::to("/sign-in?created=1").into_response()
        }
        Err(DomainError::Invalid(invalid) | DomainError::Conflict(invalid)) => back(invalid.message),
        Err(DomainError::Forbidden) => back("error-setup-token"),
        Err(error) => {
            tracing::error!(error = ?error, "first admin setup failed");
            back("error-internal")
        }
    }
}

#[derive(Deserialize)]
pub struct LanguageForm {
    language: String,
    #[serde(default)]
    next: String,
}

pub async fn language(
    State(state): State<AppState>,
    Extension(context): Extension<RequestContext>,
    Form(form): Form<LanguageForm>,
) -> Response {
    let Ok(language) = Language::parse(&form.language) else {
        return Redirect::to(local_path(&form.next)).into_response();
    };
    if let Some(operator) = &context.operator {
        if let Err(error) = state
            .console
            .accounts
            .set_language(operator, &context.provenance, language)
            .await
        {
            tracing::error!(%error, "could not save the language");
        }
    }
    let secure = if state.config.secure() { "; Secure" } else { "" };
    let cookie = format!(
        "{LANGUAGE_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Strict; HttpOnly{secure}",
        language.as_str()
    );
    (
        [(http::header::SET_COOKIE, cookie)],
        Redirect::to(local_path(&form.next)),
    )
        .into_response()
}

/// Only a path on this site may be a redirect target (no `//host`).
fn local_path(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\") {
        next
    } else {
        "/"
    }
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn redirects_stay_on_the_console() {
        assert_eq!(local_path("/audit?actor=x"), "/audit?actor=x");
        for foreign in ["//evil.example", "https://evil.example", "/\\evil.example", ""] {
            assert_eq!(local_path(foreign), "/");
        }
    }
}
