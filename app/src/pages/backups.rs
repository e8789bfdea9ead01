//! Backups (manual §7.1): where they are kept, per host its backup health
//! (age of the newest backup, RPO, RTO), "Back up now" (operators) and its
//! schedule with retention (admins), the catalog with each backup's
//! verification, and the restore confirmation page, which says what will be
//! replaced and asks for the database's name typed in.

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use vocabulary::backups::{size_text, BackupStatus, BackupTrigger, VerificationStatus};

use crate::api::{use_me, Role};
use crate::backups_api::{
    backup_detail, backups_overview, BackUpNow, BackupHealthRow, BackupRow, BackupsView, CatalogQuery,
    CatalogTotalsRow, HostBackups, RestoreBackup, SaveBackupSchedule, ScheduleRow, VerifyBackup,
};
use crate::components::{form_action, last_error, ErrorNotice, FieldError, FormError, Loading};
use crate::i18n::{use_locale, Locale, Translate};

/// Whether the signed-in staff member has at least `role` (`None` while
/// not known yet).
fn may(role: Role) -> impl Fn() -> Option<bool> + Send + Sync + Copy + 'static {
    let me = use_me();
    move || me.get().map(|m| m.ok().flatten().is_some_and(|m| m.may(role)))
}

#[component]
pub fn BackupsPage() -> impl IntoView {
    let locale = use_locale();
    let query = use_query_map();
    // A word the address carries that is not a status or an origin shows
    // every backup (the filter's "all").
    let filter = move || {
        query.with(|q| CatalogQuery {
            host: q.get("host").and_then(|h| h.parse().ok()),
            status: q.get("status").and_then(|s| s.parse().ok()),
            trigger: q.get("trigger").and_then(|t| t.parse().ok()),
        })
    };
    let overview = Resource::new(filter, |q| backups_overview(q.host, q.status, q.trigger));
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
        scratch,
        hosts,
        catalog,
        totals,
        restore_role,
    } = view;
    let host_names: Vec<(i64, String)> = hosts.iter().map(|h| (h.host.id, h.host.name.clone())).collect();
    let scratch = match scratch {
        Some(place) => {
            view! { <p>{locale.t("backups-scratch")} " " <code id="backup-scratch">{place}</code></p> }.into_any()
        }
        None => view! { <p class="notice" role="status">{locale.t("backups-no-scratch")}</p> }.into_any(),
    };
    let may_admin = may(Role::Admin);
    let no_hosts = hosts
        .is_empty()
        .then(|| view! { <p class="muted">{locale.t("backups-no-hosts")}</p> });
    view! {
        <p>{locale.t("backups-storage")} " " <code id="backup-storage">{storage}</code></p>
        {scratch}
        <Show when=move || may_admin().unwrap_or(false)>
            <p class="hint">
                {locale.t("backups-key-hint")} " "
                <a rel="external" download="" href="/backups/key.txt" id="export-backup-key">{locale.t("backups-key-export")}</a>
            </p>
        </Show>
        {no_hosts}
        {hosts.into_iter().map(|host| view! { <BackUpHost host/> }).collect_view()}
        <h2>{locale.t("backups-catalog")}</h2>
        <CatalogFilterForm hosts=host_names totals/>
        <BackupCatalog catalog restore_role/>
    }
}

/// One host: its backup health, "Back up now", its schedule, and the
/// warning when the storage sits on the host's own machine.
#[component]
fn BackUpHost(host: HostBackups) -> impl IntoView {
    let locale = use_locale();
    let start = form_action::<BackUpNow>();
    let start_error = last_error(start.value());
    let may_operate = may(Role::Operator);
    let HostBackups {
        host,
        storage_on_host,
        health,
        schedule,
        saved,
    } = host;
    let host_id = host.id;
    let warning = storage_on_host.then(|| {
        view! { <p class="notice error" role="alert">{locale.t("backups-storage-on-host")}</p> }
    });
    view! {
        <section class="card" aria-labelledby=format!("backup-host-{host_id}") data-host=host_id>
            <h2 id=format!("backup-host-{host_id}")>{host.name.clone()}</h2>
            {warning}
            <BackupHealthFacts health/>
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
            <ScheduleSection host_id schedule saved/>
        </section>
    }
}

