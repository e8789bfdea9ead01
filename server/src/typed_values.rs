//! A form posted without JavaScript to a server function comes back to its
//! page with what the operator typed. Leptos already sends the browser back
//! to the page (its `Referer`) with the refusal in the address (`__path`,
//! `__err`), which the page's `ServerAction` shows; this layer adds the
//! form's values beside it (`__typed.<field>`, read by
//! `app::components::typed_value`), never a secret (passwords, private keys,
//! tokens), and keeps only the last refusal when a form is refused twice.
//! An accepted form comes back with none of them; one whose server function
//! opened another page (a job's) goes there as it is.
//!
//! An accepted form's answer (what its server function returned: "done",
//! an API token's secret, recovery codes, an import's summary) cannot go
//! into an address: it is kept in the session, sealed with the console's
//! master key and bound to the session, until the next page the browser
//! opens, which takes it ([`app::context::KeptAnswer`]) and shows it once
//! (`app::components::form_action`): a reload no longer says it.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, Method, StatusCode};

use app::components::TYPED_VALUE_PREFIX;
use app::context::{KeptAnswer, KEPT_ANSWER};
use domain::secrets::Zeroizing;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::startup::AppState;

/// The largest form read back (a pasted private key is a few KiB).
const LARGEST_FORM: usize = 256 * 1024;

/// The largest answer kept for the page a form comes back to.
const LARGEST_ANSWER: usize = 64 * 1024;

/// What a kept answer is sealed for (with the session it belongs to).
const ANSWER_PURPOSE: &str = "form answer";

/// A form's answer as the session keeps it: sealed.
#[derive(Serialize, Deserialize)]
struct SealedAnswer {
    path: String,
    /// Hex of the sealed JSON.
    sealed: String,
}

/// Field names whose value never goes into an address.
const SECRET_WORDS: [&str; 5] = ["password", "confirmation", "private_key", "secret", "token"];

/// Whether a field holds a secret, judged by its name.
pub fn is_secret(field: &str) -> bool {
    SECRET_WORDS.iter().any(|word| field.contains(word))
}

