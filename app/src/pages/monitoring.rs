//! Supervision (manual §8): each host's site as the probes see it — up or
//! down, the status and latency of the newest probe and why it failed,
//! how many probes in a row found it down, uptime over 24 hours, 7 and 30
//! days, the certificate's days left, the latency over 24 hours as a chart
//! drawn by the server — with "Probe now" (operators) and how the site is
//! probed (admins); the web services the app needs (manual §3.3), checked
//! from each host and from the console; the CI state of what each host
//! runs and Sentry's issues (manual §8.1, [`super::integrations`]).
//! Readable without JavaScript.

use leptos::prelude::*;

use crate::charts::LineChartFigure;
use crate::components::{form_action, last_error, Confirm, ErrorNotice, FieldError, ForRole, FormError, Loading};
use crate::i18n::{use_locale, Locale, Translate};
use crate::monitoring_api::{
    sites, web_services, AddWebService, CheckWebServices, ProbeNow, ProbeSettingsView, RemoveWebService,
    SaveProbeSettings, SiteState, SiteView, SwitchWebService, WebServiceCheckView, WebServiceView,
};
use vocabulary::accounts::Role;

/// Days left on a certificate under which it is shown as a warning.
pub const CERT_WARNING_DAYS: i64 = 14;

/// The class of a certificate's days left (a warning when few are left).
pub fn cert_class(days: i64) -> &'static str {
    match days < CERT_WARNING_DAYS {
        true => "cert-days warning",
        false => "cert-days",
    }
}

