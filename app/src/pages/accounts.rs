//! Staff accounts (admins only): create, disable, re-enable, reset a
//! password, end all of an account's sessions; who must have a second
//! factor (and removing a lost one); every account's API tokens, to revoke
//! one.

use leptos::prelude::*;

use crate::api::{list_accounts, AccountRow, CreateAccount, ResetPassword, SetAccountEnabled};
use crate::components::{form_action, last_error, typed_value, ErrorNotice, FieldError, FormError, Loading};
use crate::i18n::{use_locale, Translate};
use crate::pages::second_factor::SecondFactorsAdminSection;
use crate::pages::sessions::EndAllSessionsButton;
use crate::pages::tokens::EveryTokenSection;
use crate::sessions_api::EndAllSessions;

/// The page: what the last disable or reset said, the accounts, the form
/// that creates one. The list is read again after each of these.
#[component]
pub fn AccountsPage() -> impl IntoView {
    let locale = use_locale();
    let create = form_action::<CreateAccount>();
    let toggle = form_action::<SetAccountEnabled>();
    let reset = form_action::<ResetPassword>();
    let end_all = form_action::<EndAllSessions>();
    let accounts = Resource::new(
        move || (create.version().get(), toggle.version().get(), reset.version().get()),
        |_| list_accounts(),
    );
    let toggle_error = last_error(toggle.value());
    let reset_error = last_error(reset.value());
    let end_all_error = last_error(end_all.value());
    let ended = move || end_all.value().get().and_then(|r| r.ok());
    let reset_done = move || reset.value().get().is_some_and(|r| r.is_ok());
    view! {
        <h1>{locale.t("accounts-title")}</h1>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match accounts.await {
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    Ok(accounts) => view! {
                        <FormError error=toggle_error fields=&[] id="toggle-error"/>
                        <FormError error=reset_error fields=&[] id="reset-error"/>
                        <FormError error=end_all_error fields=&[] id="end-all-error"/>
                        {move || ended().map(|count| view! {
                            <p class="notice ok" role="status" id="sessions-ended">
                                {locale.t_with("sessions-ended", &[("count", count.into())])}
                            </p>
                        })}
                        <Show when=reset_done>
                            <p class="notice ok" role="status">{locale.t("accounts-password-reset-done")}</p>
                        </Show>
                        <AccountsTable accounts toggle reset end_all/>
                        <CreateAccountForm create/>
                        <SecondFactorsAdminSection/>
                        <EveryTokenSection/>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// Every account with its role, state and creation date.
#[component]
fn AccountsTable(
    accounts: Vec<AccountRow>,
    toggle: ServerAction<SetAccountEnabled>,
    reset: ServerAction<ResetPassword>,
    end_all: ServerAction<EndAllSessions>,
) -> impl IntoView {
    let locale = use_locale();
    view! {
        <div class="table-wrap">
            <table id="accounts-table">
                <thead>
                    <tr>
                        <th scope="col">{locale.t("sign-in-username")}</th>
                        <th scope="col">{locale.t("accounts-role")}</th>
                        <th scope="col">{locale.t("accounts-state")}</th>
                        <th scope="col">{locale.t("accounts-created")}</th>
                        <th scope="col">{locale.t("accounts-actions")}</th>
                    </tr>
                </thead>
                <tbody>
                    {accounts.into_iter().map(|account| view! { <AccountLine account toggle reset end_all/> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// One account's row, with its two forms: disable (or re-enable) and reset
/// the password.
#[component]
fn AccountLine(
    account: AccountRow,
    toggle: ServerAction<SetAccountEnabled>,
    reset: ServerAction<ResetPassword>,
    end_all: ServerAction<EndAllSessions>,
) -> impl IntoView {
    let locale = use_locale();
    let role_key = format!("role-{}", account.role);
    let state_key = if account.enabled {
        "accounts-enabled"
    } else {
        "accounts-disabled"
    };
    let toggle_label = if account.enabled {
        "accounts-disable"
    } else {
        "accounts-enable"
    };
    let reset_id = format!("reset-{}", account.id);
    let username = account.username;
    let row_name = username.clone();
    let button_name = username.clone();
    let end_all_name = username.clone();
    view! {
        <tr data-username=row_name>
            <td>{username}</td>
            <td>{locale.t(&role_key)}</td>
            <td>{locale.t(state_key)}</td>
            <td>{account.created}</td>
            <td class="row-actions">
                <ActionForm action=toggle attr:class="inline">
                    <input type="hidden" name="account_id" value=account.id/>
                    <input type="hidden" name="enabled" value=(!account.enabled).to_string()/>
                    <button type="submit" class="secondary">
                        {locale.t(toggle_label)}
                        <span class="visually-hidden">" " {button_name}</span>
                    </button>
                </ActionForm>
                <EndAllSessionsButton account_id=account.id username=end_all_name end_all/>
                <details>
                    <summary>{locale.t("accounts-reset-password")}</summary>
                    <ActionForm action=reset attr:class="inline">
                        <input type="hidden" name="account_id" value=account.id/>
                        <label for=reset_id.clone()>{locale.t("account-new-password")}</label>
                        <input id=reset_id type="password" name="password" autocomplete="new-password" required minlength="12"/>
                        <button type="submit">{locale.t("accounts-reset-submit")}</button>
                    </ActionForm>
                </details>
            </td>
        </tr>
    }
}

/// The form that creates an account: its errors next to their fields, and
/// what was typed kept when it is refused (the password aside).
#[component]
fn CreateAccountForm(create: ServerAction<CreateAccount>) -> impl IntoView {
    let locale = use_locale();
    let create_error = last_error(create.value());
    let created = move || create.value().get().is_some_and(|r| r.is_ok());
    let typed_username = typed_value::<CreateAccount>("username");
    let typed_role = typed_value::<CreateAccount>("role");
    let role_chosen = move |role: &'static str| move || typed_role.get().as_deref().unwrap_or("operator") == role;
    view! {
        <section class="card" aria-labelledby="create-heading">
            <h2 id="create-heading">{locale.t("accounts-create")}</h2>
            <ActionForm action=create>
                <label for="new-username">{locale.t("sign-in-username")}</label>
                <input id="new-username" name="username" type="text" required autocomplete="off"
                    value=typed_username aria-describedby="new-username-error new-username-hint"/>
                <p class="hint" id="new-username-hint">{locale.t("accounts-username-hint")}</p>
                <FieldError error=create_error field="username" id="new-username-error"/>
                <label for="new-role">{locale.t("accounts-role")}</label>
                <select id="new-role" name="role">
                    <option value="viewer" selected=role_chosen("viewer")>{locale.t("role-viewer")}</option>
                    <option value="operator" selected=role_chosen("operator")>{locale.t("role-operator")}</option>
                    <option value="admin" selected=role_chosen("admin")>{locale.t("role-admin")}</option>
                </select>
                <label for="new-password">{locale.t("accounts-initial-password")}</label>
                <input id="new-password" name="password" type="password" required minlength="12"
                    autocomplete="new-password" aria-describedby="new-password-error new-password-hint"/>
                <p class="hint" id="new-password-hint">{locale.t("accounts-password-hint")}</p>
                <FieldError error=create_error field="password" id="new-password-error"/>
                <FormError error=create_error fields=&["username", "password"]/>
                <Show when=created>
                    <p class="notice ok" role="status" id="account-created">{locale.t("accounts-created-ok")}</p>
                </Show>
                <button type="submit">{locale.t("accounts-create-submit")}</button>
            </ActionForm>
        </section>
    }
}
