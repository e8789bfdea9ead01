//! The sign-in page and the one-time first-admin setup page. Both are plain
//! HTML forms posted to the server, so they work before hydration and
//! without JavaScript.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::setup_token_valid;
use crate::components::Loading;
use crate::i18n::{use_locale, Locale, Translate};
use crate::shell::LanguageSwitch;

/// A translation key from the URL, only if it is one we know (never echo
/// arbitrary text from a URL into the page).
fn known_message(locale: Locale, key: Option<String>) -> Option<String> {
    key.filter(|k| k.starts_with("error-") && locale.has(k))
        .map(|k| locale.t(&k))
}

#[component]
pub fn SignInPage() -> impl IntoView {
    let locale = use_locale();
    let query = use_query_map();
    let param = move |name: &str| query.with(|q| q.get(name));
    let error = move || match param("error").as_deref() {
        Some("credentials") => Some(locale.t("error-credentials")),
        Some("throttled") => {
            let wait = param("wait").and_then(|w| w.parse::<u64>().ok()).unwrap_or(1);
            Some(locale.t_with("error-throttled-wait", &[("seconds", wait.into())]))
        }
        Some(key) => known_message(locale, Some(key.to_owned())).or_else(|| Some(locale.t("error-internal"))),
        None => None,
    };
    let notice = move || {
        if param("created").is_some() {
            Some(locale.t("setup-done"))
        } else if param("signed_out").is_some() {
            Some(locale.t("sign-in-signed-out"))
        } else {
            None
        }
    };
    let next = move || param("next").unwrap_or_else(|| "/".into());
    view! {
        <main class="auth" id="main">
            <h1>{locale.t("app-title")}</h1>
            <form method="post" action="/sign-in" class="card" aria-labelledby="sign-in-heading">
                <h2 id="sign-in-heading">{locale.t("sign-in-title")}</h2>
                {move || notice().map(|n| view! { <p class="notice ok" role="status">{n}</p> })}
                <p class="field-error" id="sign-in-error" role="alert">{error}</p>
                <label for="username">{locale.t("sign-in-username")}</label>
                <input id="username" name="username" type="text" autocomplete="username" required autofocus
                    aria-describedby="sign-in-error"/>
                <label for="password">{locale.t("sign-in-password")}</label>
                <input id="password" name="password" type="password" autocomplete="current-password" required
                    aria-describedby="sign-in-error"/>
                <input type="hidden" name="next" value=next/>
                <button type="submit">{locale.t("sign-in-submit")}</button>
            </form>
            <LanguageSwitch/>
        </main>
    }
}

#[component]
pub fn SetupPage() -> impl IntoView {
    let locale = use_locale();
    let query = use_query_map();
    let token = move || query.with(|q| q.get("token")).unwrap_or_default();
    let valid = Resource::new(token, setup_token_valid);
    let username = move || query.with(|q| q.get("username")).unwrap_or_default();
    let error = move || known_message(locale, query.with(|q| q.get("error")));
    view! {
        <main class="auth" id="main">
            <h1>{locale.t("app-title")}</h1>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    if valid.await.unwrap_or(false) {
                        view! {
                            <form method="post" action="/setup" class="card" aria-labelledby="setup-heading">
                                <h2 id="setup-heading">{locale.t("setup-title")}</h2>
                                <p>{locale.t("setup-intro")}</p>
                                <p class="field-error" id="setup-error" role="alert">{error}</p>
                                <input type="hidden" name="token" value=token/>
                                <label for="username">{locale.t("sign-in-username")}</label>
                                <input id="username" name="username" type="text" autocomplete="username" required
                                    value=username aria-describedby="setup-error username-hint"/>
                                <p class="hint" id="username-hint">{locale.t("accounts-username-hint")}</p>
                                <label for="password">{locale.t("sign-in-password")}</label>
                                <input id="password" name="password" type="password" autocomplete="new-password" required
                                    minlength="12" aria-describedby="setup-error password-hint"/>
                                <p class="hint" id="password-hint">{locale.t("accounts-password-hint")}</p>
                                <label for="password_confirmation">{locale.t("account-confirmation")}</label>
                                <input id="password_confirmation" name="password_confirmation" type="password"
                                    autocomplete="new-password" required minlength="12"/>
                                <button type="submit">{locale.t("setup-submit")}</button>
                            </form>
                        }
                            .into_any()
                    } else {
                        view! {
                            <div class="card">
                                <p class="notice error" role="alert">{locale.t("error-setup-token")}</p>
                                <p><a href="/sign-in">{locale.t("sign-in-title")}</a></p>
                            </div>
                        }
                            .into_any()
                    }
                })}
            </Suspense>
        </main>
    }
}
