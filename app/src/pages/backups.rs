//! Backups (manual §7.1): where they are kept, "Back up now" per host
//! (operators), the catalog, and the restore confirmation page, which says
//! what will be replaced and asks for the database's name typed in.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use vocabulary::backups::{size_text, BackupStatus};

use crate::api::{use_me, Role};
use crate::backups_api::{backup_detail, backups_overview, BackUpNow, BackupRow, BackupsView, RestoreBackup};
use crate::components::{last_error, ErrorNotice, FieldError, FormError, Loading};
use crate::hosts_api::HostSummary;
use crate::i18n::{use_locale, Translate};

/// Whether the signed-in staff member has at least `role` (`None` while
/// not known yet).
fn may(role: Role) -> impl Fn() -> Option<bool> + Send + Sync + Copy + 'static {
    let me = use_me();
    move || me.get().map(|m| m.ok().flatten().is_some_and(|m| m.may(role)))
}

#[component]
pub fn BackupsPage() -> impl IntoView {
    let locale = use_locale();
    let overview = Resource::new(|| (), |_| backups_overview());
    view! {
        <h1>{locale.t("nav-backups")}</h1>
        <p>{locale.t("backups-intro")}</p>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match overview.await {
                    Ok(view) => view! { <BackupsSections view/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn BackupsSections(view: BackupsView) -> impl IntoView {
    let locale = use_locale();
    let BackupsView {
        storage,
        hosts,
        catalog,
    } = view;
    let may_admin = may(Role::Admin);
    let no_hosts = hosts
        .is_empty()
        .then(|| view! { <p class="muted">{locale.t("backups-no-hosts")}</p> });
    view! {
        <p>{locale.t("backups-storage")} " " <code id="backup-storage">{storage}</code></p>
        <Show when=move || may_admin().unwrap_or(false)>
            <p class="hint">
                {locale.t("backups-key-hint")} " "
                <a rel="external" download="" href="/backups/key.txt" id="export-backup-key">{locale.t("backups-key-export")}</a>
            </p>
        </Show>
        {no_hosts}
        {hosts.into_iter().map(|(host, on_host)| view! { <BackUpHost host on_host/> }).collect_view()}
        <BackupCatalog catalog/>
    }
}

/// One host's "Back up now", with the warning when the storage sits on
/// the host's own machine.
#[component]
fn BackUpHost(host: HostSummary, on_host: bool) -> impl IntoView {
    let locale = use_locale();
    let start = ServerAction::<BackUpNow>::new();
    let start_error = last_error(start.value());
    let may_operate = may(Role::Operator);
    let host_id = host.id;
    let warning = on_host.then(|| {
        view! { <p class="notice error" role="alert">{locale.t("backups-storage-on-host")}</p> }
    });
    view! {
        <section class="card" aria-labelledby=format!("backup-host-{host_id}")>
            <h2 id=format!("backup-host-{host_id}")>{host.name.clone()}</h2>
            {warning}
            <Show when=move || may_operate().unwrap_or(false)>
                <ActionForm action=start>
                    <input type="hidden" name="host_id" value=host_id/>
                    <label for=format!("backup-reason-{host_id}")>{locale.t("backups-reason")}</label>
                    <input id=format!("backup-reason-{host_id}") name="reason" type="text" maxlength="200" autocomplete="off"/>
                    <FieldError error=start_error field="reason" id=format!("backup-reason-{host_id}-error")/>
                    <FormError error=start_error fields=&["reason"]/>
                    <button type="submit" class="backup-now">{locale.t("backups-now")}</button>
                </ActionForm>
            </Show>
        </section>
    }
}

/// The catalog, newest first: every backup with its job and, for
/// operators, the way to restore it.
#[component]
fn BackupCatalog(catalog: Vec<BackupRow>) -> impl IntoView {
    let locale = use_locale();
    if catalog.is_empty() {
        return view! {
            <h2>{locale.t("backups-catalog")}</h2>
            <p class="muted" id="backup-catalog">{locale.t("backups-none")}</p>
        }
        .into_any();
    }
    view! {
        <h2>{locale.t("backups-catalog")}</h2>
        <div class="table-wrap">
            <table id="backup-catalog">
                <thead>
                    <tr>
                        <th scope="col">{locale.t("backups-started")}</th>
                        <th scope="col">{locale.t("backups-host")}</th>
                        <th scope="col">{locale.t("backups-database")}</th>
                        <th scope="col">{locale.t("backups-trigger")}</th>
                        <th scope="col">{locale.t("backups-actor")}</th>
                        <th scope="col">{locale.t("backups-status")}</th>
                        <th scope="col">{locale.t("backups-raw")}</th>
                        <th scope="col">{locale.t("backups-stored")}</th>
                        <th scope="col">{locale.t("backups-actions")}</th>
                    </tr>
                </thead>
                <tbody>
                    {catalog.into_iter().map(|backup| view! { <BackupLine backup/> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// One catalogued backup: what, when, who, its state and sizes, its job
/// and, by role, the ways to restore and download it.
#[component]
fn BackupLine(backup: BackupRow) -> impl IntoView {
    let locale = use_locale();
    let (may_operate, may_admin) = (may(Role::Operator), may(Role::Admin));
    let backup_id = backup.id;
    let restore = (backup.status == BackupStatus::Succeeded).then(|| {
        view! {
            <Show when=move || may_operate().unwrap_or(false)>
                <a class="button danger" href=format!("/backups/{backup_id}/restore")>
                    {locale.t("backups-restore-link")}
                </a>
            </Show>
            <Show when=move || may_admin().unwrap_or(false)>
                " "
                <a class="button secondary" rel="external" download=""
                    href=format!("/backups/{backup_id}/download")>{locale.t("backups-download")}</a>
            </Show>
        }
        .into_any()
    });
    let job = backup.job_id.map(|job| {
        view! { <a href=format!("/jobs/{job}")>{locale.t_with("backups-job", &[("job", job.into())])}</a> }
    });
    let failure = backup
        .failure
        .clone()
        .map(|code| view! { <span class="muted">" (" {code} ")"</span> });
    let sizes = (
        backup.raw_bytes.map(|b| size_text(b as u64)),
        backup.stored_bytes.map(|b| size_text(b as u64)),
    );
    view! {
        <tr data-backup=backup.id>
            <td>{backup.started}</td>
            <td>{backup.host_name}</td>
            <td><code>{backup.database}</code></td>
            <td>{locale.t(&format!("backup-trigger-{}", backup.trigger))}</td>
            <td>{backup.actor}</td>
            <td class=format!("status-{}", backup.status)>
                {locale.t(&format!("backup-status-{}", backup.status))}{failure}
            </td>
            <td>{sizes.0}</td>
            <td title=backup.sha256.unwrap_or_default()>{sizes.1}</td>
            <td class="row-actions">{job} " " {restore}</td>
        </tr>
    }
    .into_any()
}

/// The restore confirmation: what will be replaced, and the database's
/// name typed in.
#[component]
pub fn RestorePage() -> impl IntoView {
    let params = use_params_map();
    let backup_id = move || params.with(|p| p.get("id").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0));
    let detail = Resource::new(backup_id, backup_detail);
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(backup) => view! { <RestoreConfirmation backup/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn RestoreConfirmation(backup: BackupRow) -> impl IntoView {
    let locale = use_locale();
    let restore = ServerAction::<RestoreBackup>::new();
    let restore_error = last_error(restore.value());
    let size = backup.raw_bytes.map(|b| size_text(b as u64)).unwrap_or_default();
    let warning = locale.t_with(
        "restore-warning",
        &[
            ("host", backup.host_name.clone().into()),
            ("database", backup.database.clone().into()),
            ("date", backup.started.clone().into()),
            ("size", size.clone().into()),
        ],
    );
    let confirm_label = locale.t_with("restore-confirm-label", &[("database", backup.database.clone().into())]);
    let restorable = backup.status == BackupStatus::Succeeded;
    view! {
        <h1>{locale.t("restore-title")}</h1>
        <p class="notice error" role="alert" id="restore-warning">{warning}</p>
        <dl class="facts">
            <dt>{locale.t("backups-host")}</dt><dd>{backup.host_name.clone()}</dd>
            <dt>{locale.t("backups-database")}</dt><dd><code>{backup.database.clone()}</code></dd>
            <dt>{locale.t("backups-started")}</dt><dd>{backup.started.clone()}</dd>
            <dt>{locale.t("backups-raw")}</dt><dd>{size}</dd>
            <dt>{locale.t("backups-checksum")}</dt><dd><code class="wrap">{backup.sha256.clone().unwrap_or_default()}</code></dd>
        </dl>
        {if restorable {
            view! {
                <ActionForm action=restore>
                    <input type="hidden" name="backup_id" value=backup.id/>
                    <label for="database-confirmation">{confirm_label}</label>
                    <input id="database-confirmation" name="database_confirmation" type="text" required
                        autocomplete="off" spellcheck="false" aria-describedby="database-confirmation-error"/>
                    <FieldError error=restore_error field="confirmation" id="database-confirmation-error"/>
                    <FormError error=restore_error fields=&["confirmation"]/>
                    <button type="submit" class="danger" id="restore-submit">{locale.t("restore-submit")}</button>
                    " "
                    <a href="/backups">{locale.t("common-cancel")}</a>
                </ActionForm>
            }
            .into_any()
        } else {
            view! { <p class="notice" role="status">{locale.t("error-backup-not-restorable")}</p> }.into_any()
        }}
    }
}