/// The layer: acts on a plain HTML form posted to a server function, and
/// gives the next page visited the answer kept for it.
pub async fn keep_typed_values(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let session = request.extensions().get::<Session>().cloned();
    if !is_plain_form_post(&request) {
        if let Some(session) = session.filter(|_| is_page_visit(&request)) {
            if let Some(answer) = take_answer(&state, &session).await {
                request.extensions_mut().insert(answer);
            }
        }
        return next.run(request).await;
    }
    let server_function = request.uri().path().to_owned();
    let form_page = request
        .headers()
        .get(header::REFERER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let (parts, body) = request.into_parts();
    let Ok(form) = to_bytes(body, LARGEST_FORM).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let mut response = next.run(Request::from_parts(parts, Body::from(form.clone()))).await;
    let location = response
        .headers()
        .get(header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .filter(|location| !opens_another_page(location, form_page.as_deref()))
        .and_then(|location| back_to_form(location, &form));
    if let Some(location) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        let accepted = !refused(location.to_str().unwrap_or_default());
        if let (true, Some(session)) = (accepted, &session) {
            response = keep_answer(&state, session, &server_function, response).await;
        }
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// Keeps the answer of an accepted form, sealed, in its session; the
/// browser gets it unchanged.
async fn keep_answer(state: &AppState, session: &Session, server_function: &str, response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let Ok(answer) = to_bytes(body, LARGEST_ANSWER).await else {
        tracing::warn!(server_function, "a form's answer too large to keep for its page");
        return Response::from_parts(parts, Body::empty());
    };
    let holder = holder(session);
    let sealed = state.console.secrets.seal_passing(ANSWER_PURPOSE, &holder, &answer);
    let kept = SealedAnswer {
        path: server_function.to_owned(),
        sealed: hex::encode(sealed),
    };
    if let Err(error) = session.insert(KEPT_ANSWER, kept).await {
        tracing::warn!(%error, "a form's answer could not be kept for its page");
    }
    Response::from_parts(parts, Body::from(answer))
}

/// Takes the answer kept for this page out of the session: it is shown once.
async fn take_answer(state: &AppState, session: &Session) -> Option<KeptAnswer> {
    // Read first: removing marks the session to be saved, which a visit
    // with nothing kept must not cost.
    let kept: SealedAnswer = session.get(KEPT_ANSWER).await.ok().flatten()?;
    let _ = session.remove_value(KEPT_ANSWER).await;
    let sealed = hex::decode(&kept.sealed).ok()?;
    let opened = state
        .console
        .secrets
        .open_passing(ANSWER_PURPOSE, &holder(session), &sealed)
        .inspect_err(|error| tracing::warn!(%error, "a form's kept answer does not open"))
        .ok()?;
    let json = String::from_utf8(opened.to_vec()).ok()?;
    Some(KeptAnswer {
        path: kept.path,
        json: Zeroizing::new(json),
    })
}

/// What a kept answer is bound to: its session.
fn holder(session: &Session) -> String {
    session.id().map(|id| id.to_string()).unwrap_or_default()
}

/// Whether the browser comes back refused (Leptos' `__err`).
fn refused(location: &str) -> bool {
    url::Url::parse("http://console.invalid/")
        .and_then(|base| base.join(location))
        .is_ok_and(|url| url.query_pairs().any(|(key, _)| key == "__err"))
}

/// A page opened in the browser (not a server function, a stream or a file).
fn is_page_visit(request: &Request) -> bool {
    request.method() == Method::GET
        && !request.uri().path().starts_with("/api/")
        && request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
}

fn is_plain_form_post(request: &Request) -> bool {
    let header_has = |name, wanted: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains(wanted))
    };
    request.method() == Method::POST
        && request.uri().path().starts_with("/api/")
        && header_has(header::ACCEPT, "text/html")
        && header_has(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
}

/// Whether the server function sent the browser to another page than the
/// form's (`leptos_axum::redirect`, e.g. to the job it started) rather than
/// back to the form (Leptos' answer to a plain form post is its `Referer`).
pub fn opens_another_page(location: &str, form_page: Option<&str>) -> bool {
    let Ok(base) = url::Url::parse("http://console.invalid/") else {
        return false;
    };
    let path = |address: &str| base.join(address).ok().map(|url| url.path().to_owned());
    match form_page {
        Some(form_page) => path(location) != path(form_page),
        None => false,
    }
}

/// The address the browser goes back to: the page's own query, then the
/// last refusal and the values typed if the form was refused.
pub fn back_to_form(location: &str, form: &[u8]) -> Option<String> {
    let base = url::Url::parse("http://console.invalid/").ok()?;
    let mut url = base.join(location).ok()?;
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let last = |key: &str| pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let refusal = last("__path").zip(last("__err"));
    let page: Vec<&(String, String)> = pairs
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "__path" | "__err") && !k.starts_with(TYPED_VALUE_PREFIX))
        .collect();
    {
        let mut query = url.query_pairs_mut();
        query.clear();
        query.extend_pairs(page);
        if let Some((path, error)) = &refusal {
            query.append_pair("__path", path);
            query.append_pair("__err", error);
            for (field, value) in url::form_urlencoded::parse(form) {
                if !field.starts_with("__") && !is_secret(&field) && !value.is_empty() {
                    query.append_pair(&format!("{TYPED_VALUE_PREFIX}{field}"), &value);
                }
            }
        }
    }
    if url.query() == Some("") {
        url.set_query(None);
    }
    let same_console = url.origin() == base.origin();
    Some(if same_console {
        url[url::Position::BeforePath..].to_owned()
    } else {
        url.into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_form_comes_back_with_its_values_but_never_a_password() {
        let back = back_to_form(
            "http://127.0.0.1:3000/accounts?__path=/api/a&__err=old&__typed.username=old&__path=/api/a&__err=new",
            b"username=lucie+caisse&role=viewer&password=une+pizza",
        )
        .unwrap();
        assert_eq!(
            back,
            "http://127.0.0.1:3000/accounts?__path=%2Fapi%2Fa&__err=new&__typed.username=lucie+caisse&__typed.role=viewer"
        );
    }

    #[test]
    fn an_accepted_form_comes_back_without_its_values() {
        let back = back_to_form("/audit?actor=paul&__typed.username=lucie", b"username=lucie").unwrap();
        assert_eq!(back, "/audit?actor=paul");
        let back = back_to_form("/accounts?__typed.role=admin", b"role=admin").unwrap();
        assert_eq!(back, "/accounts");
    }

    #[test]
    fn a_form_that_opens_another_page_is_not_sent_back() {
        let host_page = Some("http://127.0.0.1:3000/server/4");
        assert!(opens_another_page("/jobs/12", host_page));
        assert!(!opens_another_page("http://127.0.0.1:3000/server/4", host_page));
        assert!(!opens_another_page(
            "http://127.0.0.1:3000/server/4?__path=x&__err=y",
            host_page
        ));
        assert!(!opens_another_page("/jobs/12", None));
    }

    #[test]
    fn secrets_are_known_by_their_names() {
        for field in [
            "password",
            "new_password",
            "current_password",
            "confirmation",
            "private_key",
            "token",
        ] {
            assert!(is_secret(field), "{field}");
        }
        for field in ["username", "role", "name", "ssh_address", "site_url"] {
            assert!(!is_secret(field), "{field}");
        }
    }
}