/// An age in seconds as staff read it: `12 min`, `3 h 05 min`, `2 j 4 h`.
pub(crate) fn age_text(locale: Locale, seconds: i64) -> String {
    let minutes = seconds / 60;
    if minutes < 60 {
        locale.t_with("age-minutes", &[("minutes", minutes.into())])
    } else if minutes < 48 * 60 {
        locale.t_with(
            "age-hours",
            &[
                ("hours", (minutes / 60).into()),
                ("minutes", format!("{:02}", minutes % 60).into()),
            ],
        )
    } else {
        locale.t_with(
            "age-days",
            &[
                ("days", (minutes / 1440).into()),
                ("hours", ((minutes % 1440) / 60).into()),
            ],
        )
    }
}

/// A host's newest backup (a warning past 26 hours, or when there is none),
/// its RPO and RTO.
#[component]
pub(crate) fn BackupHealthFacts(health: BackupHealthRow) -> impl IntoView {
    let locale = use_locale();
    let stale = health.stale();
    let age = |seconds: Option<i64>| match seconds {
        Some(seconds) => locale.t_with("backups-ago", &[("age", age_text(locale, seconds).into())]),
        None => locale.t("backups-never"),
    };
    let rto = match health.rto_ms {
        Some(ms) => format!("{:.1} s", ms as f64 / 1000.0),
        None => locale.t("backups-never"),
    };
    view! {
        <dl class="facts backup-health" data-stale=stale.to_string()>
            <dt>{locale.t("backups-last")}</dt>
            <dd class:warning=stale>
                {age(health.last_backup_age)}
                {stale.then(|| view! { " " <strong role="alert">{locale.t("backups-stale")}</strong> })}
            </dd>
            <dt><abbr title=locale.t("backups-rpo-title")>"RPO"</abbr></dt>
            <dd class="rpo">{age(health.rpo)}</dd>
            <dt><abbr title=locale.t("backups-rto-title")>"RTO"</abbr></dt>
            <dd class="rto">{rto}</dd>
            <dt>{locale.t("backups-last-verification")}</dt>
            <dd>{age(health.last_verification_age)}</dd>
        </dl>
    }
}

