//! Alerts (manual §8): the alerts opened by the rules (open first, then
//! the newest resolved), each with where its notifications went, and
//! "Acknowledge" (operators); the channels notifications go to, with
//! "Send a test" (operators), added and removed by admins; the rules, each
//! on or off with its threshold (admins change them). Readable and usable
//! without JavaScript.

use leptos::prelude::*;

use crate::alerts_api::{
    all_alerts, AcknowledgeAlert, AddEmailChannel, AddWebhookChannel, AlertView, ChannelView, DeliveryView,
    RemoveAlertChannel, RuleView, SaveAlertRule, TestAlertChannel,
};
use crate::components::{
    form_action, last_error, typed_value, Confirm, ErrorNotice, FieldError, ForRole, FormError, Loading,
};
use crate::i18n::{use_locale, Translate};
use vocabulary::accounts::Role;
use vocabulary::locale::Locale;
use vocabulary::supervision::{ChannelKind, SmtpSecurity};

#[component]
pub fn AlertsPage() -> impl IntoView {
    let locale = use_locale();
    let acknowledge = form_action::<AcknowledgeAlert>();
    let rule = form_action::<SaveAlertRule>();
    let add_webhook = form_action::<AddWebhookChannel>();
    let add_email = form_action::<AddEmailChannel>();
    let remove = form_action::<RemoveAlertChannel>();
    let test = form_action::<TestAlertChannel>();
    let view = Resource::new(
        move || {
            (
                acknowledge.version().get(),
                rule.version().get(),
                add_webhook.version().get(),
                add_email.version().get(),
                remove.version().get(),
                test.version().get(),
            )
        },
        |_| all_alerts(),
    );
    view! {
        <h1>{locale.t("nav-alerts")}</h1>
        <p class="muted">{locale.t("alerts-intro")}</p>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match view.await {
                    Ok(all) => view! {
                        <AlertList alerts=all.alerts acknowledge/>
                        <ChannelList channels=all.channels test remove/>
                    }
                    .into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
        // Outside the lists read again after each change: a refused form
        // keeps what was typed.
        <ForRole role=Role::Admin>
            <AddWebhookForm add=add_webhook/>
            <AddEmailForm add=add_email/>
        </ForRole>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move { view.await.ok().map(|all| view! { <RuleList rules=all.rules save=rule/> }) })}
        </Suspense>
    }
}

/// The alerts, open first.
#[component]
fn AlertList(alerts: Vec<AlertView>, acknowledge: ServerAction<AcknowledgeAlert>) -> impl IntoView {
    let locale = use_locale();
    let error = last_error(acknowledge.value());
    let list = if alerts.is_empty() {
        view! { <p id="alerts-none">{locale.t("alerts-none")}</p> }.into_any()
    } else {
        view! {
            <table class="alerts">
                <thead><tr>
                    <th scope="col">{locale.t("alerts-state")}</th>
                    <th scope="col">{locale.t("alerts-host")}</th>
                    <th scope="col">{locale.t("alerts-what")}</th>
                    <th scope="col">{locale.t("alerts-opened")}</th>
                    <th scope="col">{locale.t("alerts-notifications")}</th>
                    <th scope="col">{locale.t("alerts-acknowledged")}</th>
                </tr></thead>
                <tbody>
                    {alerts.into_iter().map(|alert| view! { <AlertRow alert acknowledge/> }).collect_view()}
                </tbody>
            </table>
        }
        .into_any()
    };
    view! {
        <section class="card wide-card" id="alerts-list" aria-labelledby="alerts-heading">
            <h2 id="alerts-heading">{locale.t("alerts-heading")}</h2>
            <FormError error fields=&[]/>
            {list}
        </section>
    }
}

#[component]
fn AlertRow(alert: AlertView, acknowledge: ServerAction<AcknowledgeAlert>) -> impl IntoView {
    let locale = use_locale();
    let open = alert.resolved_at.is_none();
    let state = match open {
        true => "open",
        false => "resolved",
    };
    let state_text = match &alert.resolved_at {
        None => locale.t("alerts-state-open"),
        Some(at) => locale.t_with("alerts-state-resolved", &[("at", at.clone().into())]),
    };
    let acknowledged = match (alert.acknowledged, open) {
        (Some((at, by)), _) => view! {
            <span class="acknowledged">{locale.t_with("alerts-acknowledged-by", &[("by", by.into()), ("at", at.into())])}</span>
        }
        .into_any(),
        (None, true) => view! {
            <ForRole role=Role::Operator>
                <ActionForm action=acknowledge>
                    <input type="hidden" name="alert_id" value=alert.id/>
                    <button type="submit" class="secondary acknowledge">{locale.t("alerts-acknowledge")}</button>
                </ActionForm>
            </ForRole>
        }
        .into_any(),
        (None, false) => view! { <span class="muted">"—"</span> }.into_any(),
    };
    view! {
        <tr class=format!("alert-row alert-{state}") data-kind=alert.kind.as_str()>
            <td><span class=format!("state alert-state-{state}")>{state_text}</span></td>
            <td><a href=format!("/server/{}", alert.host_id)>{alert.host_name}</a></td>
            <td>
                <strong>{locale.t(&format!("alert-kind-{}", alert.kind))}</strong>
                <br/>
                <span class="what">{alert.what}</span>
            </td>
            <td>{alert.opened_at}</td>
            <td><ul class="deliveries">{alert.deliveries.into_iter().map(|d| view! { <DeliveryItem delivery=d/> }).collect_view()}</ul></td>
            <td>{acknowledged}</td>
        </tr>
    }
}

