//! The host page's Linode section (manual §5.1): the instance the host is,
//! its live state (read again every few seconds while the page is open),
//! Boot / Shut down (confirmed first) / Reboot for operators, and for
//! admins the API token (write-only: "set · changed on … by …") and the
//! instance picked from the account's list. "Linode simulé" wherever the
//! console talks to its local double.

use leptos::prelude::*;

use crate::api::{use_me, Role};
use crate::charts::LineChartFigure;
use crate::components::{form_action, last_error, Confirm, ErrorNotice, FieldError, FormError, Loading};
use crate::errors::AppError;
use crate::i18n::{use_locale, Locale, Translate};
use crate::linode_api::{
    linode_instances, linode_section, linode_state, EnableLinodeBackups, HostLinodeRow, InstanceRow, LinkLinode,
    LinodeBackupRow, LinodeBackupsView, LinodeGraphsView, LinodePower, LinodeSectionView, RestoreLinodeBackup,
    SaveLinodeToken, TakeLinodeSnapshot, TokenRow,
};

/// How often the open page reads the state again (the server remembers
/// it for a few seconds, so this does not spend the API's rate limit).
const REFRESH: std::time::Duration = std::time::Duration::from_secs(5);

/// The state as staff read it: its translation, or the API's own word
/// for a state this version does not know.
pub fn state_label(locale: Locale, state: &str) -> String {
    let key = format!("linode-state-{state}");
    if locale.has(&key) {
        locale.t(&key)
    } else {
        state.to_owned()
    }
}