#[component]
pub fn MonitoringPage() -> impl IntoView {
    let locale = use_locale();
    let probe = form_action::<ProbeNow>();
    let save = form_action::<SaveProbeSettings>();
    // Read again after a probe (the settings' form stays as typed, open).
    let sites = Resource::new(move || probe.version().get(), |_| sites());
    view! {
        <h1>{locale.t("nav-monitoring")}</h1>
        <p class="muted">{locale.t("monitoring-intro")}</p>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match sites.await {
                    Ok(sites) if sites.is_empty() => view! { <p id="monitoring-no-host">{locale.t("monitoring-no-host")}</p> }.into_any(),
                    Ok(sites) => sites.into_iter().map(|site| view! { <SiteCard site probe save/> }).collect_view().into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
        <WebServicesSection/>
        <crate::pages::integrations::IntegrationsSection/>
    }
}

/// The web services the app needs: each one's newest check from the
/// console and from each host; "Check now" (operators); added, turned on
/// or off and removed by admins.
#[component]
fn WebServicesSection() -> impl IntoView {
    let locale = use_locale();
    let check = form_action::<CheckWebServices>();
    let add = form_action::<AddWebService>();
    let switch = form_action::<SwitchWebService>();
    let remove = form_action::<RemoveWebService>();
    let services = Resource::new(
        move || {
            (
                check.version().get(),
                add.version().get(),
                switch.version().get(),
                remove.version().get(),
            )
        },
        |_| web_services(),
    );
    let add_error = last_error(add.value());
    let change_error = Signal::derive(move || {
        let failed = |value: Option<Result<(), crate::errors::AppError>>| value.and_then(|r| r.err());
        failed(switch.value().get()).or_else(|| failed(remove.value().get()))
    });
    view! {
        <section class="card wide-card" id="web-services" aria-labelledby="web-services-heading">
            <h2 id="web-services-heading">{locale.t("web-services")}</h2>
            <p class="muted">{locale.t("web-services-intro")}</p>
            <ForRole role=Role::Operator>
                <ActionForm action=check>
                    <button type="submit" class="check-web-services" disabled=move || check.pending().get()>{locale.t("web-services-check-now")}</button>
                </ActionForm>
            </ForRole>
            <FormError error=change_error fields=&[]/>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match services.await {
                        Ok(services) => view! {
                            <ul class="web-services">
                                {services.into_iter().map(|service| view! { <WebServiceItem service switch remove/> }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    }
                })}
            </Suspense>
            <ForRole role=Role::Admin>
                <ActionForm action=add attr:class="add-web-service">
                    <label for="web-service-name">{locale.t("web-services-name")}</label>
                    <input id="web-service-name" name="name" required maxlength="60"/>
                    <FieldError error=add_error field="name" id="web-service-name-error"/>
                    <label for="web-service-url">{locale.t("web-services-url")}</label>
                    <input id="web-service-url" name="url" type="url" required aria-describedby="web-service-url-error"/>
                    <FieldError error=add_error field="url" id="web-service-url-error"/>
                    <FormError error=add_error fields=&["name", "url"]/>
                    <button type="submit">{locale.t("web-services-add")}</button>
                </ActionForm>
            </ForRole>
        </section>
    }
}

#[component]
fn WebServiceItem(
    service: WebServiceView,
    switch: ServerAction<SwitchWebService>,
    remove: ServerAction<RemoveWebService>,
) -> impl IntoView {
    let locale = use_locale();
    let WebServiceView {
        id,
        name,
        url,
        enabled,
        checks,
    } = service;
    let state = match enabled {
        true => locale.t("web-services-on"),
        false => locale.t("web-services-off"),
    };
    let checks = match (enabled, checks.is_empty()) {
        (false, _) => None,
        (true, true) => Some(view! { <p class="muted">{locale.t("web-services-not-checked")}</p> }.into_any()),
        (true, false) => Some(
            view! {
                <ul class="web-service-checks">
                    {checks.into_iter().map(|check| view! { <WebServiceCheckItem check/> }).collect_view()}
                </ul>
            }
            .into_any(),
        ),
    };
    let switch_label = StoredValue::new(match enabled {
        true => locale.t("web-services-turn-off"),
        false => locale.t("web-services-turn-on"),
    });
    let question = StoredValue::new(locale.t_with("web-services-remove-confirm", &[("name", name.clone().into())]));
    view! {
        <li class="web-service" data-name=name.clone()>
            <strong>{name.clone()}</strong> " · " <code>{url}</code> " · " <span class="web-service-state">{state}</span>
            <ForRole role=Role::Admin>
                <ActionForm action=switch attr:class="inline">
                    <input type="hidden" name="id" value=id/>
                    <input type="hidden" name="enabled" value=(!enabled).to_string()/>
                    <button type="submit" class="secondary switch-web-service">{switch_label.get_value()}</button>
                </ActionForm>
                <Confirm id=format!("remove-web-service-{id}") class="secondary remove-web-service"
                    label=locale.t("web-services-remove") question=question.get_value()>
                    <ActionForm action=remove attr:class="inline">
                        <input type="hidden" name="id" value=id/>
                        <button type="submit" class="danger confirm-remove">{locale.t("web-services-remove")}</button>
                    </ActionForm>
                </Confirm>
            </ForRole>
            {checks}
        </li>
    }
}

/// One place's newest check: reachable or not, latency, the newest failure.
#[component]
fn WebServiceCheckItem(check: WebServiceCheckView) -> impl IntoView {
    let locale = use_locale();
    let place = match &check.host {
        Some((_, host)) => locale.t_with("web-services-from-host", &[("host", host.clone().into())]),
        None => locale.t("web-services-from-console"),
    };
    let word = match check.reachable {
        true => "reachable",
        false => "unreachable",
    };
    let outcome = match (check.reachable, check.failure) {
        (true, _) => locale.t_with(
            "web-services-reachable",
            &[
                ("latency", check.latency_ms.into()),
                ("status", check.status.unwrap_or(0).into()),
            ],
        ),
        (false, Some(failure)) => format!(
            "{} — {}",
            locale.t("web-services-unreachable"),
            locale.t(&format!("probe-failure-{failure}"))
        ),
        (false, None) => locale.t("web-services-unreachable"),
    };
    let last = check.last_failure.filter(|_| check.reachable).map(|(failure, at)| {
        view! { <span class="muted">" · " {locale.t_with("web-services-last-failure", &[("at", at.into()), ("why", locale.t(&format!("probe-failure-{failure}")).into())])}</span> }
    });
    view! {
        <li class=format!("web-service-check {word}") data-host=check.host.as_ref().map(|(id, _)| id.to_string()).unwrap_or_default()>
            {place} " : " <span class="outcome">{outcome}</span> " " <span class="muted">{check.at}</span> {last}
        </li>
    }
}

/// A site's state as a badge: up, down, not probed yet.
#[component]
pub fn SiteStateBadge(state: SiteState) -> impl IntoView {
    let locale = use_locale();
    let word = state.word();
    view! { <span class=format!("state site-{word}") data-state=word>{locale.t(&format!("monitoring-state-{word}"))}</span> }
}

/// A percentage in the reader's language (`99,5 %`), or a dash.
pub fn percent(locale: Locale, value: Option<f64>) -> String {
    match value {
        Some(value) => crate::charts::written(locale, crate::charts::ChartUnit::Percent, value),
        None => "—".to_owned(),
    }
}

/// One host's site.
#[component]
fn SiteCard(site: SiteView, probe: ServerAction<ProbeNow>, save: ServerAction<SaveProbeSettings>) -> impl IntoView {
    let locale = use_locale();
    let SiteView {
        host_id,
        host_name,
        url,
        state,
        checked_at,
        status,
        latency_ms,
        failure,
        down_in_a_row,
        uptime,
        cert_days_left,
        chart,
        settings,
    } = site;
    let heading = format!("site-{host_id}-heading");
    let labelled_by = heading.clone();
    let newest = match (checked_at, status, latency_ms) {
        (Some(at), status, Some(latency)) => locale.t_with(
            "monitoring-newest",
            &[
                ("at", at.into()),
                (
                    "status",
                    status.map_or_else(|| "—".to_owned(), |s| s.to_string()).into(),
                ),
                ("latency", latency.into()),
            ],
        ),
        _ => locale.t("monitoring-never-probed"),
    };
    let cert = cert_days_left.map(|days| {
        view! {
            <dt>{locale.t("monitoring-cert")}</dt>
            <dd class=cert_class(days)>{locale.t_with("monitoring-cert-days", &[("days", days.into())])}</dd>
        }
    });
    view! {
        <section class="card wide-card site" id=format!("site-{host_id}") aria-labelledby=labelled_by>
            <h2 id=heading><a href=format!("/server/{host_id}")>{host_name}</a> " " <SiteStateBadge state/></h2>
            <dl class="facts">
                <dt>{locale.t("monitoring-url")}</dt><dd><code class="probe-url">{url}</code></dd>
                <dt>{locale.t("monitoring-newest-probe")}</dt><dd class="newest">{newest}</dd>
                {failure.map(|failure| view! {
                    <dt>{locale.t("monitoring-failure")}</dt>
                    <dd class="failure">{locale.t(&format!("probe-failure-{failure}"))}
                        {(down_in_a_row > 1).then(|| format!(" ({})", locale.t_with("monitoring-down-in-a-row", &[("count", down_in_a_row.into())])))}
                    </dd>
                })}
                <dt>{locale.t("monitoring-uptime")}</dt>
                <dd class="uptime">{locale.t_with("monitoring-uptime-values", &[
                    ("day", percent(locale, uptime[0]).into()),
                    ("week", percent(locale, uptime[1]).into()),
                    ("month", percent(locale, uptime[2]).into()),
                ])}</dd>
                {cert}
            </dl>
            <LineChartFigure chart/>
            <ForRole role=Role::Operator>
                <ActionForm action=probe>
                    <input type="hidden" name="host_id" value=host_id/>
                    <button type="submit" class="probe-now" disabled=move || probe.pending().get()>{locale.t("monitoring-probe-now")}</button>
                </ActionForm>
            </ForRole>
            <ForRole role=Role::Admin>
                // Open on the page a form posted without JavaScript comes
                // back to, so that its "saved" or its error is seen.
                <details class="probe-settings" open=move || save.value().with(Option::is_some)>
                    <summary>{locale.t("monitoring-settings")}</summary>
                    <ProbeSettingsForm host_id settings=settings.clone() save/>
                </details>
            </ForRole>
        </section>
    }
}

/// How a host's site is probed (admins).
#[component]
fn ProbeSettingsForm(
    host_id: i64,
    settings: ProbeSettingsView,
    save: ServerAction<SaveProbeSettings>,
) -> impl IntoView {
    let locale = use_locale();
    let error = last_error(save.value());
    let saved = move || save.value().get().is_some_and(|r| r.is_ok());
    let id = move |field: &str| format!("probe-{field}-{host_id}");
    let changed = settings.changed.clone().map(|(at, by)| {
        view! { <p class="muted">{locale.t_with("monitoring-settings-changed", &[("at", at.into()), ("by", by.into())])}</p> }
    });
    view! {
        {changed}
        <ActionForm action=save>
            <input type="hidden" name="host_id" value=host_id/>
            <label for=id("url")>{locale.t("monitoring-setting-url")}</label>
            <input id=id("url") name="settings[url]" type="url" value=settings.url aria-describedby=id("url-error")/>
            <FieldError error field="url" id=id("url-error")/>
            <label for=id("expected_status")>{locale.t("monitoring-setting-status")}</label>
            <input id=id("expected_status") name="settings[expected_status]" type="number" min="100" max="599" required value=settings.expected_status/>
            <FieldError error field="expected_status" id=id("status-error")/>
            <label for=id("expected_text")>{locale.t("monitoring-setting-text")}</label>
            <input id=id("expected_text") name="settings[expected_text]" maxlength="200" value=settings.expected_text/>
            <FieldError error field="expected_text" id=id("text-error")/>
            <label for=id("timeout_ms")>{locale.t("monitoring-setting-timeout")}</label>
            <input id=id("timeout_ms") name="settings[timeout_ms]" type="number" min="100" max="60000" required value=settings.timeout_ms/>
            <FieldError error field="timeout_ms" id=id("timeout-error")/>
            <label for=id("interval_s")>{locale.t("monitoring-setting-interval")}</label>
            <input id=id("interval_s") name="settings[interval_s]" type="number" min="10" max="86400" required value=settings.interval_s/>
            <FieldError error field="interval_s" id=id("interval-error")/>
            <label class="check">
                <input type="checkbox" name="settings[enabled]" id=id("enabled") checked=settings.enabled/>
                {locale.t("monitoring-setting-enabled")}
            </label>
            <FormError error fields=&["url", "expected_status", "expected_text", "timeout_ms", "interval_s"]/>
            <Show when=saved>
                <p class="notice ok" role="status">{locale.t("monitoring-settings-saved")}</p>
            </Show>
            <button type="submit">{locale.t("monitoring-settings-save")}</button>
        </ActionForm>
    }
}
