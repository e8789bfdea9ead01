//! A host's environment variables (manual §4.1.1): the manual's set and any
//! other, each plain (its value shown) or secret ("défini · modifié le … par
//! …", never the value); what is not applied yet; set, generate
//! (`DJANGO_SECRET_KEY`), remove; apply (the host's `.env` written, Gunicorn
//! restarted: a job, confirmed) and import (the host's file taken,
//! confirmed); the drift of the host's file; the versions.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::components::{form_action, last_error, Confirm, ErrorNotice, FieldError, ForRole, FormError, Loading};
use crate::env_api::{
    env_drift, env_overview, ApplyEnv, EnvKindChoice, EnvVariableRow, EnvVersionRow, EnvView, GenerateSecretKey,
    ImportEnv, RemoveEnvVariable, SetEnvVariable,
};
use crate::i18n::{use_locale, Translate};
use vocabulary::accounts::Role;

#[component]
pub fn EnvironmentPage() -> impl IntoView {
    let params = use_params_map();
    let host_id = move || params.with(|p| p.get("id").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0));
    let set = form_action::<SetEnvVariable>();
    let generate = form_action::<GenerateSecretKey>();
    let remove = form_action::<RemoveEnvVariable>();
    let import = form_action::<ImportEnv>();
    // Read again after each change.
    let overview = Resource::new(
        move || {
            (
                host_id(),
                set.version().get(),
                generate.version().get(),
                remove.version().get(),
                import.version().get(),
            )
        },
        |(host_id, ..)| env_overview(host_id),
    );
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match overview.await {
                    Ok(env) => view! { <Environment env set generate remove import/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Environment(
    env: EnvView,
    set: ServerAction<SetEnvVariable>,
    generate: ServerAction<GenerateSecretKey>,
    remove: ServerAction<RemoveEnvVariable>,
    import: ServerAction<ImportEnv>,
) -> impl IntoView {
    let locale = use_locale();
    let EnvView {
        host_id,
        host_name,
        app_dir,
        variables,
        removed_not_applied,
        versions,
        public_site,
    } = env;
    let pending: Vec<String> = variables
        .iter()
        .filter(|v| v.set && v.not_applied)
        .map(|v| v.name.clone())
        .chain(removed_not_applied)
        .collect();
    let remove_error = last_error(remove.value());
    let generate_error = last_error(generate.value());
    view! {
        <p><a href=format!("/server/{host_id}")>{host_name.clone()}</a> " · " <a href="/deployments">{locale.t("nav-deployments")}</a></p>
        <h1>{locale.t_with("env-title", &[("host", host_name.clone().into())])}</h1>
        <p class="muted">{locale.t_with("env-intro", &[("path", format!("{app_dir}/.env").into())])}</p>
        {public_site.then(|| view! { <p class="notice" id="env-public">{locale.t("env-public-site")}</p> })}
        <Drift host_id/>
        {(!pending.is_empty()).then(|| view! {
            <p class="notice" role="status" id="env-pending">{locale.t_with("env-pending", &[("names", pending.join(", ").into())])}</p>
        })}
        <table class="env-variables" id="env-variables">
            <thead><tr>
                <th scope="col">{locale.t("env-col-name")}</th>
                <th scope="col">{locale.t("env-col-kind")}</th>
                <th scope="col">{locale.t("env-col-value")}</th>
                <th scope="col"><span class="visually-hidden">{locale.t("deploys-col-actions")}</span></th>
            </tr></thead>
            <tbody>
                {variables.into_iter().map(|v| view! { <VariableRow host_id variable=v remove generate/> }).collect_view()}
            </tbody>
        </table>
        <FormError error=remove_error fields=&[]/>
        <FormError error=generate_error fields=&[]/>
        <ForRole role=Role::Operator>
            <SetForm host_id set/>
            <ApplyAndImport host_id host_name=host_name.clone() import/>
        </ForRole>
        <Versions versions/>
    }
    .into_any()
}

/// One variable: its value when plain, "set" when secret, never a secret.
#[component]
fn VariableRow(
    host_id: i64,
    variable: EnvVariableRow,
    remove: ServerAction<RemoveEnvVariable>,
    generate: ServerAction<GenerateSecretKey>,
) -> impl IntoView {
    let locale = use_locale();
    let EnvVariableRow {
        name,
        secret,
        plain_value,
        set,
        changed,
        not_applied,
        ..
    } = variable;
    let kind = locale.t(if secret { "env-secret" } else { "env-plain" });
    let changed = changed.map(|(at, by)| locale.t_with("env-changed", &[("date", at.into()), ("by", by.into())]));
    let value = match (set, secret, plain_value) {
        (false, _, _) => view! { <span class="muted">{locale.t("env-not-set")}</span> }.into_any(),
        (true, true, _) => {
            view! { <span class="env-set">{locale.t("env-set")}</span> " · " <span class="muted">{changed}</span> }
                .into_any()
        }
        (true, false, value) => {
            view! { <code>{value.unwrap_or_default()}</code> " · " <span class="muted">{changed}</span> }.into_any()
        }
    };
    let generated = (name == "DJANGO_SECRET_KEY").then(|| {
        view! {
            <ForRole role=Role::Operator>
                <ActionForm action=generate attr:class="inline">
                    <input type="hidden" name="host_id" value=host_id/>
                    <button type="submit" class="secondary" id="generate-secret-key">{locale.t("env-generate")}</button>
                </ActionForm>
            </ForRole>
        }
    });
    // Removing asks first: the value leaves the file at the next apply.
    let removable = set.then(|| {
        let label = locale.t_with("env-remove-label", &[("name", name.clone().into())]);
        let question = locale.t_with("env-remove-confirm", &[("name", name.clone().into())]);
        let (name, question, label) = (
            StoredValue::new(name.clone()),
            StoredValue::new(question),
            StoredValue::new(label),
        );
        view! {
            <ForRole role=Role::Operator>
                <Confirm id=format!("env-remove-{}", name.get_value()) class="secondary env-remove"
                    label=locale.t("env-remove") aria_label=label.get_value() question=question.get_value()>
                    <ActionForm action=remove attr:class="inline">
                        <input type="hidden" name="host_id" value=host_id/>
                        <input type="hidden" name="name" value=name.get_value()/>
                        <button type="submit" class="env-remove-yes">{locale.t("env-remove-yes")}</button>
                    </ActionForm>
                </Confirm>
            </ForRole>
        }
    });
    let marker = not_applied.then(|| view! { " " <strong class="badge error">{locale.t("env-not-applied")}</strong> });
    let row = name.clone();
    view! {
        <tr data-name=row data-secret=secret.to_string()>
            <th scope="row"><code>{name}</code>{marker}</th>
            <td>{kind}</td>
            <td class="env-value">{value}</td>
            <td>{generated}{removable}</td>
        </tr>
    }
}

/// Sets a variable: name, value, kind, and the confirmation `ENV` needs on
/// a public site.
#[component]
fn SetForm(host_id: i64, set: ServerAction<SetEnvVariable>) -> impl IntoView {
    let locale = use_locale();
    let error = last_error(set.value());
    let saved = move || set.value().get().is_some_and(|r| r.is_ok());
    view! {
        <section class="card" aria-labelledby="env-set-heading">
            <h2 id="env-set-heading">{locale.t("env-set-title")}</h2>
            <ActionForm action=set>
                <input type="hidden" name="host_id" value=host_id/>
                <label for="env-name">{locale.t("env-col-name")}</label>
                <input id="env-name" name="name" required pattern="[A-Z_][A-Z0-9_]*" autocomplete="off"
                    aria-describedby="env-name-hint env-name-error"/>
                <p class="hint" id="env-name-hint">{locale.t("env-name-hint")}</p>
                <FieldError error field="name" id="env-name-error"/>
                <label for="env-value">{locale.t("env-col-value")}</label>
                <input id="env-value" name="secret_value" type="password" autocomplete="new-password"
                    aria-describedby="env-value-hint env-value-error"/>
                <p class="hint" id="env-value-hint">{locale.t("env-value-hint")}</p>
                <FieldError error field="value" id="env-value-error"/>
                <label for="env-kind">{locale.t("env-col-kind")}</label>
                <select id="env-kind" name="kind">
                    <option value=EnvKindChoice::ByName.as_str() selected=true>{locale.t("env-kind-by-name")}</option>
                    <option value=EnvKindChoice::Secret.as_str()>{locale.t("env-secret")}</option>
                    <option value=EnvKindChoice::Plain.as_str()>{locale.t("env-plain")}</option>
                </select>
                <label class="check"><input type="checkbox" name="confirm_not_production" id="env-confirm"/>{locale.t("env-confirm-not-production")}</label>
                <FormError error fields=&["name", "value"]/>
                <Show when=saved>
                    <p class="notice ok" role="status" id="env-saved">{locale.t("env-saved")}</p>
                </Show>
                <button type="submit" id="env-save">{locale.t("env-save")}</button>
            </ActionForm>
        </section>
    }
}

/// Apply (confirmed; opens the job) and import (confirmed).
#[component]
fn ApplyAndImport(host_id: i64, host_name: String, import: ServerAction<ImportEnv>) -> impl IntoView {
    let locale = use_locale();
    let apply = form_action::<ApplyEnv>();
    let apply_error = last_error(apply.value());
    let import_error = last_error(import.value());
    let imported = move || {
        import.value().get().and_then(|r| r.ok()).map(|(names, unreadable)| {
            locale.t_with(
                "env-imported",
                &[
                    ("names", names.join(", ").into()),
                    ("unreadable", (unreadable as i64).into()),
                ],
            )
        })
    };
    view! {
        <section class="card" aria-labelledby="env-apply-heading">
            <h2 id="env-apply-heading">{locale.t("env-apply-title")}</h2>
            <p>{locale.t("env-apply-intro")}</p>
            <div class="actions">
                <Confirm id="env-apply" class="" label=locale.t("env-apply")
                    question=locale.t_with("env-apply-confirm", &[("host", host_name.clone().into())])>
                    <ActionForm action=apply attr:class="inline">
                        <input type="hidden" name="host_id" value=host_id/>
                        <button type="submit" id="env-apply-yes">{locale.t("env-confirm-yes")}</button>
                    </ActionForm>
                </Confirm>
                <Confirm id="env-import" class="secondary" label=locale.t("env-import")
                    question=locale.t_with("env-import-confirm", &[("host", host_name.clone().into())])>
                    <ActionForm action=import attr:class="inline">
                        <input type="hidden" name="host_id" value=host_id/>
                        <button type="submit" id="env-import-yes">{locale.t("env-confirm-yes")}</button>
                    </ActionForm>
                </Confirm>
            </div>
            <p class="notice ok" role="status" id="env-imported">{imported}</p>
            <FormError error=apply_error fields=&[]/>
            <FormError error=import_error fields=&[]/>
        </section>
    }
}

/// The host's file compared with the last version (read over SSH).
#[component]
pub fn Drift(host_id: i64) -> impl IntoView {
    let locale = use_locale();
    let drift = Resource::new(move || host_id, env_drift);
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match drift.await {
                    Ok(Some(d)) if d.file_missing => Some(view! {
                        <p class="notice error" role="status" id="env-drift">{locale.t("env-drift-missing")}</p>
                    }.into_any()),
                    Ok(Some(d)) if !d.names.is_empty() => Some(view! {
                        <p class="notice error" role="status" id="env-drift">
                            {locale.t_with("env-drift", &[("names", d.names.join(", ").into())])}
                            " " <a href=format!("/server/{host_id}/environment")>{locale.t("env-drift-link")}</a>
                        </p>
                    }.into_any()),
                    Ok(_) => None,
                    Err(error) => Some(view! { <ErrorNotice error/> }.into_any()),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Versions(versions: Vec<EnvVersionRow>) -> impl IntoView {
    let locale = use_locale();
    if versions.is_empty() {
        return view! { <h2>{locale.t("env-versions")}</h2><p class="muted">{locale.t("env-versions-empty")}</p> }
            .into_any();
    }
    view! {
        <h2>{locale.t("env-versions")}</h2>
        <table class="env-versions" id="env-versions">
            <thead><tr>
                <th scope="col">{locale.t("deploys-col-when")}</th>
                <th scope="col">{locale.t("deploys-col-kind")}</th>
                <th scope="col">{locale.t("deploys-col-by")}</th>
                <th scope="col">{locale.t("env-col-changed")}</th>
            </tr></thead>
            <tbody>
                {versions.into_iter().map(|v| {
                    let kind = locale.t(&format!("env-version-{}", v.kind));
                    let kind = match (v.job_id, v.written) {
                        (Some(job), true) => view! { <a href=format!("/jobs/{job}")>{kind}</a> }.into_any(),
                        (Some(job), false) => view! { <a href=format!("/jobs/{job}")>{kind}</a> " · " <span class="muted">{locale.t("env-version-not-written")}</span> }.into_any(),
                        (None, _) => view! { {kind} }.into_any(),
                    };
                    view! {
                        <tr>
                            <td>{v.at}</td>
                            <td>{kind}</td>
                            <td>{v.by}</td>
                            <td>{v.changed_names.join(", ")}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
