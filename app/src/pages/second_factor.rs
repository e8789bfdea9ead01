//! The second factor on screen: the section of the account's page that
//! enrols (QR code, secret in text, first code, recovery codes shown once)
//! or turns it off; the page an account the admins require one of is sent
//! to before anything else; the sign-in's code step; and, for admins, who
//! must have one and the removal of a lost one.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::components::{form_action, last_error, Confirm, ErrorNotice, FieldError, FormError, Loading};
use crate::i18n::{use_locale, Translate};
use crate::second_factor_api::{
    second_factor_status, second_factors_overview, BeginSecondFactor, ConfirmSecondFactor, DisableSecondFactor,
    EnrolmentView, ResetSecondFactor, SecondFactorPolicy, SetSecondFactorPolicy,
};
use crate::shell::LanguageSwitch;

/// The account's second factor: on (since when, recovery codes left, the
/// form that turns it off) or off (the enrolment, step by step).
#[component]
pub fn SecondFactorSection() -> impl IntoView {
    let locale = use_locale();
    let begin = form_action::<BeginSecondFactor>();
    let confirm = form_action::<ConfirmSecondFactor>();
    let disable = form_action::<DisableSecondFactor>();
    let status = Resource::new(
        move || (begin.version().get(), confirm.version().get(), disable.version().get()),
        |_| second_factor_status(),
    );
    let begin_error = last_error(begin.value());
    let confirm_error = last_error(confirm.value());
    let disable_error = last_error(disable.value());
    let recovery_codes = move || confirm.value().get().and_then(|r| r.ok());
    let disabled = move || disable.value().get().is_some_and(|r| r.is_ok());
    view! {
        <section class="card" aria-labelledby="second-factor-heading" id="second-factor">
            <h2 id="second-factor-heading">{locale.t("second-factor-title")}</h2>
            {move || recovery_codes().map(|codes| view! {
                <div class="notice ok" role="status" id="recovery-codes">
                    <p>{locale.t("second-factor-enrolled")}</p>
                    <p>{locale.t("second-factor-recovery-intro")}</p>
                    <ol class="recovery-codes">
                        {codes.0.into_iter().map(|code| view! { <li><code>{code}</code></li> }).collect_view()}
                    </ol>
                    <p class="hint">{locale.t("second-factor-recovery-once")}</p>
                </div>
            })}
            <Show when=disabled>
                <p class="notice ok" role="status" id="second-factor-off">{locale.t("second-factor-disabled")}</p>
            </Show>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    let status = match status.await {
                        Err(error) => return view! { <ErrorNotice error/> }.into_any(),
                        Ok(status) => status,
                    };
                    let required = status.required.then(|| view! {
                        <p class="notice" id="second-factor-required">{locale.t("second-factor-required-note")}</p>
                    });
                    match (status.enrolled_at, status.pending) {
                        (Some(since), _) => view! {
                            <p id="second-factor-state">
                                {locale.t_with("second-factor-on-since", &[("since", since.into())])} " "
                                {locale.t_with("second-factor-recovery-left", &[("count", status.recovery_left.into())])}
                            </p>
                            {required}
                            <h3>{locale.t("second-factor-disable")}</h3>
                            <ActionForm action=disable attr:id="disable-second-factor">
                                <label for="second-factor-password">{locale.t("account-current-password")}</label>
                                <input id="second-factor-password" name="current_password" type="password" required
                                    autocomplete="current-password" aria-describedby="second-factor-password-error"/>
                                <FieldError error=disable_error field="current_password" id="second-factor-password-error"/>
                                <label for="second-factor-disable-code">{locale.t("second-factor-code-or-recovery")}</label>
                                <input id="second-factor-disable-code" name="code" type="text" required
                                    autocomplete="one-time-code" aria-describedby="second-factor-disable-code-error"/>
                                <FieldError error=disable_error field="code" id="second-factor-disable-code-error"/>
                                <FormError error=disable_error fields=&["current_password", "code"]/>
                                <button type="submit" class="danger">{locale.t("second-factor-disable-submit")}</button>
                            </ActionForm>
                        }.into_any(),
                        (None, Some(enrolment)) => view! {
                            {required}
                            <EnrolmentSteps enrolment confirm confirm_error/>
                        }.into_any(),
                        (None, None) => view! {
                            <p id="second-factor-state">{locale.t("second-factor-off")}</p>
                            {required}
                            <p class="hint">{locale.t("second-factor-intro")}</p>
                            <ActionForm action=begin attr:id="begin-second-factor">
                                <FormError error=begin_error fields=&[]/>
                                <button type="submit">{locale.t("second-factor-begin")}</button>
                            </ActionForm>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// Scan (or type the secret), then prove it with a first code.
#[component]
fn EnrolmentSteps(
    enrolment: EnrolmentView,
    confirm: ServerAction<ConfirmSecondFactor>,
    confirm_error: Signal<Option<crate::errors::AppError>>,
) -> impl IntoView {
    let locale = use_locale();
    view! {
        <ol class="steps">
            <li>
                <p>{locale.t("second-factor-scan")}</p>
                // Drawn on the server from the secret: readable without JavaScript.
                <div class="qr" role="img" aria-label=locale.t("second-factor-qr-label") inner_html=enrolment.qr_svg></div>
                <p>{locale.t("second-factor-type-instead")}</p>
                <p><code id="second-factor-secret" class="secret-once">{enrolment.secret}</code></p>
            </li>
            <li>
                <ActionForm action=confirm attr:id="confirm-second-factor">
                    <label for="second-factor-first-code">{locale.t("second-factor-first-code")}</label>
                    <input id="second-factor-first-code" name="code" type="text" inputmode="numeric" required
                        autocomplete="one-time-code" pattern="[0-9 ]{6,7}" maxlength="7"
                        aria-describedby="second-factor-first-code-error"/>
                    <FieldError error=confirm_error field="code" id="second-factor-first-code-error"/>
                    <FormError error=confirm_error fields=&["code", "second_factor"]/>
                    <button type="submit">{locale.t("second-factor-confirm")}</button>
                </ActionForm>
            </li>
        </ol>
    }
}

/// Where an account the admins require a second factor of is sent until
/// it has one: nothing else of the console answers it meanwhile.
#[component]
pub fn SecondFactorRequiredPage() -> impl IntoView {
    let locale = use_locale();
    view! {
        <main class="auth wide" id="main">
            <h1>{locale.t("second-factor-required-title")}</h1>
            <p>{locale.t("second-factor-required-intro")}</p>
            <SecondFactorSection/>
            // A full load: the console's pages answer once it is on.
            <p><a href="/" rel="external" id="continue">{locale.t("second-factor-continue")}</a></p>
            <form method="post" action="/sign-out">
                <button type="submit" class="secondary">{locale.t("nav-sign-out")}</button>
            </form>
            <LanguageSwitch/>
        </main>
    }
}

/// The sign-in's second step: the code from the app, or a recovery code.
/// A plain form posted to the server, like the password's.
#[component]
pub fn SignInCodePage() -> impl IntoView {
    let locale = use_locale();
    let query = use_query_map();
    let param = move |name: &str| query.with(|q| q.get(name));
    let error = move || match param("error").as_deref() {
        Some("throttled") => {
            let wait = param("wait").and_then(|w| w.parse::<u64>().ok()).unwrap_or(1);
            Some(locale.t_with("error-throttled-wait", &[("seconds", wait.into())]))
        }
        Some(key) if key.starts_with("error-second-factor-") && locale.has(key) => Some(locale.t(key)),
        Some(_) => Some(locale.t("error-internal")),
        None => None,
    };
    let next = move || param("next").unwrap_or_else(|| "/".into());
    view! {
        <main class="auth" id="main">
            <h1>{locale.t("app-title")}</h1>
            <form method="post" action="/sign-in/code" class="card" aria-labelledby="code-heading">
                <h2 id="code-heading">{locale.t("sign-in-code-title")}</h2>
                <p>{locale.t("sign-in-code-intro")}</p>
                <p class="field-error" id="code-error" role="alert">{error}</p>
                <label for="code">{locale.t("second-factor-code-or-recovery")}</label>
                <input id="code" name="code" type="text" autocomplete="one-time-code" required autofocus
                    aria-describedby="code-error"/>
                <input type="hidden" name="next" value=next/>
                <button type="submit">{locale.t("sign-in-submit")}</button>
            </form>
            <p><a href="/sign-in" rel="external">{locale.t("sign-in-code-restart")}</a></p>
        </main>
    }
}

/// Who must have a second factor, and the accounts that have one, each
/// removable after a confirmation (admins, on the accounts page).
#[component]
pub fn SecondFactorsAdminSection() -> impl IntoView {
    let locale = use_locale();
    let set_policy = form_action::<SetSecondFactorPolicy>();
    let reset = form_action::<ResetSecondFactor>();
    let overview = Resource::new(
        move || (set_policy.version().get(), reset.version().get()),
        |_| second_factors_overview(),
    );
    let policy_error = last_error(set_policy.value());
    let reset_error = last_error(reset.value());
    let saved = move || set_policy.value().get().is_some_and(|r| r.is_ok());
    view! {
        <section class="card" aria-labelledby="second-factors-heading" id="second-factors">
            <h2 id="second-factors-heading">{locale.t("second-factors-title")}</h2>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    let overview = match overview.await {
                        Err(error) => return view! { <ErrorNotice error/> }.into_any(),
                        Ok(overview) => overview,
                    };
                    view! {
                        <ActionForm action=set_policy attr:id="second-factor-policy">
                            <label for="second-factor-policy-choice">{locale.t("second-factors-policy")}</label>
                            <select id="second-factor-policy-choice" name="policy" aria-describedby="second-factor-policy-hint">
                                {SecondFactorPolicy::ALL.iter().map(|&policy| view! {
                                    <option value=policy.as_str() selected=policy == overview.policy>{locale.t(policy.label_key())}</option>
                                }).collect_view()}
                            </select>
                            <p class="hint" id="second-factor-policy-hint">{locale.t("second-factors-policy-hint")}</p>
                            <FormError error=policy_error fields=&[]/>
                            <Show when=saved>
                                <p class="notice ok" role="status">{locale.t("second-factors-policy-saved")}</p>
                            </Show>
                            <button type="submit">{locale.t("second-factors-policy-save")}</button>
                        </ActionForm>
                        <h3>{locale.t("second-factors-enrolled")}</h3>
                        <FormError error=reset_error fields=&[] id="second-factor-reset-error"/>
                        {if overview.enrolled.is_empty() {
                            view! { <p class="muted">{locale.t("second-factors-none")}</p> }.into_any()
                        } else {
                            view! {
                                <ul class="enrolled">
                                    {overview.enrolled.into_iter().map(|(id, username)| view! {
                                        <EnrolledAccount id username reset/>
                                    }).collect_view()}
                                </ul>
                            }.into_any()
                        }}
                    }.into_any()
                })}
            </Suspense>
        </section>
    }
}

/// An account with a second factor, and its removal, confirmed first.
#[component]
fn EnrolledAccount(id: i64, username: String, reset: ServerAction<ResetSecondFactor>) -> impl IntoView {
    let locale = use_locale();
    let question = locale.t_with("second-factors-reset-confirm", &[("name", username.clone().into())]);
    let opener = format!("{} {username}", locale.t("second-factors-reset"));
    view! {
        <li data-account=id>
            <strong>{username.clone()}</strong>
            " "
            <Confirm id=format!("reset-second-factor-{id}") class="secondary reset-second-factor"
                label=locale.t("second-factors-reset") aria_label=opener question>
                <ActionForm action=reset attr:class="inline">
                    <input type="hidden" name="account_id" value=id/>
                    <button type="submit" class="danger confirm-reset">{locale.t("second-factors-reset")}</button>
                </ActionForm>
            </Confirm>
        </li>
    }
}