/// How one notification went: sent, to be retried (why), given up.
#[component]
fn DeliveryItem(delivery: DeliveryView) -> impl IntoView {
    let locale = use_locale();
    let event = locale.t(&format!("alert-event-{}", delivery.event));
    let state = match (&delivery.sent_at, delivery.failure, delivery.given_up) {
        (Some(at), _, _) => locale.t_with("alerts-delivery-sent", &[("at", at.clone().into())]),
        (None, Some(failure), true) => locale.t_with(
            "alerts-delivery-given-up",
            &[
                ("why", locale.t(failure.message_key()).into()),
                ("attempts", delivery.attempts.into()),
            ],
        ),
        (None, Some(failure), false) => locale.t_with(
            "alerts-delivery-retrying",
            &[
                ("why", locale.t(failure.message_key()).into()),
                ("attempts", delivery.attempts.into()),
            ],
        ),
        (None, None, _) => locale.t("alerts-delivery-pending"),
    };
    let class = match (&delivery.sent_at, delivery.failure) {
        (Some(_), _) => "delivery sent",
        (None, Some(_)) => "delivery failed",
        (None, None) => "delivery pending",
    };
    view! { <li class=class>{delivery.channel} " · " {event} " · " {state}</li> }
}

/// Where notifications go, with "Send a test" and "Remove".
#[component]
fn ChannelList(
    channels: Vec<ChannelView>,
    test: ServerAction<TestAlertChannel>,
    remove: ServerAction<RemoveAlertChannel>,
) -> impl IntoView {
    let locale = use_locale();
    let test_error = last_error(test.value());
    let remove_error = last_error(remove.value());
    let tested = move || test.value().get().is_some_and(|r| r.is_ok());
    let list = if channels.is_empty() {
        view! { <p id="channels-none">{locale.t("alerts-channels-none")}</p> }.into_any()
    } else {
        view! {
            <ul class="channels">
                {channels.into_iter().map(|channel| view! { <ChannelItem channel test remove/> }).collect_view()}
            </ul>
        }
        .into_any()
    };
    view! {
        <section class="card wide-card" id="alert-channels" aria-labelledby="channels-heading">
            <h2 id="channels-heading">{locale.t("alerts-channels")}</h2>
            <p class="muted">{locale.t("alerts-channels-intro")}</p>
            <Show when=tested>
                <p class="notice ok" role="status" id="channel-tested">{locale.t("alerts-test-sent")}</p>
            </Show>
            <FormError error=test_error fields=&[] id="channel-test-error"/>
            <FormError error=remove_error fields=&[]/>
            {list}
        </section>
    }
}

