//! "Mes sessions" on the account's page: every browser signed in as this
//! account, when it started and was last seen, from where, with which
//! browser; any of them ended in a click. Admins end all of an account's
//! sessions from the accounts page.

use leptos::prelude::*;

use crate::components::{form_action, last_error, ErrorNotice, FormError, Loading};
use crate::i18n::{use_locale, Translate};
use crate::sessions_api::{my_sessions, EndAllSessions, EndSession};

#[component]
pub fn MySessionsSection() -> impl IntoView {
    let locale = use_locale();
    let end = form_action::<EndSession>();
    let sessions = Resource::new(move || end.version().get(), |_| my_sessions());
    let end_error = last_error(end.value());
    view! {
        <section class="card" aria-labelledby="sessions-heading" id="my-sessions">
            <h2 id="sessions-heading">{locale.t("sessions-title")}</h2>
            <FormError error=end_error fields=&[] id="session-end-error"/>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match sessions.await {
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                        Ok(sessions) => view! {
                            <div class="table-wrap">
                                <table class="sessions">
                                    <thead>
                                        <tr>
                                            <th scope="col">{locale.t("sessions-started")}</th>
                                            <th scope="col">{locale.t("sessions-last-seen")}</th>
                                            <th scope="col">{locale.t("sessions-address")}</th>
                                            <th scope="col">{locale.t("sessions-browser")}</th>
                                            <th scope="col">{locale.t("accounts-actions")}</th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {sessions.into_iter().map(|s| {
                                            let label = if s.current { locale.t("sessions-end-this") } else { locale.t("sessions-end") };
                                            let unknown = locale.t("sessions-unknown");
                                            view! {
                                                <tr data-session=s.id class:current=s.current>
                                                    <td>{s.started}</td>
                                                    <td>{s.last_seen}</td>
                                                    <td>{s.address.unwrap_or_else(|| unknown.clone())}</td>
                                                    <td class="agent">
                                                        {s.agent.unwrap_or(unknown)}
                                                        {s.current.then(|| view! { " " <span class="badge">{locale.t("sessions-this-one")}</span> })}
                                                    </td>
                                                    <td class="row-actions">
                                                        <ActionForm action=end attr:class="inline">
                                                            <input type="hidden" name="session_id" value=s.id/>
                                                            <button type="submit" class="secondary">{label}</button>
                                                        </ActionForm>
                                                    </td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// An admin's button that ends every session of an account.
#[component]
pub fn EndAllSessionsButton(account_id: i64, username: String, end_all: ServerAction<EndAllSessions>) -> impl IntoView {
    let locale = use_locale();
    view! {
        <ActionForm action=end_all attr:class="inline">
            <input type="hidden" name="account_id" value=account_id/>
            <button type="submit" class="secondary">
                {locale.t("sessions-end-all")}
                <span class="visually-hidden">" " {username}</span>
            </button>
        </ActionForm>
    }
}
