//! Supervision (manual §8): each host's site as the probes see it — up or
//! down, the status and latency of the newest probe and why it failed,
//! how many probes in a row found it down, uptime over 24 hours, 7 and 30
//! days, the certificate's days left, the latency over 24 hours as a chart
//! drawn by the server — with "Probe now" (operators) and how the site is
//! probed (admins). Readable without JavaScript.

use leptos::prelude::*;

use crate::charts::LineChartFigure;
use crate::components::{last_error, ErrorNotice, FieldError, ForRole, FormError, Loading};
use crate::i18n::{use_locale, Locale, Translate};
use crate::monitoring_api::{sites, ProbeNow, ProbeSettingsView, SaveProbeSettings, SiteState, SiteView};
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
    let probe = ServerAction::<ProbeNow>::new();
    let save = ServerAction::<SaveProbeSettings>::new();
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
                <details class="probe-settings">
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