#[component]
fn ChannelItem(
    channel: ChannelView,
    test: ServerAction<TestAlertChannel>,
    remove: ServerAction<RemoveAlertChannel>,
) -> impl IntoView {
    let locale = use_locale();
    let ChannelView {
        id,
        name,
        kind,
        language,
        address,
        mail_to,
        security,
        last,
        pending,
    } = channel;
    let last = match last {
        None => locale.t("alerts-channel-unused"),
        Some((at, None)) => locale.t_with("alerts-channel-last-ok", &[("at", at.into())]),
        Some((at, Some(failure))) => locale.t_with(
            "alerts-channel-last-failed",
            &[("at", at.into()), ("why", locale.t(failure.message_key()).into())],
        ),
    };
    let detail = match (kind, mail_to, security) {
        (ChannelKind::Email, Some(to), Some(security)) => locale.t_with(
            "alerts-channel-email",
            &[
                ("server", address.into()),
                ("to", to.into()),
                ("security", locale.t(&format!("smtp-security-{security}")).into()),
            ],
        ),
        _ => locale.t_with("alerts-channel-webhook", &[("address", address.into())]),
    };
    let question = StoredValue::new(locale.t_with("alerts-remove-confirm", &[("name", name.clone().into())]));
    view! {
        <li class="channel" data-kind=kind.as_str()>
            <strong class="channel-name">{name}</strong>
            " · " {locale.t(&format!("channel-kind-{kind}"))}
            " · " {language.native_name()}
            <br/><span class="muted">{detail}</span>
            <br/><span class="channel-last">{last}</span>
            {(pending > 0).then(|| view! { " · " <span class="pending">{locale.t_with("alerts-channel-pending", &[("count", pending.into())])}</span> })}
            <ForRole role=Role::Operator>
                <ActionForm action=test attr:class="inline">
                    <input type="hidden" name="channel_id" value=id/>
                    <button type="submit" class="secondary send-test" disabled=move || test.pending().get()>{locale.t("alerts-send-test")}</button>
                </ActionForm>
            </ForRole>
            <ForRole role=Role::Admin>
                <Confirm id=format!("remove-channel-{id}") class="secondary remove-channel"
                    label=locale.t("alerts-remove") question=question.get_value()>
                    <ActionForm action=remove attr:class="inline">
                        <input type="hidden" name="channel_id" value=id/>
                        <button type="submit" class="danger confirm-remove">{locale.t("alerts-remove")}</button>
                    </ActionForm>
                </Confirm>
            </ForRole>
        </li>
    }
}

/// The language a channel's messages are written in.
#[component]
fn LanguageChoice(id: &'static str, typed: Signal<Option<String>>) -> impl IntoView {
    let locale = use_locale();
    let chosen = move |language: Locale| move || typed.get().as_deref().unwrap_or("fr") == language.as_str();
    view! {
        <label for=id>{locale.t("alerts-channel-language")}</label>
        <select id=id name="language">
            {Locale::ALL.iter().map(|language| view! {
                <option value=language.as_str() selected=chosen(*language)>{language.native_name()}</option>
            }).collect_view()}
        </select>
    }
}

/// Adds a webhook (admins).
#[component]
fn AddWebhookForm(add: ServerAction<AddWebhookChannel>) -> impl IntoView {
    let locale = use_locale();
    let error = last_error(add.value());
    let added = move || add.value().get().is_some_and(|r| r.is_ok());
    let typed_name = typed_value::<AddWebhookChannel>("name");
    let typed_language = typed_value::<AddWebhookChannel>("language");
    view! {
        <section class="card" id="add-webhook" aria-labelledby="add-webhook-heading">
            <h2 id="add-webhook-heading">{locale.t("alerts-add-webhook")}</h2>
            <ActionForm action=add>
                <label for="webhook-name">{locale.t("alerts-channel-name")}</label>
                <input id="webhook-name" name="name" required maxlength="60" value=typed_name/>
                <FieldError error field="name" id="webhook-name-error"/>
                <label for="webhook-url">{locale.t("alerts-webhook-url")}</label>
                <input id="webhook-url" name="secret_url" type="url" required autocomplete="off"
                    aria-describedby="webhook-url-hint webhook-url-error"/>
                <p class="hint" id="webhook-url-hint">{locale.t("alerts-webhook-url-hint")}</p>
                <FieldError error field="url" id="webhook-url-error"/>
                <LanguageChoice id="webhook-language" typed=typed_language/>
                <FormError error fields=&["name", "url"]/>
                <Show when=added>
                    <p class="notice ok" role="status">{locale.t("alerts-channel-added")}</p>
                </Show>
                <button type="submit">{locale.t("alerts-add")}</button>
            </ActionForm>
        </section>
    }
}