#[component]
pub fn LinodeSection(host_id: i64) -> impl IntoView {
    let locale = use_locale();
    let save_token = form_action::<SaveLinodeToken>();
    let link = form_action::<LinkLinode>();
    let section = Resource::new(
        move || (host_id, save_token.version().get(), link.version().get()),
        |(id, ..)| linode_section(id),
    );
    let instances = account_instances();
    view! {
        <section class="card wide-card" aria-labelledby="linode-heading" id="linode">
            <h2 id="linode-heading">{locale.t("linode-title")}</h2>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match section.await {
                        Ok(view) => view! { <LinodeBody host_id view save_token link instances/> }.into_any(),
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn LinodeBody(
    host_id: i64,
    view: LinodeSectionView,
    save_token: ServerAction<SaveLinodeToken>,
    link: ServerAction<LinkLinode>,
    instances: InstancesResource,
) -> impl IntoView {
    let locale = use_locale();
    let me = use_me();
    let LinodeSectionView {
        simulated,
        usable,
        token,
        linode,
        backups,
        graphs,
    } = view;
    let linked = linode.is_some();
    view! {
        {simulated.then(|| view! {
            <p class="notice simulated" id="linode-simulated"><strong>{locale.t("linode-simulated")}</strong> " — " {locale.t("linode-simulated-hint")}</p>
        })}
        {match linode {
            Some(first) => view! { <LiveFacts host_id first/> }.into_any(),
            None => view! { <p class="muted" id="linode-not-linked">{locale.t("linode-not-linked")}</p> }.into_any(),
        }}
        {graphs.map(|graphs| view! { <LinodeGraphs graphs/> }.into_any())}
        <Suspense fallback=|| ()>
            {move || {
                let (token, backups) = (token.clone(), backups.clone());
                Suspend::new(async move {
                    let me = me.await.ok().flatten();
                    let operator = me.as_ref().is_some_and(|m| m.may(Role::Operator));
                    let admin = me.as_ref().is_some_and(|m| m.may(Role::Admin));
                    view! {
                        {(operator && linked).then(|| view! { <PowerButtons host_id/> })}
                        {linked.then(|| view! { <LinodeBackups host_id backups operator admin/> })}
                        {(admin && usable).then(|| view! { <PickInstance host_id link instances open=!linked/> })}
                        {admin.then(|| view! { <TokenForm token save_token open=!usable/> })}
                    }
                })
            }}
        </Suspense>
    }
}

/// The instance and its state, read again every [`REFRESH`] while the page
/// is open: the new reading replaces the old in place (no loading state),
/// and the forms beside it keep what is typed in them. An island: the
/// browser runs it.
#[island]
fn LiveFacts(host_id: i64, first: HostLinodeRow) -> impl IntoView {
    let current = RwSignal::new(first);
    Effect::new(move |_| {
        let read_again = move || {
            leptos::task::spawn_local(async move {
                if let Ok(Some(linode)) = linode_state(host_id).await {
                    current.set(linode);
                }
            })
        };
        if let Ok(handle) = set_interval_with_handle(read_again, REFRESH) {
            on_cleanup(move || handle.clear());
        }
    });
    move || view! { <LinodeFacts linode=current.get()/> }
}

/// The instance's graphs of the last 24 h, drawn by the server (the page
/// reads them without JavaScript), or why Linode gave none.
#[component]
fn LinodeGraphs(graphs: LinodeGraphsView) -> impl IntoView {
    let locale = use_locale();
    let LinodeGraphsView { charts, error } = graphs;
    view! {
        <section class="linode-graphs" id="linode-graphs" aria-labelledby="linode-graphs-heading">
            <h3 id="linode-graphs-heading">{locale.t("linode-graphs")}</h3>
            <p class="muted">{locale.t("linode-graphs-hint")}</p>
            {error.map(|error| view! { <ErrorNotice error/> })}
            <div class="charts">
                {charts.into_iter().map(|chart| view! { <LineChartFigure chart/> }).collect_view()}
            </div>
        </section>
    }
}

/// The instance and its live state.
#[component]
fn LinodeFacts(linode: HostLinodeRow) -> impl IntoView {
    let locale = use_locale();
    let HostLinodeRow {
        linode_id,
        label,
        linked,
        linked_by,
        instance,
        error,
        ..
    } = linode;
    let state = match (&instance, &error) {
        (Some(i), _) => view! {
            <span class=format!("state linode-state {}", i.state) id="linode-state" data-state=i.state.clone()>{state_label(locale, &i.state)}</span>
        }
        .into_any(),
        (None, Some(error)) => view! {
            <span class="state unknown" id="linode-state">{locale.t("linode-state-unreadable")}</span>
            <span class="field-error" role="alert">" — " {error.text(locale)}</span>
        }
        .into_any(),
        (None, None) => view! { <span class="state unknown" id="linode-state">{locale.t("hosts-state-unknown")}</span> }.into_any(),
    };
    let instance = instance.unwrap_or_else(|| InstanceRow {
        id: linode_id,
        label,
        region: String::new(),
        plan: String::new(),
        ipv4: Vec::new(),
        state: String::new(),
        backups_enabled: false,
    });
    view! {
        <dl class="facts" id="linode-facts">
            <dt>{locale.t("linode-state")}</dt><dd>{state}</dd>
            <dt>{locale.t("linode-label")}</dt><dd id="linode-label">{instance.label} " " <span class="muted">"#"{instance.id}</span></dd>
            <dt>{locale.t("linode-region")}</dt><dd>{instance.region}</dd>
            <dt>{locale.t("linode-plan")}</dt><dd>{instance.plan}</dd>
            <dt>{locale.t("linode-ipv4")}</dt><dd><code>{instance.ipv4.join(", ")}</code></dd>
        </dl>
        <p class="muted">{locale.t_with("linode-linked", &[("at", linked.into()), ("by", linked_by.into())])}</p>
    }
}

/// Boot, Shut down (confirmed first: SSH and the site go offline), Reboot;
/// each a form (it posts with or without JavaScript), each opens its
/// job's page.
#[component]
fn PowerButtons(host_id: i64) -> impl IntoView {
    let locale = use_locale();
    let power = form_action::<LinodePower>();
    let power_error = last_error(power.value());
    let button = move |action: &'static str, id: &'static str, class: &'static str, label: String| {
        view! {
            <ActionForm action=power attr:class="inline">
                <input type="hidden" name="host_id" value=host_id/>
                <button type="submit" name="action" value=action id=id class=class>{label}</button>
            </ActionForm>
        }
    };
    view! {
        <div class="actions">
            {button("linode.boot", "linode-boot", "", locale.t("linode-boot"))}
            {button("linode.reboot", "linode-reboot", "", locale.t("linode-reboot"))}
            <Confirm id="linode-shutdown" label=locale.t("linode-shutdown") question=locale.t("linode-shutdown-confirm")>
                {button("linode.shutdown", "confirm-linode-shutdown", "danger", locale.t("linode-shutdown-confirm-yes"))}
            </Confirm>
        </div>
        <FormError error=power_error fields=&[] id="linode-power-error"/>
    }
}

/// The account's instances, read when the page's address asks for them
/// (`?linode-instances`, by admins): `None` when it does not.
type InstancesResource = Resource<Option<Result<Vec<InstanceRow>, AppError>>>;

/// Made with the section (not inside what it renders), so that the list
/// read while the server renders the page is the one the browser finds.
fn account_instances() -> InstancesResource {
    let me = use_me();
    Resource::new(list_asked(), move |asked| async move {
        let admin = me.await.ok().flatten().is_some_and(|m| m.may(Role::Admin));
        match asked && admin {
            true => Some(linode_instances().await),
            false => None,
        }
    })
}

/// The account's instances, listed on demand, and the one to link. Asking
/// for the list is a plain form: the page comes back with
/// `?linode-instances` in its address and the list read from Linode.
#[component]
fn PickInstance(
    host_id: i64,
    link: ServerAction<LinkLinode>,
    instances: InstancesResource,
    open: bool,
) -> impl IntoView {
    let locale = use_locale();
    let asked = list_asked();
    let link_error = last_error(link.value());
    view! {
        <details open=move || open || asked() id="linode-pick">
            <summary>{locale.t("linode-pick")}</summary>
            <form method="get" action="#linode-pick">
                <button type="submit" class="secondary" id="linode-list" name=LIST_ASKED value="1">
                    {locale.t("linode-pick-load")}
                </button>
            </form>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match instances.await {
                        None => ().into_any(),
                        Some(Err(error)) => view! { <ErrorNotice error/> }.into_any(),
                        Some(Ok(instances)) if instances.is_empty() => {
                            view! { <p class="muted">{locale.t("linode-pick-none")}</p> }.into_any()
                        }
                        Some(Ok(instances)) => view! {
                            <ActionForm action=link>
                                <input type="hidden" name="host_id" value=host_id/>
                                <label for="linode-instance">{locale.t("linode-pick")}</label>
                                <select id="linode-instance" name="linode_id" aria-describedby="linode-instance-error">
                                    {instances.into_iter().map(|i| {
                                        let text = format!("{} — {} · {} · {} · {}", i.label, i.region, i.plan, i.ipv4.join(", "), state_label(locale, &i.state));
                                        view! { <option value=i.id>{text}</option> }
                                    }).collect_view()}
                                </select>
                                <FieldError error=link_error field="linode_id" id="linode-instance-error"/>
                                <button type="submit" id="linode-link">{locale.t("linode-link")}</button>
                            </ActionForm>
                        }.into_any(),
                    }
                })}
            </Suspense>
            <FormError error=link_error fields=&["linode_id"]/>
        </details>
    }
}

