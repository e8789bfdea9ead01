//! Sign-in, sign-out, first-admin setup and the language switch: plain form
//! posts answered with a redirect, so they work before (or without) the
//! page's JavaScript.

use app::context::RequestContext;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use domain::accounts::Locale;
use domain::audit::AuditAction;
use domain::{DomainError, SignInStep};
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
    headers: http::HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let agent = user_agent(&headers);
    let next = local_path(&form.next);
    let back = |error: &str, extra: &str| {
        let next = encode(&next);
        Redirect::to(&format!("/sign-in?error={error}{extra}&next={next}")).into_response()
    };
    match state
        .console
        .sign_in(&form.username, &form.password, &context.provenance)
        .await
    {
        Ok(SignInStep::SignedIn(operator)) => {
            match app::context::start_session(&session, &operator, &context.provenance, agent.as_deref()).await {
                Ok(()) => Redirect::to(&next).into_response(),
                Err(error) => {
                    tracing::error!(%error, "could not start a session");
                    back("internal", "")
                }
            }
        }
        Ok(SignInStep::CodeNeeded(pending)) => match app::context::await_code(&session, pending).await {
            Ok(()) => Redirect::to(&format!("/sign-in/code?next={}", encode(&next))).into_response(),
            Err(error) => {
                tracing::error!(%error, "could not keep a sign-in waiting for its code");
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

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
    #[serde(default)]
    next: String,
}

/// The sign-in's second step: the code of the account whose password this
/// session gave (within five minutes), or back to the password.
pub async fn sign_in_code(
    State(state): State<AppState>,
    Extension(context): Extension<RequestContext>,
    session: Session,
    headers: http::HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let agent = user_agent(&headers);
    let next = local_path(&form.next);
    let again = |error: &str, extra: &str| {
        let next = encode(&next);
        Redirect::to(&format!("/sign-in/code?error={error}{extra}&next={next}")).into_response()
    };
    let from_the_start = |error: &str| {
        let next = encode(&next);
        Redirect::to(&format!("/sign-in?error={error}&next={next}")).into_response()
    };
    let Some(awaiting) = app::context::awaited_code(&session).await else {
        return from_the_start("error-second-factor-expired");
    };
    match state
        .console
        .sign_in_code(&awaiting.pending, &form.code, &context.provenance)
        .await
    {
        Ok(operator) => {
            match app::context::start_session(&session, &operator, &context.provenance, agent.as_deref()).await {
                Ok(()) => Redirect::to(&next).into_response(),
                Err(error) => {
                    tracing::error!(%error, "could not start a session");
                    again("internal", "")
                }
            }
        }
        Err(DomainError::Invalid(invalid)) => {
            metrics::counter!("sign_in_failures_total", "reason" => "code").increment(1);
            again(invalid.message, "")
        }
        Err(DomainError::Throttled(wait)) => {
            metrics::counter!("sign_in_failures_total", "reason" => "throttled").increment(1);
            again("throttled", &format!("&wait={}", wait.as_secs()))
        }
        Err(DomainError::BadCredentials) => {
            if let Err(error) = session.flush().await {
                tracing::error!(%error, "could not end a sign-in");
            }
            from_the_start("credentials")
        }
        Err(error) => {
            tracing::error!(error = ?error, "sign-in code check failed");
            again("internal", "")
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
            .record_session_end(operator.actor(), &context.provenance, AuditAction::SessionSignOut, None)
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
    let Ok(language) = form.language.parse::<Locale>() else {
        return Redirect::to(&local_path(&form.next)).into_response();
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
        Redirect::to(&local_path(&form.next)),
    )
        .into_response()
}

/// The browser's description of itself, for "Mes sessions": read as UTF-8
/// whatever its bytes (a browser named "Navigateur du téléphone" sends them
/// raw, which a strict header read would drop).
fn user_agent(headers: &http::HeaderMap) -> Option<String> {
    let value = headers.get(http::header::USER_AGENT)?;
    let text = String::from_utf8_lossy(value.as_bytes()).trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// Where a form may send the browser next: `next` when it is a path on this
/// console, else `/`. Browsers drop tabs and newlines from a URL and read a
/// backslash as a slash, so `/<TAB>/evil.example` or `/\\evil.example` would
/// leave the console: a target must start with one `/`, hold no control
/// character and no backslash (raw or percent-encoded), and resolve, as a
/// browser resolves it, to this console's own origin. The answer is that
/// resolved form (ASCII, percent-encoded), safe in a `Location` header.
pub fn local_path(next: &str) -> String {
    const HOME: &str = "/";
    let refused = |c: char| c.is_control() || c == '\\';
    let decoded = percent_decoded(next);
    if !next.starts_with('/')
        || next.starts_with("//")
        || next.chars().any(refused)
        || decoded.starts_with("//")
        || decoded.chars().any(refused)
    {
        return HOME.to_owned();
    }
    let base = url::Url::parse("http://console.invalid/").expect("a valid base URL");
    let Ok(resolved) = base.join(next) else {
        return HOME.to_owned();
    };
    let target = &resolved[url::Position::BeforePath..];
    // Dot segments can collapse into `//` (`/.//evil.example`).
    if resolved.origin() != base.origin() || !target.starts_with('/') || target.starts_with("//") {
        return HOME.to_owned();
    }
    target.to_owned()
}

/// `text` with its `%XX` escapes decoded (invalid UTF-8 replaced).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let hex = |b: u8| (b as char).to_digit(16);
    let mut i = 0;
    while i < bytes.len() {
        match (
            bytes[i],
            bytes.get(i + 1).and_then(|&b| hex(b)),
            bytes.get(i + 2).and_then(|&b| hex(b)),
        ) {
            (b'%', Some(high), Some(low)) => {
                decoded.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::local_path;

    /// Where a browser on a console page goes when told `Location: target`.
    fn browser_destination(target: &str) -> url::Url {
        url::Url::parse("https://console.example/audit?actor=x")
            .unwrap()
            .join(target)
            .unwrap()
    }

    #[test]
    fn redirects_stay_on_the_console() {
        assert_eq!(local_path("/audit?actor=x"), "/audit?actor=x");
        assert_eq!(local_path("/server/3#jobs"), "/server/3#jobs");
        for foreign in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/%09/evil.example",
            "/%5Cevil.example",
            "/%2F/evil.example",
            "/.//evil.example",
            "/..//evil.example",
            "\\/evil.example",
            "javascript:alert(1)",
            "evil.example",
            "",
        ] {
            assert_eq!(local_path(foreign), "/", "{foreign:?}");
        }
    }

    #[test]
    fn a_target_outside_ascii_is_encoded_rather_than_breaking_the_header() {
        assert_eq!(
            local_path("/audit?text=crème brûlée"),
            "/audit?text=cr%C3%A8me%20br%C3%BBl%C3%A9e"
        );
    }

    proptest! {
        /// Whatever is posted, the answer is a path a browser resolves to
        /// the console itself, and a valid header value.
        #[test]
        fn any_next_redirects_to_the_console_itself(
            next in prop_oneof![any::<String>(), "[/\\\\\t\n\r %.:@?#a-z0-9]{0,24}"],
        ) {
            let target = local_path(&next);
            prop_assert!(target.starts_with('/') && !target.starts_with("//"), "{target:?}");
            prop_assert!(!target.chars().any(|c| c.is_control() || c == '\\'), "{target:?}");
            prop_assert!(http::HeaderValue::from_str(&target).is_ok(), "{target:?}");
            let destination = browser_destination(&target);
            prop_assert_eq!(destination.host_str(), Some("console.example"));
            prop_assert_eq!(destination.scheme(), "https");
        }

        /// A foreign host behind any of the tricks browsers forgive is refused.
        #[test]
        fn a_foreign_host_behind_a_browser_quirk_is_refused(
            trick in prop::sample::select(vec![
                "//", "/\\", "\\\\", "/\t/", "/\n/", "/\r/", "/ /", "/\t\\", "/%09/", "/%0a/", "/%5c",
                "/%2f/", "/.//", "/..//", "/./\\", "\\", "http://", "https:", "//\t",
            ]),
            host in "[a-z]{1,12}\\.(example|test)",
            rest in "(/[a-z0-9]{0,8}){0,3}",
        ) {
            let next = format!("{trick}{host}{rest}");
            let target = local_path(&next);
            let destination = browser_destination(&target);
            prop_assert_ne!(destination.host_str(), Some(host.as_str()));
            prop_assert_eq!(destination.host_str(), Some("console.example"));
        }

        /// The console's own paths come back unchanged.
        #[test]
        fn a_plain_console_path_is_kept_as_it_is(
            next in "(/[a-z0-9._~-]{1,10}){1,4}/?(\\?[a-z0-9_]{1,8}=[a-z0-9]{0,8}(&[a-z0-9_]{1,8}=[a-z0-9]{0,8}){0,3})?"
        ) {
            // Dot segments are resolved, the rest is kept as it was.
            prop_assume!(!next.split(['/', '?']).any(|segment| segment == "." || segment == ".."));
            prop_assert_eq!(local_path(&next), next);
        }
    }
}
