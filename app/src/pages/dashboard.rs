//! Tableau de bord: who is signed in, each host's backups (age of the
//! newest, a warning past 26 hours; RPO and RTO), each host's Linode and
//! its state, each host's site (up or down, latency, a 24-hour sparkline,
//! the certificate's days left), each host's web and WSGI servers (NGINX,
//! Gunicorn), each host's newest deploy and the CI state of what it runs,
//! and the latest events. Each area adds its own summary to
//! [`crate::home_api::HomeCards`], which the page reads in one request.
//!
//! Live: the page follows `/events/home` and reads itself again at each
//! change the server announces (a probe, an alert, a job, a backup, an
//! audit record), without reloading; readable without JavaScript as served.

use leptos::prelude::*;

use crate::api::use_me;
use crate::components::Loading;
use crate::home_api::home_page;
use crate::i18n::{use_locale, Translate};
use crate::monitoring_api::{SPARK_HEIGHT, SPARK_WIDTH};
use crate::pages::backups::BackupHealthFacts;
use crate::pages::host_linode::state_label;
use crate::pages::integrations::CiStateBadge;
use crate::pages::monitoring::{cert_class, SiteStateBadge};

#[component]
pub fn DashboardPage() -> impl IntoView {
    let locale = use_locale();
    let me = use_me();
    // The whole page in one read.
    let home = Resource::new(|| (), |_| home_page());
    view! {
        <h1>{locale.t("nav-dashboard")}</h1>
        <FollowChanges/>
        <div id=HOME_CARDS>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    let me = me.await.ok().flatten();
                    let page = home.await.unwrap_or_default();
                    let alerts = page.open_alerts;
                    let (sites, services, linodes) = (listed(page.sites), listed(page.services), listed(page.linodes));
                    let (deploys, backups) = (listed(page.deploys), listed(page.backups));
                    let (ci, recent) = (page.ci, page.recent);
                    view! {
                        {me.map(|me| view! {
                            <p id="welcome">{locale.t_with("dashboard-welcome", &[("username", me.username.into())])}</p>
                        })}
                        {alerts.map(|open| view! {
                            <section class="card" aria-labelledby="alerts-heading" id="dashboard-alerts">
                                <h2 id="alerts-heading">{locale.t("nav-alerts")}</h2>
                                <p class=match open { 0 => "open-alerts", _ => "open-alerts firing" }>
                                    {locale.t_with("dashboard-open-alerts", &[("count", open.into())])}
                                </p>
                                <p><a href="/alerts">{locale.t("dashboard-alerts-link")}</a></p>
                            </section>
                        })}
                        {sites.map(|sites| view! {
                            <section class="card" aria-labelledby="sites-heading" id="dashboard-sites">
                                <h2 id="sites-heading">{locale.t("dashboard-sites")}</h2>
                                <ul class="services sites">
                                    {sites.into_iter().map(|site| {
                                        let latency = site.latency_ms.map(|ms| format!(" · {ms} ms"));
                                        let cert = site.cert_days_left.map(|days| {
                                            view! { " · " <span class=cert_class(days)>{locale.t_with("monitoring-cert-days", &[("days", days.into())])}</span> }
                                        });
                                        let spark = (!site.sparkline.is_empty()).then(|| view! {
                                            <svg class="sparkline" viewBox=format!("0 0 {SPARK_WIDTH} {SPARK_HEIGHT}") width="120" height="24"
                                                role="img" aria-label=locale.t("monitoring-latency-chart")>
                                                <polyline points=site.sparkline.clone()/>
                                            </svg>
                                        });
                                        view! {
                                            <li data-host=site.host_id>
                                                <a href=format!("/server/{}", site.host_id)>{site.host_name.clone()}</a>
                                                " : " <SiteStateBadge state=site.state/> {latency} {cert} " " {spark}
                                            </li>
                                        }
                                    }).collect_view()}
                                </ul>
                                <p><a href="/monitoring">{locale.t("dashboard-monitoring-link")}</a></p>
                            </section>
                        })}
                        {services.map(|hosts| view! {
                            <section class="card" aria-labelledby="services-heading" id="dashboard-services">
                                <h2 id="services-heading">{locale.t("dashboard-services")}</h2>
                                <ul class="services">
                                    {hosts.into_iter().map(|host| {
                                        let said = match host.states {
                                            Ok(states) => states.into_iter().map(|s| {
                                                let label = if s.state.is_empty() { locale.t("hosts-state-unknown") } else { s.state.clone() };
                                                let (unit, class) = (s.unit.clone(), format!("state {}", s.state));
                                                view! { " " <span class="service" data-unit=unit>{s.unit} " : " <span class=class>{label}</span></span> }
                                            }).collect_view().into_any(),
                                            Err(message) => view! { " " <span class="error">{locale.t(&message)}</span> }.into_any(),
                                        };
                                        view! { <li data-host=host.host_id><a href=format!("/server/{}", host.host_id)>{host.host_name}</a> " :" {said}</li> }
                                    }).collect_view()}
                                </ul>
                            </section>
                        })}
                        {linodes.map(|linodes| view! {
                            <section class="card" aria-labelledby="linodes-heading" id="dashboard-linodes">
                                <h2 id="linodes-heading">{locale.t("linode-title")}</h2>
                                <ul class="services">
                                    {linodes.into_iter().map(|l| {
                                        let simulated = l.simulated.then(|| view! { " " <span class="badge simulated">{locale.t("linode-simulated")}</span> });
                                        let state = match &l.instance {
                                            Some(i) => view! { <span class=format!("state linode-state {}", i.state) data-state=i.state.clone()>{state_label(locale, &i.state)}</span> }.into_any(),
                                            None => view! { <span class="state unknown">{locale.t("linode-state-unreadable")}</span> }.into_any(),
                                        };
                                        view! {
                                            <li><a href=format!("/server/{}", l.host_id)>{l.label}</a> " : " {state} {simulated}</li>
                                        }
                                    }).collect_view()}
                                </ul>
                            </section>
                        })}
                        {deploys.map(|hosts| view! {
                            <section class="card" aria-labelledby="deploys-heading" id="dashboard-deploys">
                                <h2 id="deploys-heading">{locale.t("dashboard-deploys")}</h2>
                                <ul class="services">
                                    {hosts.into_iter().map(|(host_id, host_name, newest)| {
                                        let said = match newest {
                                            Some(deploy) => {
                                                let commit = deploy.to.as_ref().map(|c| c.short.clone()).unwrap_or_else(|| "—".into());
                                                let what = deploy.branch.clone().unwrap_or_else(|| locale.t("dashboard-deploy-rollback"));
                                                locale.t_with("dashboard-deploy-line", &[
                                                    ("what", what.into()),
                                                    ("commit", commit.into()),
                                                    ("by", deploy.actor.into()),
                                                    ("at", deploy.at.into()),
                                                    ("status", locale.t(&format!("job-status-{}", deploy.status)).into()),
                                                ])
                                            }
                                            None => locale.t("dashboard-deploy-none"),
                                        };
                                        let ci_state = ci.iter().find(|(id, _)| *id == host_id).and_then(|(_, state)| *state).map(|state| view! {
                                            " · " <a href="/monitoring#integrations" class="ci">{locale.t("dashboard-ci-label")} " " <CiStateBadge state/></a>
                                        });
                                        view! { <li data-host=host_id><a href=format!("/server/{host_id}")>{host_name}</a> " : " {said} {ci_state}</li> }
                                    }).collect_view()}
                                </ul>
                                <p><a href="/deployments">{locale.t("nav-deployments")}</a></p>
                            </section>
                        })}
                        {backups.map(|hosts| view! {
                            <section class="card" aria-labelledby="backups-heading" id="dashboard-backups">
                                <h2 id="backups-heading">{locale.t("nav-backups")}</h2>
                                {hosts.into_iter().map(|health| view! {
                                    <h3>{health.host_name.clone()}</h3>
                                    <BackupHealthFacts health/>
                                }).collect_view()}
                                <p><a href="/backups">{locale.t("dashboard-backups-link")}</a></p>
                            </section>
                        })}
                        <section class="card" aria-labelledby="recent-heading">
                            <h2 id="recent-heading">{locale.t("dashboard-recent")}</h2>
                            {match recent {
                                Some(rows) => view! {
                                    <ul class="recent">
                                        {rows.into_iter().map(|r| view! {
                                            <li><span class="muted">{r.at}</span> " " <strong>{r.actor}</strong> " " <code>{r.action.as_str()}</code> " " {r.target}</li>
                                        }).collect_view()}
                                    </ul>
                                    <p><a href="/audit">{locale.t("nav-audit")}</a></p>
                                }.into_any(),
                                None => view! { <p class="muted">{locale.t("dashboard-recent-hidden")}</p> }.into_any(),
                            }}
                        </section>
                    }
                })}
            </Suspense>
        </div>
    }
}