/// The query parameter that asks the host page for the account's instances.
const LIST_ASKED: &str = "linode-instances";

/// Whether the page's address asks for the account's instances.
fn list_asked() -> impl Fn() -> bool + Copy + Send + Sync + 'static {
    let query = leptos_router::hooks::use_query_map();
    move || query.with(|q| q.get_str(LIST_ASKED).is_some())
}

/// The API token: its state (never its value) and the form that replaces
/// it, checked with the API first.
#[component]
fn TokenForm(token: Option<TokenRow>, save_token: ServerAction<SaveLinodeToken>, open: bool) -> impl IntoView {
    let locale = use_locale();
    let save_error = last_error(save_token.value());
    let saved = move || matches!(save_token.value().get(), Some(Ok(_)));
    let state = match token {
        Some(t) => view! {
            <span id="linode-token-state">{locale.t_with("linode-token-set", &[("at", t.changed.into()), ("by", t.changed_by.into())])}</span>
            <span class="muted">" · " {locale.t("linode-token-scopes")} " : " <code>{t.scopes}</code></span>
        }
        .into_any(),
        None => view! { <span id="linode-token-state">{locale.t("linode-token-unset")}</span> }.into_any(),
    };
    view! {
        <details open=open id="linode-token">
            <summary>{locale.t("linode-token")} " : " {state}</summary>
            <ActionForm action=save_token>
                <label for="linode-token-input">{locale.t("linode-token-new")}</label>
                <input id="linode-token-input" name="token" type="password" autocomplete="off" required
                    aria-describedby="linode-token-hint linode-token-error"/>
                <p class="hint" id="linode-token-hint">{locale.t("linode-token-hint")}</p>
                <FieldError error=save_error field="token" id="linode-token-error"/>
                <FormError error=save_error fields=&["token"] id="linode-token-refused"/>
                <button type="submit" id="linode-token-save">{locale.t("linode-token-save")}</button>
            </ActionForm>
            <Show when=saved>
                <p class="notice success" role="status" id="linode-token-saved">{locale.t("linode-token-saved")}</p>
            </Show>
        </details>
    }
}

