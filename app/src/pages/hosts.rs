//! Serveur: the registered hosts, and registering one (admins): read the
//! key the host presents, compare its fingerprint, pin it.

use leptos::prelude::*;

use crate::components::{last_error, ErrorNotice, FieldError, FormError, Loading};
use crate::hosts_api::{list_hosts, HostForm, ReadHostKey, RegisterHost};
use crate::i18n::{use_locale, Translate};

#[component]
pub fn HostsPage() -> impl IntoView {
    let locale = use_locale();
    let hosts = Resource::new(|| (), |_| list_hosts());
    let me = crate::api::use_me();
    view! {
        <h1>{locale.t("nav-server")}</h1>
        <p>{locale.t("area-server")}</p>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match hosts.await {
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    Ok(hosts) if hosts.is_empty() => view! { <p class="muted">{locale.t("hosts-none")}</p> }.into_any(),
                    Ok(hosts) => view! {
                        <ul class="hosts" id="hosts">
                            {hosts.into_iter().map(|h| view! {
                                <li>
                                    <a href=format!("/server/{}", h.id)><strong>{h.name.clone()}</strong></a>
                                    " · " <code>{h.ssh}</code> " · " {h.site_url}
                                    {h.key_alert.map(|_| view! { <span class="badge error">{locale.t("hosts-key-alert-short")}</span> })}
                                </li>
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                }
            })}
        </Suspense>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                me.await.ok().flatten().filter(|m| m.may(crate::api::Role::Admin)).map(|_| view! { <RegisterHostForm/> })
            })}
        </Suspense>
    }
}

/// Registration: the key the host presents is read and its fingerprint
/// shown before anything is pinned; an island (the browser runs it), so
/// that the fingerprint appears beside the form as it is read.
#[island]
fn RegisterHostForm() -> impl IntoView {
    let locale = use_locale();
    let field = |initial: &str| RwSignal::new(initial.to_owned());
    let (name, address, port, user) = (field(""), field(""), field("22"), field(""));
    let (private_key, app_dir, web, wsgi) = (field(""), field(""), field("nginx"), field("gunicorn"));
    let (command, site) = (field(""), field(""));
    let confirmed = RwSignal::new(false);
    let read_key = ServerAction::<ReadHostKey>::new();
    let register = ServerAction::<RegisterHost>::new();
    let fingerprint = move || read_key.value().get().and_then(|r| r.ok());
    let read_error = last_error(read_key.value());
    let register_error = last_error(register.value());
    Effect::new(move |_| {
        if let Some(Ok(id)) = register.value().get() {
            let _ = window().location().set_href(&format!("/server/{id}"));
        }
    });
    let text_input = move |id: &'static str,
                           label: &'static str,
                           value: RwSignal<String>,
                           hint: Option<&'static str>| {
        let error_id = format!("{id}-error");
        let hint_id = format!("{id}-hint");
        view! {
            <label for=id>{locale.t(label)}</label>
            <input id=id name=id type="text" bind:value=value autocomplete="off" aria-describedby=format!("{error_id} {hint_id}")/>
            {hint.map(|h| view! { <p class="hint" id=hint_id.clone()>{locale.t(h)}</p> })}
            <FieldError error=register_error field=id id=error_id/>
        }
    };
    view! {
        <section class="card wide-card" aria-labelledby="register-heading">
            <h2 id="register-heading">{locale.t("hosts-register")}</h2>
            {text_input("name", "hosts-name", name, Some("hosts-name-hint"))}
            {text_input("ssh_address", "hosts-address", address, None)}
            {text_input("ssh_port", "hosts-port", port, None)}
            {text_input("ssh_user", "hosts-user", user, None)}
            <label for="private_key">{locale.t("hosts-private-key")}</label>
            <textarea id="private_key" name="private_key" rows="4" bind:value=private_key autocomplete="off"
                aria-describedby="private_key-hint private_key-error"></textarea>
            <p class="hint" id="private_key-hint">{locale.t("hosts-private-key-hint")}</p>
            <FieldError error=register_error field="private_key" id="private_key-error"/>
            {text_input("app_dir", "hosts-app-dir", app_dir, None)}
            {text_input("web_service", "hosts-web-service", web, None)}
            {text_input("wsgi_service", "hosts-wsgi-service", wsgi, None)}
            {text_input("service_command", "hosts-service-command", command, Some("hosts-service-command-hint"))}
            {text_input("site_url", "hosts-site-url", site, None)}
            <button type="button" class="secondary" id="read-host-key" on:click=move |_| {
                read_key.dispatch(ReadHostKey {
                    ssh_address: address.get_untracked(),
                    ssh_port: port.get_untracked().trim().parse().unwrap_or(0),
                });
            }>{locale.t("hosts-read-key")}</button>
            <p class="field-error" role="alert">{move || read_error.get().map(|e| e.text(locale))}</p>
            {move || fingerprint().map(|f| view! {
                <div class="notice" role="status">
                    <p>{locale.t("hosts-fingerprint-intro")}</p>
                    <p><code id="presented-fingerprint">{f}</code></p>
                    <p class="hint">{locale.t("hosts-fingerprint-hint")}</p>
                    <label class="check">
                        <input type="checkbox" id="confirm-fingerprint" bind:checked=confirmed/>
                        {locale.t("hosts-fingerprint-confirm")}
                    </label>
                </div>
            })}
            <FormError error=register_error fields=&["name", "ssh_address", "ssh_port", "ssh_user", "private_key", "app_dir", "web_service", "wsgi_service", "service_command", "site_url"]/>
            <button type="button" id="register-host" disabled=move || !confirmed.get() || fingerprint().is_none() on:click=move |_| {
                register.dispatch(RegisterHost { form: HostForm {
                    name: name.get_untracked(),
                    ssh_address: address.get_untracked(),
                    ssh_port: port.get_untracked().trim().parse().unwrap_or(0),
                    ssh_user: user.get_untracked(),
                    private_key: private_key.get_untracked(),
                    app_dir: app_dir.get_untracked(),
                    web_service: web.get_untracked(),
                    wsgi_service: wsgi.get_untracked(),
                    service_command: command.get_untracked(),
                    site_url: site.get_untracked(),
                    fingerprint: fingerprint().unwrap_or_default(),
                } });
            }>{locale.t("hosts-register-submit")}</button>
        </section>
    }
}