/// The element holding every card: what a change replaces.
const HOME_CARDS: &str = "home-cards";

/// A card's list, `None` (no card) when empty.
fn listed<T>(items: Vec<T>) -> Option<Vec<T>> {
    (!items.is_empty()).then_some(items)
}

/// Follows `/events/home`: at each change the server announces (a probe,
/// an alert, a job, a backup, an audit record), reads the page again and
/// puts its new cards in place of those shown, without reloading. The
/// server renders the cards; no card's code runs in the browser.
#[island]
fn FollowChanges() -> impl IntoView {
    #[cfg(feature = "hydrate")]
    live::follow_changes();
}

#[cfg(feature = "hydrate")]
mod live {
    use std::cell::Cell;
    use std::rc::Rc;

    use leptos::prelude::document;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;

    use super::HOME_CARDS;

    /// Listens for as long as the page is open (the browser reconnects a
    /// dropped stream by itself).
    pub fn follow_changes() {
        let Ok(source) = web_sys::EventSource::new("/events/home") else {
            return;
        };
        let newest = Rc::new(Cell::new(0u64));
        let on_change = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |_: web_sys::MessageEvent| {
            read_cards_again(newest.clone());
        });
        let _ = source.add_event_listener_with_callback("changed", on_change.as_ref().unchecked_ref());
        on_change.forget();
        std::mem::forget(source);
    }

    /// Reads the page again and shows its cards, unless a later change
    /// started another read meanwhile (only the newest is put in place).
    fn read_cards_again(newest: Rc<Cell<u64>>) {
        let Ok(request) = web_sys::XmlHttpRequest::new() else {
            return;
        };
        let this = newest.get() + 1;
        newest.set(this);
        let answered = request.clone();
        let on_load = Closure::once_into_js(move || {
            if newest.get() != this || answered.status().ok() != Some(200) {
                return;
            }
            let fresh = answered
                .response_xml()
                .ok()
                .flatten()
                .and_then(|page| page.get_element_by_id(HOME_CARDS));
            if let (Some(fresh), Some(shown)) = (fresh, document().get_element_by_id(HOME_CARDS)) {
                shown.set_inner_html(&fresh.inner_html());
            }
        });
        request.set_onload(Some(on_load.unchecked_ref()));
        request.set_response_type(web_sys::XmlHttpRequestResponseType::Document);
        if request.open("GET", "/").is_ok() {
            let _ = request.send();
        }
    }
}