/// A host's schedule: what it does and when it next runs; admins change it
/// (cron expression, time zone, retention, verification after each backup).
#[component]
fn ScheduleSection(host_id: i64, schedule: ScheduleRow, saved: bool) -> impl IntoView {
    let locale = use_locale();
    let may_admin = may(Role::Admin);
    let save = form_action::<SaveBackupSchedule>();
    let save_error = last_error(save.value());
    let done = move || matches!(save.value().get(), Some(Ok(_)));
    // The form stays open while nothing is saved, and on the page a form
    // posted without JavaScript comes back to: its notice or its error is
    // inside.
    let answered = move || done() || save_error.get().is_some();
    // The summary follows what was saved last (with JavaScript the page
    // stays; without it, the page comes back rendered anew).
    let current = Memo::new({
        let schedule = schedule.clone();
        move |_| match save.value().get() {
            Some(Ok(saved)) => (saved, true),
            _ => (schedule.clone(), saved),
        }
    });
    let summary = move || {
        let (schedule, saved) = current.get();
        if !saved {
            locale.t("schedule-none")
        } else if !schedule.enabled {
            locale.t("schedule-off")
        } else {
            locale.t_with(
                "schedule-summary",
                &[
                    ("cron", schedule.cron.into()),
                    ("zone", schedule.time_zone.into()),
                    ("next", schedule.next_run.into()),
                ],
            )
        }
    };
    let retention = move || {
        let (schedule, _) = current.get();
        locale.t_with(
            "schedule-retention-summary",
            &[
                ("last", schedule.keep_last.into()),
                ("daily", schedule.keep_daily.into()),
                ("weekly", schedule.keep_weekly.into()),
                ("monthly", schedule.keep_monthly.into()),
            ],
        )
    };
    let id = move |field: &str| format!("schedule-{host_id}-{field}");
    // Copied into the form each time it is drawn (the admin's part shows
    // once the role is known).
    let (cron, zone) = (
        StoredValue::new(schedule.cron.clone()),
        StoredValue::new(schedule.time_zone.clone()),
    );
    let (enabled, verify_after) = (schedule.enabled, schedule.verify_after);
    let keep = [
        schedule.keep_last,
        schedule.keep_daily,
        schedule.keep_weekly,
        schedule.keep_monthly,
    ];
    let number = move |field: &'static str, label: &'static str, value: i32, max: i32| {
        view! {
            <label for=id(field)>{locale.t(label)}</label>
            <input id=id(field) name=format!("schedule[{field}]") type="number" min="0" max=max.to_string() value=value required/>
            <FieldError error=save_error field=field id=format!("{}-error", id(field))/>
        }
    };
    view! {
        <h3>{locale.t("schedule-title")}</h3>
        <p class="schedule-summary">{summary}</p>
        <p class="muted">{retention}</p>
        <Show when=move || may_admin().unwrap_or(false)>
            <details class="schedule-form" open=move || !saved || answered()>
                <summary>{locale.t("schedule-change")}</summary>
                <ActionForm action=save>
                    <input type="hidden" name="host_id" value=host_id/>
                    <label class="check">
                        <input id=id("enabled") name="schedule[enabled]" type="checkbox" checked=enabled/>
                        {locale.t("schedule-enabled")}
                    </label>
                    <label for=id("cron")>{locale.t("schedule-cron")}</label>
                    <input id=id("cron") name="schedule[cron]" type="text" value=cron.get_value() required
                        autocomplete="off" spellcheck="false" aria-describedby=id("cron-hint")/>
                    <p class="hint" id=id("cron-hint")>{locale.t("schedule-cron-hint")}</p>
                    <FieldError error=save_error field="cron" id=id("cron-error")/>
                    <label for=id("time_zone")>{locale.t("schedule-zone")}</label>
                    <input id=id("time_zone") name="schedule[time_zone]" type="text" value=zone.get_value() required
                        autocomplete="off" spellcheck="false"/>
                    <FieldError error=save_error field="time_zone" id=id("time_zone-error")/>
                    <fieldset>
                        <legend>{locale.t("schedule-retention")}</legend>
                        {number("keep_last", "schedule-keep-last", keep[0], 100)}
                        {number("keep_daily", "schedule-keep-daily", keep[1], 366)}
                        {number("keep_weekly", "schedule-keep-weekly", keep[2], 104)}
                        {number("keep_monthly", "schedule-keep-monthly", keep[3], 120)}
                    </fieldset>
                    <label class="check">
                        <input id=id("verify_after") name="schedule[verify_after]" type="checkbox" checked=verify_after/>
                        {locale.t("schedule-verify-after")}
                    </label>
                    <FormError error=save_error fields=&["cron", "time_zone", "keep_last", "keep_daily", "keep_weekly", "keep_monthly"]/>
                    <button type="submit" class="save-schedule">{locale.t("schedule-save")}</button>
                    <Show when=done>
                        <p class="notice" role="status">{locale.t("schedule-saved")}</p>
                    </Show>
                </ActionForm>
            </details>
        </Show>
    }
}

/// The catalog's filter (a plain GET form: it works without JavaScript and
/// the address can be bookmarked) and the totals of what it selects.
#[component]
fn CatalogFilterForm(hosts: Vec<(i64, String)>, totals: CatalogTotalsRow) -> impl IntoView {
    let locale = use_locale();
    let query = use_query_map();
    let chosen = move |name: &str| query.with_untracked(|q| q.get(name).unwrap_or_default());
    let (host, status, trigger) = (chosen("host"), chosen("status"), chosen("trigger"));
    let summary = locale.t_with(
        "backups-totals",
        &[
            ("backups", totals.backups.into()),
            ("succeeded", totals.succeeded.into()),
            ("stored", size_text(totals.stored_bytes.max(0) as u64).into()),
        ],
    );
    view! {
        <form method="get" action="/backups" class="filters" id="catalog-filter">
            <label for="filter-host">{locale.t("backups-host")}</label>
            <select id="filter-host" name="host">
                <option value="">{locale.t("backups-filter-all")}</option>
                {hosts.into_iter().map(|(id, name)| {
                    let selected = host == id.to_string();
                    view! { <option value=id selected=selected>{name}</option> }
                }).collect_view()}
            </select>
            <label for="filter-status">{locale.t("backups-status")}</label>
            <select id="filter-status" name="status">
                <option value="">{locale.t("backups-filter-all")}</option>
                {BackupStatus::ALL.iter().map(|s| view! {
                    <option value=s.as_str() selected=status == s.as_str()>{locale.t(&format!("backup-status-{s}"))}</option>
                }).collect_view()}
            </select>
            <label for="filter-trigger">{locale.t("backups-trigger")}</label>
            <select id="filter-trigger" name="trigger">
                <option value="">{locale.t("backups-filter-all")}</option>
                {BackupTrigger::ALL.iter().map(|t| view! {
                    <option value=t.as_str() selected=trigger == t.as_str()>{locale.t(&format!("backup-trigger-{t}"))}</option>
                }).collect_view()}
            </select>
            <button type="submit" class="secondary">{locale.t("backups-filter")}</button>
        </form>
        <p id="catalog-totals" role="status">{summary}</p>
    }
}

