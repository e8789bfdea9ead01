//! The audit history: filters (operator, action, target, outcome, time range,
//! free text in the details) carried in the URL, newest first, keyset
//! pagination, the chain's integrity, and a CSV export of the same rows.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::{audit_chain_state, audit_page, AuditRows, ChainBreak, ChainState};
use vocabulary::audit::{AuditAction, Outcome};

use crate::audit_query::AuditQuery;
use crate::components::{ErrorNotice, Loading};
use crate::i18n::{use_locale, Translate};

#[component]
pub fn AuditPage() -> impl IntoView {
    let locale = use_locale();
    let params = use_query_map();
    let query = Memo::new(move |_| {
        params.with(|p| {
            let mut query = AuditQuery::default();
            for field in AuditQuery::FIELDS {
                query.set(field, p.get(field).unwrap_or_default());
            }
            query
        })
    });
    let after = Memo::new(move |_| params.with(|p| p.get("after")));
    let rows = Resource::new(move || (query.get(), after.get()), |(q, a)| audit_page(q, a));
    let chain = Resource::new(|| (), |_| audit_chain_state());
    let export_href = move || {
        let q = query.get().to_query_string();
        if q.is_empty() {
            "/audit/export.csv".to_owned()
        } else {
            format!("/audit/export.csv?{q}")
        }
    };
    let field = move |name: &'static str| move || query.with(|q| q.get(name).to_owned());
    view! {
        <h1>{locale.t("audit-title")}</h1>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match chain.await {
                    Ok(ChainState::Intact { rows }) => view! {
                        <p class="notice ok" role="status" id="chain-state">
                            {locale.t_with("audit-chain-intact", &[("rows", rows.into())])}
                        </p>
                    }.into_any(),
                    Ok(ChainState::Broken { id, reason }) => view! {
                        <p class="notice error" role="alert" id="chain-state">
                            {
                                let id = [("id", id.into())];
                                match reason {
                                    ChainBreak::Altered => locale.t_with("audit-chain-altered", &id),
                                    ChainBreak::Mismatch => locale.t_with("audit-chain-mismatch", &id),
                                    ChainBreak::Missing => locale.t_with("audit-chain-missing", &id),
                                    ChainBreak::Rewritten => locale.t_with("audit-chain-rewritten", &id),
                                }
                            }
                        </p>
                    }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
        <form method="get" action="/audit" class="filters" role="search" aria-label=locale.t("audit-filters")>
            <div class="field">
                <label for="f-actor">{locale.t("audit-actor")}</label>
                <input id="f-actor" name="actor" type="text" prop:value=field("actor")/>
            </div>
            <div class="field">
                <label for="f-action">{locale.t("audit-action")}</label>
                <select id="f-action" name="action" prop:value=field("action")>
                    <option value="">{locale.t("audit-any")}</option>
                    {AuditAction::ALL
                        .iter()
                        .map(|a| {
                            let a = a.as_str();
                            view! { <option value=a selected=move || query.with(|q| q.action == a)>{a}</option> }
                        })
                        .collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="f-target">{locale.t("audit-target")}</label>
                <input id="f-target" name="target" type="text" prop:value=field("target")/>
            </div>
            <div class="field">
                <label for="f-outcome">{locale.t("audit-outcome")}</label>
                <select id="f-outcome" name="outcome">
                    <option value="">{locale.t("audit-any")}</option>
                    {Outcome::ALL
                        .iter()
                        .map(|o| {
                            let o = o.as_str();
                            let key = format!("outcome-{o}");
                            view! { <option value=o selected=move || query.with(|q| q.outcome == o)>{locale.t(&key)}</option> }
                        })
                        .collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="f-from">{locale.t("audit-from")}</label>
                <input id="f-from" name="from" type="datetime-local" prop:value=field("from")/>
            </div>
            <div class="field">
                <label for="f-until">{locale.t("audit-until")}</label>
                <input id="f-until" name="until" type="datetime-local" prop:value=field("until")/>
            </div>
            <div class="field wide">
                <label for="f-text">{locale.t("audit-text")}</label>
                <input id="f-text" name="text" type="search" prop:value=field("text")/>
            </div>
            <div class="actions">
                <button type="submit">{locale.t("audit-apply")}</button>
                <a href="/audit" class="button secondary">{locale.t("audit-reset")}</a>
                <a href=export_href class="button secondary" rel="external" download="journal-audit.csv" id="audit-export">
                    {locale.t("audit-export")}
                </a>
            </div>
        </form>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match rows.await {
                    Ok(page) => view! { <AuditTable page query=query.get_untracked()/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn AuditTable(page: AuditRows, query: AuditQuery) -> impl IntoView {
    let locale = use_locale();
    if page.rows.is_empty() {
        return view! { <p class="muted" id="audit-empty">{locale.t("audit-empty")}</p> }.into_any();
    }
    let base = query.to_query_string();
    let older = page.next.map(|cursor| {
        if base.is_empty() {
            format!("/audit?after={cursor}")
        } else {
            format!("/audit?{base}&after={cursor}")
        }
    });
    let newest = if base.is_empty() {
        "/audit".to_owned()
    } else {
        format!("/audit?{base}")
    };
    view! {
        <div class="table-wrap">
            <table class="audit" id="audit-table">
                <caption class="visually-hidden">{locale.t("audit-title")}</caption>
                <thead>
                    <tr>
                        <th scope="col">{locale.t("audit-at")}</th>
                        <th scope="col">{locale.t("audit-actor")}</th>
                        <th scope="col">{locale.t("audit-action")}</th>
                        <th scope="col">{locale.t("audit-target")}</th>
                        <th scope="col">{locale.t("audit-outcome")}</th>
                        <th scope="col">{locale.t("audit-details")}</th>
                        <th scope="col">{locale.t("audit-client")}</th>
                    </tr>
                </thead>
                <tbody>
                    {page
                        .rows
                        .into_iter()
                        .map(|row| {
                            let outcome = row.outcome.as_str();
                            let outcome_key = format!("outcome-{outcome}");
                            view! {
                                <tr data-id=row.id>
                                    <td class="nowrap">{row.at}</td>
                                    <td>{row.actor}</td>
                                    <td><code>{row.action.as_str()}</code></td>
                                    <td>{row.target}</td>
                                    <td class=format!("outcome {outcome}")>{locale.t(&outcome_key)}</td>
                                    <td class="details"><code>{row.details}</code></td>
                                    <td class="nowrap" title=row.request_id>{row.client_address}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
        <nav class="pager" aria-label=locale.t("audit-pages")>
            <a href=newest>{locale.t("audit-newest")}</a>
            {older.map(|href| view! { <a href=href id="audit-older">{locale.t("audit-older")}</a> })}
        </nav>
    }
    .into_any()
}
