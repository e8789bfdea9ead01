//! The signed-in operator's own account: change password, language, the
//! second factor, open sessions, API tokens.

use leptos::prelude::*;

use crate::api::ChangePassword;
use crate::components::{form_action, last_error, FieldError, FormError};
use crate::i18n::{use_locale, Translate};
use crate::pages::second_factor::SecondFactorSection;
use crate::pages::sessions::MySessionsSection;
use crate::pages::tokens::MyTokensSection;
use crate::shell::LanguageSwitch;

#[component]
pub fn MyAccountPage() -> impl IntoView {
    let locale = use_locale();
    let change = form_action::<ChangePassword>();
    let error = last_error(change.value());
    let done = move || change.value().get().is_some_and(|r| r.is_ok());
    view! {
        <h1>{locale.t("account-title")}</h1>
        <section class="card" aria-labelledby="password-heading">
            <h2 id="password-heading">{locale.t("account-change-password")}</h2>
            <ActionForm action=change>
                <label for="current_password">{locale.t("account-current-password")}</label>
                <input id="current_password" name="current_password" type="password" required
                    autocomplete="current-password" aria-describedby="current-password-error"/>
                <FieldError error field="current_password" id="current-password-error"/>
                <label for="new_password">{locale.t("account-new-password")}</label>
                <input id="new_password" name="new_password" type="password" required minlength="12"
                    autocomplete="new-password" aria-describedby="new-password-error password-hint"/>
                <p class="hint" id="password-hint">{locale.t("accounts-password-hint")}</p>
                <FieldError error field="password" id="new-password-error"/>
                <label for="confirmation">{locale.t("account-confirmation")}</label>
                <input id="confirmation" name="confirmation" type="password" required minlength="12"
                    autocomplete="new-password" aria-describedby="confirmation-error"/>
                <FieldError error field="confirmation" id="confirmation-error"/>
                <FormError error fields=&["current_password", "password", "confirmation"]/>
                <Show when=done>
                    <p class="notice ok" role="status">{locale.t("account-password-changed")}</p>
                </Show>
                <button type="submit">{locale.t("account-change-submit")}</button>
            </ActionForm>
        </section>
        <section class="card" aria-labelledby="language-heading">
            <h2 id="language-heading">{locale.t("language-title")}</h2>
            <LanguageSwitch/>
        </section>
        <SecondFactorSection/>
        <MySessionsSection/>
        <MyTokensSection/>
    }
}