/// Linode backups (manual §7.1): the Backup service (turned on by an admin,
/// billed), the automatic backups and the snapshot slot, Take snapshot and
/// Restore for operators.
#[component]
fn LinodeBackups(host_id: i64, backups: Option<LinodeBackupsView>, operator: bool, admin: bool) -> impl IntoView {
    let locale = use_locale();
    view! {
        <section aria-labelledby="linode-backups-heading" id="linode-backups">
            <h3 id="linode-backups-heading">{locale.t("linode-backups")}</h3>
            {match backups {
                Some(list) => view! { <BackupList host_id list operator/> }.into_any(),
                None => view! { <BackupServiceOff host_id admin/> }.into_any(),
            }}
        </section>
    }
}

/// The Backup service is off: said, and for an admin the button that turns
/// it on (after saying it is billed).
#[component]
fn BackupServiceOff(host_id: i64, admin: bool) -> impl IntoView {
    let locale = use_locale();
    let enable = form_action::<EnableLinodeBackups>();
    let enable_error = last_error(enable.value());
    view! {
        <p class="muted" id="linode-backups-off">{locale.t("linode-backups-off")}</p>
        {admin.then(|| view! {
            <Confirm id="linode-backups-enable" class="secondary" label=locale.t("linode-backups-enable")
                question=locale.t("linode-backups-billed")>
                <ActionForm action=enable attr:class="inline">
                    <input type="hidden" name="host_id" value=host_id/>
                    <button type="submit" id="confirm-linode-backups-enable">{locale.t("linode-backups-enable-yes")}</button>
                </ActionForm>
            </Confirm>
            <FormError error=enable_error fields=&[]/>
        })}
    }
}

