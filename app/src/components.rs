//! Small pieces the pages share: error notices (announced to screen readers)
//! and field errors placed next to the field they concern.

use leptos::prelude::*;

use crate::errors::AppError;
use crate::i18n::{use_locale, Translate};

/// A page-level error, e.g. "forbidden" or "not signed in".
#[component]
pub fn ErrorNotice(error: AppError) -> impl IntoView {
    let locale = use_locale();
    let sign_in = matches!(error, AppError::NotSignedIn);
    let request = match &error {
        AppError::Internal { request_id } | AppError::Remote { request_id, .. } => {
            Some(locale.t_with("error-request-id", &[("id", request_id.clone().into())]))
        }
        _ => None,
    };
    view! {
        <div class="notice error" role="alert">
            <p>{locale.t(error.message_key())}</p>
            {request.map(|r| view! { <p class="muted">{r}</p> })}
            {sign_in.then(|| view! { <p><a href="/sign-in" rel="external">{locale.t("sign-in-title")}</a></p> })}
        </div>
    }
}

/// The error of the last submission of a form, if it concerns `field`.
#[component]
pub fn FieldError(
    #[prop(into)] error: Signal<Option<AppError>>,
    field: &'static str,
    #[prop(into)] id: String,
) -> impl IntoView {
    let locale = use_locale();
    view! {
        <p class="field-error" id=id role="alert" aria-live="assertive">
            {move || {
                error.get().filter(|e| e.field() == Some(field)).map(|e| locale.t(e.message_key()))
            }}
        </p>
    }
}

/// The error of the last submission that concerns no particular field.
#[component]
pub fn FormError(#[prop(into)] error: Signal<Option<AppError>>, fields: &'static [&'static str]) -> impl IntoView {
    let locale = use_locale();
    view! {
        <p class="field-error" role="alert" aria-live="assertive">
            {move || {
                error
                    .get()
                    .filter(|e| e.field().is_none_or(|f| !fields.contains(&f)))
                    .map(|e| locale.t(e.message_key()))
            }}
        </p>
    }
}

/// The error of an action's last result.
pub fn last_error<T, S>(value: S) -> Signal<Option<AppError>>
where
    T: Clone + Send + Sync + 'static,
    S: Get<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
{
    Signal::derive(move || value.get().and_then(|r| r.err()))
}

#[component]
pub fn Loading() -> impl IntoView {
    let locale = use_locale();
    view! { <p class="muted" aria-busy="true">{locale.t("common-loading")}</p> }
}