/// The catalog, newest first: every backup with its job and, for
/// operators, the way to restore it.
#[component]
fn BackupCatalog(catalog: Vec<BackupRow>, restore_role: Role) -> impl IntoView {
    let locale = use_locale();
    if catalog.is_empty() {
        return view! { <p class="muted" id="backup-catalog">{locale.t("backups-none")}</p> }.into_any();
    }
    view! {
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
                        <th scope="col">{locale.t("backups-verification")}</th>
                        <th scope="col">{locale.t("backups-actions")}</th>
                    </tr>
                </thead>
                <tbody>
                    {catalog.into_iter().map(|backup| view! { <BackupLine backup restore_role/> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// One catalogued backup: what, when, who, its state and sizes, its job
/// and, by role, the ways to restore and download it.
#[component]
fn BackupLine(backup: BackupRow, restore_role: Role) -> impl IntoView {
    let locale = use_locale();
    let (may_operate, may_admin, may_restore) = (may(Role::Operator), may(Role::Admin), may(restore_role));
    let backup_id = backup.id;
    let verify = form_action::<VerifyBackup>();
    let verify_error = last_error(verify.value());
    let restore = (backup.status == BackupStatus::Succeeded).then(|| {
        view! {
            <Show when=move || may_restore().unwrap_or(false)>
                <a class="button danger" href=format!("/backups/{backup_id}/restore")>
                    {locale.t("backups-restore-link")}
                </a>
            </Show>
            " "
            <Show when=move || may_operate().unwrap_or(false)>
                <ActionForm action=verify attr:class="inline">
                    <input type="hidden" name="backup_id" value=backup_id/>
                    <button type="submit" class="secondary verify-backup">{locale.t("backups-verify")}</button>
                    <FormError error=verify_error fields=&[]/>
                </ActionForm>
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
        .map(|failure| view! { <br/><span class="muted failure">{locale.t(failure.message_key())}</span> });
    let reason = backup
        .reason
        .clone()
        .map(|reason| view! { <br/><span class="muted reason">{locale.t_with("backups-reason-shown", &[("reason", reason.into())])}</span> });
    let verification = match backup.verification.clone() {
        None => locale.t("backups-not-verified").into_any(),
        Some(v) => {
            let text = match v.status {
                VerificationStatus::Succeeded => locale.t_with(
                    "backups-verified",
                    &[
                        ("tables", v.tables.into()),
                        ("rows", v.rows.into()),
                        (
                            "seconds",
                            format!("{:.1}", v.restore_ms.unwrap_or(0) as f64 / 1000.0).into(),
                        ),
                    ],
                ),
                VerificationStatus::Running => locale.t("verification-status-running"),
                VerificationStatus::Failed => {
                    let why = v.failure.map(|f| locale.t(f.message_key())).unwrap_or_default();
                    format!("{} {why}", locale.t("verification-status-failed"))
                }
            };
            match v.job_id {
                Some(job) => view! {
                    <a class=format!("verification-{}", v.status) href=format!("/jobs/{job}")>{text}</a>
                }
                .into_any(),
                None => view! { <span class=format!("verification-{}", v.status)>{text}</span> }.into_any(),
            }
        }
    };
    let sizes = (
        backup.raw_bytes.map(|b| size_text(b as u64)),
        backup.stored_bytes.map(|b| size_text(b as u64)),
    );
    view! {
        <tr data-backup=backup.id>
            <td>{backup.started}</td>
            <td>{backup.host_name}</td>
            <td><code>{backup.database}</code>{reason}</td>
            <td>{locale.t(&format!("backup-trigger-{}", backup.trigger))}</td>
            <td>{backup.actor}</td>
            <td class=format!("status-{}", backup.status)>
                {locale.t(&format!("backup-status-{}", backup.status))}{failure}
            </td>
            <td>{sizes.0}</td>
            <td title=backup.sha256.unwrap_or_default()>{sizes.1}</td>
            <td class="verification">{verification}</td>
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
    let restore = form_action::<RestoreBackup>();
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
                    <label class="check">
                        <input type="checkbox" name="stop_site" id="stop-site"/>
                        {locale.t("restore-stop-site")}
                    </label>
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