/// The backups, the snapshot form and each backup's restore.
#[component]
fn BackupList(host_id: i64, list: LinodeBackupsView, operator: bool) -> impl IntoView {
    let locale = use_locale();
    let LinodeBackupsView {
        automatic,
        current,
        in_progress,
        error,
    } = list;
    let rows: Vec<LinodeBackupRow> = automatic.into_iter().chain(current).chain(in_progress).collect();
    view! {
        {error.map(|error| view! { <ErrorNotice error/> })}
        {if rows.is_empty() {
            view! { <p class="muted">{locale.t("linode-backups-none")}</p> }.into_any()
        } else {
            view! {
                <table id="linode-backup-list">
                    <thead><tr>
                        <th scope="col">{locale.t("linode-backup-kind")}</th>
                        <th scope="col">{locale.t("linode-label")}</th>
                        <th scope="col">{locale.t("linode-backup-status")}</th>
                        <th scope="col">{locale.t("linode-backup-created")}</th>
                        <th scope="col">{locale.t("linode-backup-finished")}</th>
                        <th scope="col">{locale.t("linode-backup-size")}</th>
                        <th scope="col"><span class="visually-hidden">{locale.t("linode-restore")}</span></th>
                    </tr></thead>
                    <tbody>
                        {rows.into_iter().map(|b| view! { <BackupRow host_id backup=b operator/> }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        }}
        {operator.then(|| view! { <SnapshotForm host_id/> })}
    }
}

#[component]
fn BackupRow(host_id: i64, backup: LinodeBackupRow, operator: bool) -> impl IntoView {
    let locale = use_locale();
    let kind_key = format!("linode-backup-kind-{}", backup.kind);
    let kind = if locale.has(&kind_key) {
        locale.t(&kind_key)
    } else {
        backup.kind.clone()
    };
    let size = format!("{:.1} Go", backup.size_mb as f64 / 1024.0);
    let restorable = operator && backup.status == "successful";
    view! {
        <tr data-backup=backup.id data-kind=backup.kind.clone()>
            <td>{kind}</td>
            <td>{backup.label.clone()}</td>
            <td class="status">{backup.status.clone()}</td>
            <td>{backup.created.clone()}</td>
            <td>{backup.finished.clone()}</td>
            <td>{size}</td>
            <td>{restorable.then(|| view! { <RestoreForm host_id backup_id=backup.id/> })}</td>
        </tr>
    }
}

/// "Take snapshot": a label; the page says the one slot is replaced.
#[component]
fn SnapshotForm(host_id: i64) -> impl IntoView {
    let locale = use_locale();
    let snapshot = form_action::<TakeLinodeSnapshot>();
    let snapshot_error = last_error(snapshot.value());
    view! {
        <ActionForm action=snapshot attr:id="linode-snapshot-form">
            <input type="hidden" name="host_id" value=host_id/>
            <label for="linode-snapshot-label">{locale.t("linode-snapshot-label")}</label>
            <input id="linode-snapshot-label" name="label" type="text" required maxlength="255"
                aria-describedby="linode-snapshot-hint linode-snapshot-error"/>
            <p class="hint" id="linode-snapshot-hint">{locale.t("linode-snapshot-hint")}</p>
            <FieldError error=snapshot_error field="label" id="linode-snapshot-error"/>
            <FormError error=snapshot_error fields=&["label"]/>
            <button type="submit" id="linode-snapshot">{locale.t("linode-snapshot")}</button>
        </ActionForm>
    }
}

/// "Restore…": what gets overwritten, and the instance's label typed in.
#[component]
fn RestoreForm(host_id: i64, backup_id: i64) -> impl IntoView {
    let locale = use_locale();
    let restore = form_action::<RestoreLinodeBackup>();
    let restore_error = last_error(restore.value());
    let input_id = format!("linode-restore-label-{backup_id}");
    let error_id = format!("linode-restore-error-{backup_id}");
    view! {
        <details class="linode-restore">
            <summary>{locale.t("linode-restore")}</summary>
            <p class="notice error">{locale.t("linode-restore-warning")}</p>
            <ActionForm action=restore>
                <input type="hidden" name="host_id" value=host_id/>
                <input type="hidden" name="backup_id" value=backup_id/>
                <label for=input_id.clone()>{locale.t("linode-restore-type-label")}</label>
                <input id=input_id name="label_confirmation" type="text" required autocomplete="off" aria-describedby=error_id.clone()/>
                <FieldError error=restore_error field="confirmation" id=error_id/>
                <FormError error=restore_error fields=&["confirmation"]/>
                <button type="submit" class="danger">{locale.t("linode-restore-yes")}</button>
            </ActionForm>
        </details>
    }
}
