//! Déploiements (manual §6.1, §7.2): for each host, the commit its app runs
//! (its branch, short id, message, date), the branches of its remote with
//! a "Deploy" button each (operators, confirmed), the deploy history with
//! "Return to this version" (operators, confirmed), and how the host
//! deploys (admins). A deploy or a rollback opens its job's page, which
//! shows its steps as they run.

use leptos::prelude::*;

use crate::components::{form_action, last_error, Confirm, ErrorNotice, FieldError, ForRole, FormError, Loading};
use crate::deploys_api::{
    deploys_overview, BranchRow, CommitRow, DeployBranch, DeployRow, DeploySettingsView, HostDeploysView,
    RecordedCommitRow, RollBack, SaveDeploySettings,
};
use crate::i18n::{use_locale, Translate};
use vocabulary::accounts::Role;
use vocabulary::deploys::{BackupBefore, DeployKind};

#[component]
pub fn DeploymentsPage() -> impl IntoView {
    let locale = use_locale();
    let overview = Resource::new(|| (), |_| deploys_overview());
    view! {
        <h1>{locale.t("nav-deployments")}</h1>
        <p class="muted">{locale.t("deploys-intro")}</p>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match overview.await {
                    Ok(hosts) if hosts.is_empty() => view! { <p id="deploys-no-host">{locale.t("deploys-no-host")}</p> }.into_any(),
                    Ok(hosts) => hosts.into_iter().map(|host| view! { <HostDeploys host/> }).collect_view().into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// One host's app: what runs, the branches it could run, its history and
/// its settings.
#[component]
fn HostDeploys(host: HostDeploysView) -> impl IntoView {
    let locale = use_locale();
    let HostDeploysView {
        host_id,
        host_name,
        deployed,
        branch,
        branches,
        error,
        history,
        settings,
    } = host;
    let heading = format!("deploys-host-{host_id}");
    let labelled_by = heading.clone();
    let branch = branch.unwrap_or_else(|| locale.t("deploys-detached"));
    let deployed_id = deployed.as_ref().map(|c| c.id.clone()).unwrap_or_default();
    view! {
        <section class="card wide-card" id=format!("deploys-{host_id}") aria-labelledby=labelled_by>
            <h2 id=heading><a href=format!("/server/{host_id}")>{host_name.clone()}</a></h2>
            <p><a href=format!("/server/{host_id}/environment")>{locale.t("env-link")}</a></p>
            {error.map(|error| view! { <ErrorNotice error/> })}
            {deployed.map(|commit| view! {
                <dl class="facts">
                    <dt>{locale.t("deploys-branch")}</dt><dd class="deployed-branch">{branch}</dd>
                    <dt>{locale.t("deploys-commit")}</dt><dd class="deployed-commit"><CommitText commit/></dd>
                </dl>
            })}
            {(!branches.is_empty()).then(|| view! { <Branches host_id host_name=host_name.clone() branches/> })}
            <History host_name deployed_id history/>
            <Settings host_id settings/>
        </section>
    }
    .into_any()
}

#[component]
fn CommitText(commit: CommitRow) -> impl IntoView {
    view! { <code title=commit.id>{commit.short}</code> " " {commit.subject} " · " <span class="muted">{commit.date} " UTC"</span> }
        .into_any()
}

/// The remote's branches, each deployable (operators) after a confirmation.
#[component]
fn Branches(host_id: i64, host_name: String, branches: Vec<BranchRow>) -> impl IntoView {
    let locale = use_locale();
    let deploy = form_action::<DeployBranch>();
    let error = last_error(deploy.value());
    view! {
        <h3>{locale.t("deploys-branches")}</h3>
        <table class="branches">
            <thead><tr>
                <th scope="col">{locale.t("deploys-col-branch")}</th>
                <th scope="col">{locale.t("deploys-col-commit")}</th>
                <th scope="col">{locale.t("deploys-col-message")}</th>
                <th scope="col">{locale.t("deploys-col-date")}</th>
                <th scope="col"><span class="visually-hidden">{locale.t("deploys-col-actions")}</span></th>
            </tr></thead>
            <tbody>
                {branches.into_iter().enumerate().map(|(row, b)| {
                    let marker = b.deployed.then(|| view! { " " <strong class="badge ok">{locale.t("deploys-deployed")}</strong> });
                    let label = locale.t_with("deploys-deploy-label", &[("branch", b.name.clone().into())]);
                    let question = locale.t_with("deploys-deploy-confirm", &[
                        ("branch", b.name.clone().into()),
                        ("host", host_name.clone().into()),
                    ]);
                    let (branch, question, label) =
                        (StoredValue::new(b.name.clone()), StoredValue::new(question), StoredValue::new(label));
                    view! {
                        <tr data-branch=branch.get_value() class:deployed=b.deployed>
                            <td><code>{b.name}</code>{marker}</td>
                            <td><code title=b.commit.id>{b.commit.short}</code></td>
                            <td>{b.commit.subject}</td>
                            <td>{b.commit.date}</td>
                            <td>
                                <ForRole role=Role::Operator>
                                    <Confirm id=format!("deploy-{host_id}-{row}") class="deploy-branch"
                                        label=locale.t("deploys-deploy") aria_label=label.get_value() question=question.get_value()>
                                        <ActionForm action=deploy>
                                            <input type="hidden" name="host_id" value=host_id/>
                                            <input type="hidden" name="branch" value=branch.get_value()/>
                                            <button type="submit" class="confirm-deploy">{locale.t("deploys-deploy-yes")}</button>
                                        </ActionForm>
                                    </Confirm>
                                </ForRole>
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        <FormError error fields=&[]/>
    }
    .into_any()
}

/// `from → to` of a deploy record.
#[component]
fn FromTo(from: Option<RecordedCommitRow>, to: Option<RecordedCommitRow>) -> impl IntoView {
    let locale = use_locale();
    let commit = move |c: Option<RecordedCommitRow>| {
        match c {
        Some(c) => view! { <code title=format!("{} — {}", c.id, c.subject)>{c.short}</code> " " <span class="muted">{c.subject}</span> }.into_any(),
        None => view! { <span class="muted">{locale.t("deploys-commit-unknown")}</span> }.into_any(),
    }
    };
    view! { {commit(from)} " → " {commit(to)} }.into_any()
}

/// The host's deploys and rollbacks, newest first; each one's version is
/// one confirmed click away (operators).
#[component]
fn History(host_name: String, deployed_id: String, history: Vec<DeployRow>) -> impl IntoView {
    let locale = use_locale();
    let rollback = form_action::<RollBack>();
    let error = last_error(rollback.value());
    if history.is_empty() {
        return view! { <h3>{locale.t("deploys-history")}</h3><p class="muted deploys-no-history">{locale.t("deploys-history-empty")}</p> }.into_any();
    }
    view! {
        <h3>{locale.t("deploys-history")}</h3>
        <table class="deploy-history">
            <thead><tr>
                <th scope="col">{locale.t("deploys-col-when")}</th>
                <th scope="col">{locale.t("deploys-col-kind")}</th>
                <th scope="col">{locale.t("deploys-col-from-to")}</th>
                <th scope="col">{locale.t("deploys-col-by")}</th>
                <th scope="col">{locale.t("deploys-col-outcome")}</th>
                <th scope="col"><span class="visually-hidden">{locale.t("deploys-col-actions")}</span></th>
            </tr></thead>
            <tbody>
                {history.into_iter().map(|d| {
                    let kind = match (d.kind, &d.branch) {
                        (DeployKind::Deploy, Some(branch)) => locale.t_with("deploys-kind-deploy", &[("branch", branch.clone().into())]),
                        (DeployKind::Deploy, None) => locale.t("deploys-kind-deploy-unknown"),
                        (DeployKind::Rollback, _) => locale.t("deploys-kind-rollback"),
                    };
                    let offer = d.rollback_to.clone().filter(|target| target.id != deployed_id).map(|target| {
                        let label = locale.t_with("deploys-rollback-label", &[("commit", target.short.clone().into())]);
                        let question = locale.t_with("deploys-rollback-confirm", &[
                            ("commit", target.short.into()),
                            ("subject", target.subject.into()),
                            ("host", host_name.clone().into()),
                        ]);
                        view! {
                            <ForRole role=Role::Operator>
                                <Confirm id=format!("rollback-{}", d.id) class="secondary rollback"
                                    label=locale.t("deploys-rollback") aria_label=label.clone() question=question.clone()>
                                    <ActionForm action=rollback>
                                        <input type="hidden" name="deploy_id" value=d.id/>
                                        <button type="submit" class="confirm-rollback">{locale.t("deploys-rollback-yes")}</button>
                                    </ActionForm>
                                </Confirm>
                            </ForRole>
                        }
                    });
                    view! {
                        <tr data-deploy=d.id data-status=d.status.as_str()>
                            <td>{d.at}</td>
                            <td>{kind}</td>
                            <td><FromTo from=d.from to=d.to/></td>
                            <td>{d.actor}</td>
                            <td><a href=format!("/jobs/{}", d.job_id)>{locale.t(&format!("job-status-{}", d.status))}</a></td>
                            <td>{offer}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        <FormError error fields=&[]/>
    }
    .into_any()
}

/// How the host deploys: shown to all, changed by admins.
#[component]
fn Settings(host_id: i64, settings: DeploySettingsView) -> impl IntoView {
    let locale = use_locale();
    let changed = match settings.changed.clone() {
        Some((at, by)) => locale.t_with("deploys-settings-changed", &[("date", at.into()), ("by", by.into())]),
        None => locale.t("deploys-settings-default"),
    };
    let gate = locale.t_with(
        "deploys-settings-gate",
        &[
            ("url", settings.health_url_used.clone().into()),
            ("status", (settings.health_status as i64).into()),
            ("seconds", (settings.health_seconds as i64).into()),
        ],
    );
    view! {
        <details class="deploy-settings">
            <summary>{locale.t("deploys-settings")}</summary>
            <p class="muted">{changed}</p>
            <p>{gate}</p>
            <ForRole role=Role::Admin>
                <SettingsForm host_id settings=settings.clone()/>
            </ForRole>
        </details>
    }
    .into_any()
}

/// The settings' form (admins).
#[component]
fn SettingsForm(host_id: i64, settings: DeploySettingsView) -> impl IntoView {
    let locale = use_locale();
    let save = form_action::<SaveDeploySettings>();
    let error = last_error(save.value());
    let saved = move || save.value().get().is_some_and(|r| r.is_ok());
    let id = move |field: &str| format!("deploy-{field}-{host_id}");
    let checkbox = move |field: &'static str, checked: bool| {
        view! {
            <label class="check">
                <input type="checkbox" name=format!("settings[{field}]") id=id(field) checked=checked/>
                {locale.t(&format!("deploys-setting-{}", field.replace('_', "-")))}
            </label>
        }
    };
    let backup_before = settings.backup_before;
    let choice = move |value: BackupBefore| {
        view! {
            <option value=value.as_str() selected=backup_before == value>
                {locale.t(&format!("deploys-backup-{}", value.as_str()))}
            </option>
        }
    };
    view! {
        <ActionForm action=save>
            <input type="hidden" name="host_id" value=host_id/>
            <label for=id("python")>{locale.t("deploys-setting-python")}</label>
            <input id=id("python") name="settings[python]" required value=settings.python aria-describedby=id("python-error")/>
            <FieldError error field="python" id=id("python-error")/>
            <fieldset>
                <legend>{locale.t("deploys-setting-steps")}</legend>
                {checkbox("install_requirements", settings.install_requirements)}
                {checkbox("migrate", settings.migrate)}
                {checkbox("collect_static", settings.collect_static)}
                {checkbox("restart_wsgi", settings.restart_wsgi)}
            </fieldset>
            <label for=id("health_url")>{locale.t("deploys-setting-health-url")}</label>
            <input id=id("health_url") name="settings[health_url]" type="url" value=settings.health_url
                placeholder=settings.health_url_used aria-describedby=id("health-url-error")/>
            <FieldError error field="health_url" id=id("health-url-error")/>
            <label for=id("health_status")>{locale.t("deploys-setting-health-status")}</label>
            <input id=id("health_status") name="settings[health_status]" type="number" min="100" max="599" required value=settings.health_status/>
            <FieldError error field="health_status" id=id("health-status-error")/>
            <label for=id("health_seconds")>{locale.t("deploys-setting-health-seconds")}</label>
            <input id=id("health_seconds") name="settings[health_seconds]" type="number" min="1" max="600" required value=settings.health_seconds/>
            <FieldError error field="health_seconds" id=id("health-seconds-error")/>
            <label for=id("backup_before")>{locale.t("deploys-setting-backup-before")}</label>
            <select id=id("backup_before") name="settings[backup_before]">
                {choice(BackupBefore::WhenMigrationsPending)}
                {choice(BackupBefore::Always)}
                {choice(BackupBefore::Never)}
            </select>
            {checkbox("rollback_on_failure", settings.rollback_on_failure)}
            <FormError error fields=&["python", "health_url", "health_status", "health_seconds"]/>
            <Show when=saved>
                <p class="notice ok" role="status">{locale.t("deploys-settings-saved")}</p>
            </Show>
            <button type="submit">{locale.t("deploys-settings-save")}</button>
        </ActionForm>
    }
    .into_any()
}
