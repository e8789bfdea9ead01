//! Small pieces the pages share: error notices (announced to screen readers),
//! field errors placed next to the field they concern, and the values a
//! refused form brings back when it was posted without JavaScript; what
//! only some roles see; the question asked before a destructive action.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_router::hooks::use_query_map;

use crate::api::{use_me, Role};
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
            <p>{error.text(locale)}</p>
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
                error.get().filter(|e| e.field() == Some(field)).map(|e| e.text(locale))
            }}
        </p>
    }
}

/// The error of the last submission that concerns no particular field.
#[component]
pub fn FormError(
    #[prop(into)] error: Signal<Option<AppError>>,
    fields: &'static [&'static str],
    #[prop(optional, into)] id: Option<String>,
) -> impl IntoView {
    let locale = use_locale();
    view! {
        <p class="field-error" id=id role="alert" aria-live="assertive">
            {move || {
                error
                    .get()
                    .filter(|e| e.field().is_none_or(|f| !fields.contains(&f)))
                    .map(|e| e.text(locale))
            }}
        </p>
    }
}

/// Where, in the address of a page a refused form came back to, the server
/// puts each value typed (`__typed.username=…`); secrets are never there.
pub const TYPED_VALUE_PREFIX: &str = "__typed.";

/// What was typed into `field` of the form of server function `S` before it
/// was refused, when the form was posted without JavaScript (the server
/// sent the browser back with the values in the address, see
/// `server::typed_values`). With JavaScript the form never leaves the page,
/// so its fields keep their values by themselves.
pub fn typed_value<S: ServerFn>(field: &'static str) -> Signal<Option<String>> {
    let query = use_query_map();
    Signal::derive(move || {
        query.with(|q| {
            (q.get_str("__path") == Some(S::PATH))
                .then(|| q.get(&format!("{TYPED_VALUE_PREFIX}{field}")))
                .flatten()
        })
    })
}

/// The action of server function `S`, holding, on the page a form posted
/// without JavaScript came back to, what the server answered that form
/// (kept for that one page, see `server::typed_values`): the page then
/// shows the answer (an API token's secret, the recovery codes, an import's
/// summary, "saved") as it does when the browser's script sent the form.
pub fn form_action<S>() -> ServerAction<S>
where
    S: ServerFn + Clone + Send + Sync + 'static,
    S::Output: serde::de::DeserializeOwned + Send + Sync + 'static,
    S::Error: Send + Sync + 'static,
{
    let action = ServerAction::<S>::new();
    #[cfg(feature = "ssr")]
    if let Some(output) = crate::context::kept_answer(S::PATH).and_then(|json| serde_json::from_str(&json).ok()) {
        action.value().set(Some(Ok(output)));
    }
    action
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

/// What only accounts of at least `role` see: the buttons of actions they
/// may run (the server refuses the others anyway; a viewer is not shown
/// buttons that would only be refused).
#[component]
pub fn ForRole(role: Role, children: ChildrenFn) -> impl IntoView {
    let me = use_me();
    view! {
        <Suspense fallback=|| ()>
            {move || {
                let children = children.clone();
                Suspend::new(async move { me.await.ok().flatten().filter(|m| m.may(role)).map(|_| children()) })
            }}
        </Suspense>
    }
}

/// A destructive action, asked first: the button opens the question, the
/// confirmation is the form given as `children` (an `ActionForm`, so it
/// posts with or without JavaScript), Cancel closes it. The question is a
/// popover that the browser opens and closes itself (`popovertarget`): it
/// works before the page is hydrated, and without JavaScript at all; once
/// hydrated, the question closes as its form is sent.
#[component]
pub fn Confirm(
    /// The id of the button that asks (unique on the page); the
    /// question's ids derive from it.
    #[prop(into)]
    id: String,
    /// The button's text.
    #[prop(into)]
    label: String,
    /// The button's name for screen readers, when its text is not enough
    /// (a row's button says which row).
    #[prop(optional, into)]
    aria_label: Option<String>,
    /// The button's class.
    #[prop(default = "danger")]
    class: &'static str,
    /// What the operator is asked, said once the button is pressed.
    #[prop(into)]
    question: String,
    children: Children,
) -> impl IntoView {
    let locale = use_locale();
    let question_id = format!("{id}-question");
    let (opens, cancels) = (question_id.clone(), question_id.clone());
    let text_id = format!("{id}-question-text");
    let labelled_by = text_id.clone();
    let asked = NodeRef::<leptos::html::Div>::new();
    let close = move |_| {
        if let Some(question) = asked.get() {
            let _ = question.hide_popover();
        }
    };
    view! {
        <button type="button" class=class id=id aria-label=aria_label popovertarget=opens>{label}</button>
        <div popover="auto" id=question_id class="notice error confirm" role="alertdialog" aria-labelledby=labelled_by
            node_ref=asked on:submit=close>
            <p id=text_id>{question}</p>
            <div class="actions">
                {children()}
                <button type="button" class="secondary" popovertarget=cancels popovertargetaction="hide">
                    {locale.t("common-cancel")}
                </button>
            </div>
        </div>
    }
}