/// Adds an e-mail channel (admins).
#[component]
fn AddEmailForm(add: ServerAction<AddEmailChannel>) -> impl IntoView {
    let locale = use_locale();
    let error = last_error(add.value());
    let added = move || add.value().get().is_some_and(|r| r.is_ok());
    let typed = |field| typed_value::<AddEmailChannel>(field);
    let typed_security = typed("email[security]");
    let typed_port = typed("email[smtp_port]");
    let security_chosen = move |security: SmtpSecurity| {
        move || typed_security.get().as_deref().unwrap_or("starttls") == security.as_str()
    };
    view! {
        <section class="card" id="add-email" aria-labelledby="add-email-heading">
            <h2 id="add-email-heading">{locale.t("alerts-add-email")}</h2>
            <ActionForm action=add>
                <label for="email-name">{locale.t("alerts-channel-name")}</label>
                <input id="email-name" name="name" required maxlength="60" value=typed("name")/>
                <FieldError error field="name" id="email-name-error"/>
                <label for="email-host">{locale.t("alerts-smtp-host")}</label>
                <input id="email-host" name="email[smtp_host]" required value=typed("email[smtp_host]")/>
                <FieldError error field="smtp_host" id="email-host-error"/>
                <label for="email-port">{locale.t("alerts-smtp-port")}</label>
                <input id="email-port" name="email[smtp_port]" type="number" min="1" max="65535" required
                    value=move || typed_port.get().unwrap_or_else(|| "587".into())/>
                <label for="email-security">{locale.t("alerts-smtp-security")}</label>
                <select id="email-security" name="email[security]">
                    {SmtpSecurity::ALL.iter().map(|security| view! {
                        <option value=security.as_str() selected=security_chosen(*security)>{locale.t(&format!("smtp-security-{security}"))}</option>
                    }).collect_view()}
                </select>
                <label for="email-username">{locale.t("alerts-smtp-username")}</label>
                <input id="email-username" name="email[username]" autocomplete="off" value=typed("email[username]")/>
                <FieldError error field="username" id="email-username-error"/>
                <label for="email-password">{locale.t("alerts-smtp-password")}</label>
                <input id="email-password" name="email[password]" type="password" autocomplete="new-password"/>
                <label for="email-from">{locale.t("alerts-mail-from")}</label>
                <input id="email-from" name="email[from]" type="email" required value=typed("email[from]")/>
                <FieldError error field="from" id="email-from-error"/>
                <label for="email-to">{locale.t("alerts-mail-to")}</label>
                <input id="email-to" name="email[to]" required value=typed("email[to]") aria-describedby="email-to-hint email-to-error"/>
                <p class="hint" id="email-to-hint">{locale.t("alerts-mail-to-hint")}</p>
                <FieldError error field="to" id="email-to-error"/>
                <LanguageChoice id="email-language" typed=typed("language")/>
                <FormError error fields=&["name", "smtp_host", "username", "from", "to"]/>
                <Show when=added>
                    <p class="notice ok" role="status">{locale.t("alerts-channel-added")}</p>
                </Show>
                <button type="submit">{locale.t("alerts-add")}</button>
            </ActionForm>
        </section>
    }
}

/// The rules: each on or off with its threshold; a form each for admins.
#[component]
fn RuleList(rules: Vec<RuleView>, save: ServerAction<SaveAlertRule>) -> impl IntoView {
    let locale = use_locale();
    let error = last_error(save.value());
    view! {
        <section class="card wide-card" id="alert-rules" aria-labelledby="rules-heading">
            <h2 id="rules-heading">{locale.t("alerts-rules")}</h2>
            <FormError error fields=&[]/>
            <FieldError error field="threshold" id="rule-threshold-error"/>
            <ul class="rules">
                {rules.into_iter().map(|rule| view! { <RuleItem rule save/> }).collect_view()}
            </ul>
        </section>
    }
}

#[component]
fn RuleItem(rule: RuleView, save: ServerAction<SaveAlertRule>) -> impl IntoView {
    let locale = use_locale();
    let RuleView {
        kind,
        enabled,
        threshold,
        bounds,
        changed,
    } = rule;
    let id = move |field: &str| format!("rule-{field}-{kind}");
    let summary = match (enabled, bounds) {
        (false, _) => locale.t("alerts-rule-off"),
        (true, Some(_)) => locale.t_with(&format!("alert-rule-{kind}"), &[("threshold", threshold.into())]),
        (true, None) => locale.t("alerts-rule-on"),
    };
    let changed = changed.map(|(at, by)| {
        view! { <span class="muted">{locale.t_with("alerts-rule-changed", &[("at", at.into()), ("by", by.into())])}</span> }
    });
    view! {
        <li class="rule" data-kind=kind.as_str()>
            <strong>{locale.t(&format!("alert-kind-{kind}"))}</strong>
            " · " <span class="rule-summary">{summary}</span> " " {changed}
            <ForRole role=Role::Admin>
                <ActionForm action=save attr:class="inline rule-form">
                    <input type="hidden" name="kind" value=kind.as_str()/>
                    <label class="check">
                        <input type="checkbox" name="enabled" id=id("enabled") checked=enabled/>
                        {locale.t("alerts-rule-enabled")}
                    </label>
                    {match bounds {
                        Some((low, high)) => view! {
                            <label for=id("threshold")>{locale.t(&format!("alert-threshold-{kind}"))}</label>
                            <input id=id("threshold") name="threshold" type="number" min=low max=high required value=threshold/>
                        }.into_any(),
                        None => view! { <input type="hidden" name="threshold" value="1"/> }.into_any(),
                    }}
                    <button type="submit" class="secondary">{locale.t("alerts-rule-save")}</button>
                </ActionForm>
            </ForRole>
        </li>
    }
}
