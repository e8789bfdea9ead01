//! One host: its identity and pinned key (with the alert when the host
//! showed another one), the web app's services with their state and the
//! buttons of manual §5.2, its Linode (§5.1, `host_linode`), the prerequisites check of §3.1-3.2, its jobs.
//! Every button is a form: it works before the page is hydrated and
//! without JavaScript, and a job it starts opens its own page.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::api::Role;
use crate::components::{form_action, last_error, Confirm, ErrorNotice, ForRole, FormError, Loading};
use crate::hosts_api::{
    host_detail, service_states, HostSummary, HostView, JobSummary, PrerequisiteRow, RepinHost, StartJob,
};
use crate::i18n::{use_locale, Translate};

#[component]
pub fn HostPage() -> impl IntoView {
    let params = use_params_map();
    let host_id = move || params.with(|p| p.get("id").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0));
    let repin = form_action::<RepinHost>();
    let detail = Resource::new(move || (host_id(), repin.version().get()), |(id, _)| host_detail(id));
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(host) => view! { <HostSections host repin/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The host page's sections, in order; a job started from any of them
/// opens its own page.
#[component]
fn HostSections(host: HostView, repin: ServerAction<RepinHost>) -> impl IntoView {
    let locale = use_locale();
    let host_id = host.summary.id;
    let start = form_action::<StartJob>();
    let HostView {
        summary,
        public_key,
        app_dir,
        web_service,
        wsgi_service,
        control,
        jobs,
        prerequisites,
        ..
    } = host;
    let alert = summary.key_alert.clone().map(|presented| {
        let pinned = summary.fingerprint.clone();
        view! { <HostKeyAlert host_id pinned presented repin/> }
    });
    view! {
        <h1>{summary.name.clone()}</h1>
        {alert}
        <crate::pages::environment::Drift host_id/>
        <p class="host-links">
            <a href=format!("/server/{host_id}/environment") id="host-environment">{locale.t("env-link")}</a>
            " · "
            <a href="/deployments">{locale.t("nav-deployments")}</a>
        </p>
        <HostFacts summary app_dir control public_key/>
        <crate::pages::host_linode::LinodeSection host_id/>
        <WebAppSection host_id web_service wsgi_service start/>
        <PrerequisitesSection host_id prerequisites start/>
        <HostJobs jobs/>
    }
}

/// The host presented another key than the pinned one: both fingerprints,
/// and for an admin the button that pins the new one.
#[component]
fn HostKeyAlert(host_id: i64, pinned: String, presented: String, repin: ServerAction<RepinHost>) -> impl IntoView {
    let locale = use_locale();
    let me = crate::api::use_me();
    let repin_error = last_error(repin.value());
    view! {
        <div class="notice error" role="alert" id="host-key-alert">
            <p>{locale.t("hosts-key-alert")}</p>
            <p>{locale.t("hosts-pinned")} " " <code>{pinned}</code></p>
            <p>{locale.t("hosts-presented")} " " <code>{presented.clone()}</code></p>
            <Suspense fallback=|| ()>
                {move || {
                    let presented = presented.clone();
                    Suspend::new(async move {
                        me.await.ok().flatten().filter(|m| m.may(crate::api::Role::Admin)).map(|_| view! {
                            <p class="hint">{locale.t("hosts-repin-hint")}</p>
                            <ActionForm action=repin>
                                <input type="hidden" name="host_id" value=host_id/>
                                <input type="hidden" name="fingerprint" value=presented/>
                                <button type="submit" id="repin">{locale.t("hosts-repin")}</button>
                            </ActionForm>
                            <FormError error=repin_error fields=&[]/>
                        })
                    })
                }}
            </Suspense>
        </div>
    }
}

/// How the console reaches the host and what it pinned.
#[component]
fn HostFacts(summary: HostSummary, app_dir: String, control: String, public_key: String) -> impl IntoView {
    let locale = use_locale();
    let site_link = summary.site_url.clone();
    view! {
        <dl class="facts">
            <dt>{locale.t("hosts-ssh")}</dt><dd><code>{summary.ssh}</code></dd>
            <dt>{locale.t("hosts-pinned")}</dt><dd><code id="pinned-fingerprint">{summary.fingerprint}</code></dd>
            <dt>{locale.t("hosts-site-url")}</dt><dd><a href=site_link rel="external">{summary.site_url}</a></dd>
            <dt>{locale.t("hosts-app-dir")}</dt><dd><code>{app_dir}</code></dd>
            <dt>{locale.t("hosts-control")}</dt><dd><code>{control}</code></dd>
            <dt>{locale.t("hosts-public-key")}</dt><dd><code class="wrap" id="public-key">{public_key}</code></dd>
        </dl>
    }
}

/// The web app's services (manual §5.2): their state, stop (confirmed
/// first) and restart.
#[component]
fn WebAppSection(
    host_id: i64,
    web_service: String,
    wsgi_service: String,
    start: ServerAction<StartJob>,
) -> impl IntoView {
    let locale = use_locale();
    let states = Resource::new(|| (), move |_| service_states(host_id));
    let start_error = last_error(start.value());
    view! {
        <section class="card wide-card" aria-labelledby="webapp-heading" id="webapp">
            <h2 id="webapp-heading">{locale.t("nav-web-app")}</h2>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match states.await {
                        Ok(states) => view! {
                            <ul class="services" id="service-states">
                                {states.into_iter().map(|s| {
                                    let state_class = format!("state {}", s.state);
                                    let label = if s.state.is_empty() { locale.t("hosts-state-unknown") } else { s.state.clone() };
                                    view! { <li><strong>{s.unit}</strong> " : " <span class=state_class>{label}</span></li> }
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    }
                })}
            </Suspense>
            <ForRole role=Role::Operator>
                <div class="actions">
                    <Confirm
                        id="stop-web-server"
                        label=locale.t_with("hosts-stop", &[("unit", web_service.clone().into())])
                        question=locale.t("hosts-stop-confirm")
                    >
                        <RunButton start host_id runbook="webapp.stop_web_server" id="confirm-stop" class="danger" label=locale.t("hosts-stop-confirm-yes")/>
                    </Confirm>
                    <RunButton start host_id runbook="webapp.restart_web_server" id="restart-web-server"
                        label=locale.t_with("hosts-restart", &[("unit", web_service.clone().into())])/>
                    <RunButton start host_id runbook="webapp.restart_wsgi_server" id="restart-wsgi-server"
                        label=locale.t_with("hosts-restart", &[("unit", wsgi_service.clone().into())])/>
                </div>
            </ForRole>
            <FormError error=start_error fields=&[]/>
        </section>
    }
}

/// A button that runs one of the host's runbooks: a form of its own, so
/// that it posts with or without JavaScript; the job's page opens.
#[component]
fn RunButton(
    start: ServerAction<StartJob>,
    host_id: i64,
    runbook: &'static str,
    id: &'static str,
    #[prop(into)] label: String,
    #[prop(default = "")] class: &'static str,
) -> impl IntoView {
    view! {
        <ActionForm action=start attr:class="inline">
            <input type="hidden" name="host_id" value=host_id/>
            <button type="submit" name="action" value=runbook id=id class=class>{label}</button>
        </ActionForm>
    }
}

/// The prerequisites of manual §3.1-3.2 as last checked, and the check.
#[component]
fn PrerequisitesSection(
    host_id: i64,
    prerequisites: Vec<PrerequisiteRow>,
    start: ServerAction<StartJob>,
) -> impl IntoView {
    let locale = use_locale();
    view! {
        <section class="card wide-card" aria-labelledby="prereq-heading">
            <h2 id="prereq-heading">{locale.t("hosts-prerequisites")}</h2>
            {if prerequisites.is_empty() {
                view! { <p class="muted">{locale.t("hosts-prerequisites-none")}</p> }.into_any()
            } else {
                view! {
                    <table id="prerequisites">
                        <thead><tr>
                            <th scope="col">{locale.t("hosts-prerequisite")}</th>
                            <th scope="col">{locale.t("hosts-found")}</th>
                            <th scope="col">{locale.t("hosts-required")}</th>
                            <th scope="col">{locale.t("hosts-verdict")}</th>
                        </tr></thead>
                        <tbody>
                            {prerequisites.into_iter().map(|p| {
                                let verdict_key = format!("verdict-{}", p.verdict);
                                view! { <tr class=format!("verdict {}", p.verdict)><td>{p.name}</td><td>{p.found}</td><td>{p.required}</td><td>{locale.t(&verdict_key)}</td></tr> }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            <ForRole role=Role::Operator>
                <RunButton start host_id runbook="host.check_prerequisites" id="check-prerequisites" class="secondary"
                    label=locale.t("hosts-check")/>
            </ForRole>
        </section>
    }
}

/// The host's jobs, newest first, each a link to its page.
#[component]
fn HostJobs(jobs: Vec<JobSummary>) -> impl IntoView {
    let locale = use_locale();
    view! {
        <section aria-labelledby="jobs-heading">
            <h2 id="jobs-heading">{locale.t("jobs-title")}</h2>
            <ul class="jobs" id="host-jobs">
                {jobs.into_iter().map(|j| {
                    let status_key = format!("job-status-{}", j.status);
                    let action_label = locale.t(&crate::i18n::action_key(&j.action));
                    view! {
                        <li><a href=format!("/jobs/{}", j.id)>"#"{j.id}</a> " " {action_label} " · " {j.actor} " · " {j.created} " · " <span class=format!("status {}", j.status)>{locale.t(&status_key)}</span></li>
                    }
                }).collect_view()}
            </ul>
        </section>
    }
}
