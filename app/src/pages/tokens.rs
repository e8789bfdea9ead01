//! API tokens on the account's page: issue one (its secret shown once, with
//! how to use it), list one's own with their last use, revoke one in a
//! click. Admins also see every account's tokens on the accounts page.

use leptos::prelude::*;

use crate::api::{use_me, Role};
use crate::components::{form_action, last_error, ErrorNotice, FieldError, FormError, Loading};
use crate::i18n::{use_locale, Translate};
use crate::tokens_api::{every_token, my_tokens, IssueToken, RevokeToken, TokenRow, TokenScope};

/// The signed-in account's tokens and the form that issues one.
#[component]
pub fn MyTokensSection() -> impl IntoView {
    let locale = use_locale();
    let issue = form_action::<IssueToken>();
    let revoke = form_action::<RevokeToken>();
    let tokens = Resource::new(move || (issue.version().get(), revoke.version().get()), |_| my_tokens());
    let issue_error = last_error(issue.value());
    let revoke_error = last_error(revoke.value());
    let issued = move || issue.value().get().and_then(|r| r.ok());
    let me = use_me();
    view! {
        <section class="card" aria-labelledby="tokens-heading" id="my-tokens">
            <h2 id="tokens-heading">{locale.t("tokens-title")}</h2>
            <p class="hint">{locale.t("tokens-intro")}</p>
            {move || issued().map(|issued| {
                let example = format!("curl -H \"Authorization: Bearer {}\" {}/api/v1/hosts", issued.secret, origin());
                view! {
                    <div class="notice ok" role="status" id="token-issued">
                        <p>{locale.t_with("tokens-issued", &[("name", issued.token.name.clone().into())])}</p>
                        <p><code id="token-secret" class="secret-once">{issued.secret.clone()}</code></p>
                        <p class="hint">{locale.t("tokens-shown-once")}</p>
                        <pre class="example"><code>{example}</code></pre>
                    </div>
                }
            })}
            <FormError error=revoke_error fields=&[] id="token-revoke-error"/>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match tokens.await {
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                        Ok(tokens) if tokens.is_empty() => view! { <p class="muted">{locale.t("tokens-none")}</p> }.into_any(),
                        Ok(tokens) => view! { <TokensTable tokens revoke with_owner=false/> }.into_any(),
                    }
                })}
            </Suspense>
            <h3>{locale.t("tokens-issue")}</h3>
            <ActionForm action=issue attr:id="issue-token">
                <label for="token-name">{locale.t("tokens-name")}</label>
                <input id="token-name" name="name" type="text" required maxlength="60" autocomplete="off"
                    aria-describedby="token-name-error token-name-hint"/>
                <p class="hint" id="token-name-hint">{locale.t("tokens-name-hint")}</p>
                <FieldError error=issue_error field="name" id="token-name-error"/>
                <label for="token-scope">{locale.t("tokens-scope")}</label>
                // Operate is offered to those whose role allows it.
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        let operates = me.await.ok().flatten().is_some_and(|m| m.may(Role::Operator));
                        view! {
                            <select id="token-scope" name="scope" aria-describedby="token-scope-error token-scope-hint">
                                <option value=TokenScope::Read.as_str()>{locale.t(TokenScope::Read.label_key())}</option>
                                {operates.then(|| view! {
                                    <option value=TokenScope::Operate.as_str()>{locale.t(TokenScope::Operate.label_key())}</option>
                                })}
                            </select>
                        }
                    })}
                </Suspense>
                <p class="hint" id="token-scope-hint">{locale.t("tokens-scope-hint")}</p>
                <FieldError error=issue_error field="scope" id="token-scope-error"/>
                <label for="token-days">{locale.t("tokens-days")}</label>
                <input id="token-days" name="days" type="number" min="1" max="365" value="90" required
                    aria-describedby="token-days-error"/>
                <FieldError error=issue_error field="days" id="token-days-error"/>
                <FormError error=issue_error fields=&["name", "scope", "days"]/>
                <button type="submit">{locale.t("tokens-issue-submit")}</button>
            </ActionForm>
        </section>
    }
}

/// Every account's tokens (admins, on the accounts page).
#[component]
pub fn EveryTokenSection() -> impl IntoView {
    let locale = use_locale();
    let revoke = form_action::<RevokeToken>();
    let tokens = Resource::new(move || revoke.version().get(), |_| every_token());
    let revoke_error = last_error(revoke.value());
    view! {
        <section class="card" aria-labelledby="every-token-heading" id="every-token">
            <h2 id="every-token-heading">{locale.t("tokens-every")}</h2>
            <FormError error=revoke_error fields=&[] id="every-token-revoke-error"/>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match tokens.await {
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                        Ok(tokens) if tokens.is_empty() => view! { <p class="muted">{locale.t("tokens-none")}</p> }.into_any(),
                        Ok(tokens) => view! { <TokensTable tokens revoke with_owner=true/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// Tokens with their scope, dates, last use and state; a live one has its
/// revoke button.
#[component]
fn TokensTable(tokens: Vec<TokenRow>, revoke: ServerAction<RevokeToken>, with_owner: bool) -> impl IntoView {
    let locale = use_locale();
    view! {
        <div class="table-wrap">
            <table class="tokens">
                <thead>
                    <tr>
                        {with_owner.then(|| view! { <th scope="col">{locale.t("sign-in-username")}</th> })}
                        <th scope="col">{locale.t("tokens-name")}</th>
                        <th scope="col">{locale.t("tokens-scope")}</th>
                        <th scope="col">{locale.t("tokens-created")}</th>
                        <th scope="col">{locale.t("tokens-expires")}</th>
                        <th scope="col">{locale.t("tokens-last-used")}</th>
                        <th scope="col">{locale.t("accounts-state")}</th>
                        <th scope="col">{locale.t("accounts-actions")}</th>
                    </tr>
                </thead>
                <tbody>
                    {tokens.into_iter().map(|token| {
                        let last_used = match (&token.last_used, &token.last_used_from) {
                            (Some(at), Some(from)) => format!("{at} · {from}"),
                            (Some(at), None) => at.clone(),
                            _ => locale.t("tokens-never-used"),
                        };
                        let state = match (&token.revoked, token.live) {
                            (Some((at, by)), _) => locale.t_with("tokens-revoked", &[("at", at.clone().into()), ("by", by.clone().into())]),
                            (None, true) => locale.t("tokens-live"),
                            (None, false) => locale.t("tokens-expired"),
                        };
                        let (id, name, live) = (token.id, token.name.clone(), token.live);
                        let (row_name, owner) = (token.name.clone(), token.username.clone());
                        view! {
                            <tr data-token=row_name>
                                {with_owner.then(|| view! { <td>{owner}</td> })}
                                <td>{token.name}</td>
                                <td>{locale.t(token.scope.label_key())}</td>
                                <td>{token.created}</td>
                                <td>{token.expires}</td>
                                <td>{last_used}</td>
                                <td>{state}</td>
                                <td class="row-actions">
                                    {live.then(|| view! {
                                        <ActionForm action=revoke attr:class="inline">
                                            <input type="hidden" name="token_id" value=id/>
                                            <button type="submit" class="danger">
                                                {locale.t("tokens-revoke")}
                                                <span class="visually-hidden">" " {name}</span>
                                            </button>
                                        </ActionForm>
                                    })}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// The console's public address (for the example), as the server knows it.
fn origin() -> String {
    #[cfg(feature = "ssr")]
    if let Some(context) = crate::context::request_context() {
        return context.origin;
    }
    "https://console.example".to_owned()
}
