//! The Supervision page's "CI and errors" section (manual §8.1): the CI
//! state of the commit each host runs, with a link to each build; Sentry's
//! project page and its latest unresolved issues; where both are read
//! from (admins: saved once the API answered, removed after a question).

use leptos::prelude::*;

use crate::components::{form_action, last_error, Confirm, ErrorNotice, FieldError, ForRole, FormError, Loading};
use crate::i18n::{use_locale, Translate};
use crate::integrations_api::{
    integrations, HostCiView, IntegrationView, IntegrationsView, RemoveIntegration, SaveIntegration, SentryIssueView,
};
use vocabulary::accounts::Role;
use vocabulary::supervision::{CiState, IntegrationFailure, IntegrationProvider};

/// A CI state as a badge (its class says its colour).
#[component]
pub fn CiStateBadge(state: CiState) -> impl IntoView {
    let locale = use_locale();
    view! { <span class=format!("state ci-state {state}") data-ci-state=state.as_str()>{locale.t(&format!("ci-state-{state}"))}</span> }
}

#[component]
pub fn IntegrationsSection() -> impl IntoView {
    let locale = use_locale();
    let save_ci = form_action::<SaveIntegration>();
    let save_errors = form_action::<SaveIntegration>();
    let remove = form_action::<RemoveIntegration>();
    // Read with the page: each form posted comes back to a page read anew.
    let report = Resource::new(|| (), |_| integrations());
    view! {
        <section class="card wide-card" id="integrations" aria-labelledby="integrations-heading">
            <h2 id="integrations-heading">{locale.t("integrations")}</h2>
            <p class="muted">{locale.t("integrations-intro")}</p>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match report.await {
                        Ok(report) => {
                            let IntegrationsView { ci, errors, hosts, sentry_link, issues } = report;
                            view! {
                                <CiPart ci=ci.clone() hosts/>
                                <SentryPart errors=errors.clone() link=sentry_link issues/>
                                <ForRole role=Role::Admin>
                                    <IntegrationForm ci=true saved=ci.clone() save=save_ci remove/>
                                    <IntegrationForm ci=false saved=errors.clone() save=save_errors remove/>
                                </ForRole>
                            }
                            .into_any()
                        }
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// Why an API could not be read, said.
fn failure_said(locale: crate::i18n::Locale, failure: IntegrationFailure) -> String {
    locale.t_with(
        "integrations-unreadable",
        &[("reason", locale.t(failure.message_key()).into())],
    )
}

#[component]
fn CiPart(ci: Option<IntegrationView>, hosts: Vec<HostCiView>) -> impl IntoView {
    let locale = use_locale();
    let Some(ci) = ci else {
        return view! { <h3>{locale.t("integrations-ci")}</h3> <p class="muted" id="ci-none">{locale.t("integrations-ci-none")}</p> }.into_any();
    };
    let provider = locale.t(&format!("integration-provider-{}", ci.provider));
    view! {
        <h3>{locale.t("integrations-ci")}</h3>
        <p>{provider} " · " <code>{ci.project.clone()}</code></p>
        <ul class="ci-hosts">
            {hosts.into_iter().map(|host| {
                let commit = host.commit.clone().map(|(short, subject)| view! { " · " <code>{short}</code> " " <span class="muted">{subject}</span> });
                let branch = host.branch.clone().map(|b| view! { " · " {locale.t_with("integrations-branch", &[("branch", b.into())])} });
                let said = match host.report {
                    None => view! { <span class="muted">{locale.t("integrations-ci-no-commit")}</span> }.into_any(),
                    Some(Err(failure)) => view! { <span class="error ci-failure">{failure_said(locale, failure)}</span> }.into_any(),
                    Some(Ok((state, builds))) => view! {
                        <CiStateBadge state/>
                        <ul class="ci-builds">
                            {builds.into_iter().map(|b| {
                                let name = match b.url {
                                    Some(url) => view! { <a href=url rel="noopener noreferrer" target="_blank">{b.name}</a> }.into_any(),
                                    None => view! { <span>{b.name}</span> }.into_any(),
                                };
                                view! { <li>{name} " : " <CiStateBadge state=b.state/> {b.at.map(|at| view! { " " <span class="muted">{at}</span> })}</li> }
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                };
                view! {
                    <li class="ci-host" data-host=host.host_id>
                        <strong>{host.host_name}</strong> {branch} {commit} " : " {said}
                    </li>
                }
            }).collect_view()}
        </ul>
    }
    .into_any()
}

#[component]
fn SentryPart(
    errors: Option<IntegrationView>,
    link: Option<String>,
    issues: Option<Result<Vec<SentryIssueView>, IntegrationFailure>>,
) -> impl IntoView {
    let locale = use_locale();
    let (Some(errors), Some(link)) = (errors, link) else {
        return view! { <h3>{locale.t("integrations-errors")}</h3> <p class="muted" id="sentry-none">{locale.t("integrations-errors-none")}</p> }.into_any();
    };
    let issues = match issues {
        None => view! { <p class="muted">{locale.t("integrations-errors-no-token")}</p> }.into_any(),
        Some(Err(failure)) => view! { <p class="error sentry-failure">{failure_said(locale, failure)}</p> }.into_any(),
        Some(Ok(issues)) if issues.is_empty() => {
            view! { <p class="sentry-clear">{locale.t("integrations-errors-clear")}</p> }.into_any()
        }
        Some(Ok(issues)) => view! {
            <ul class="sentry-issues">
                {issues.into_iter().map(|i| {
                    let class = format!("sentry-issue level-{}", i.level);
                    view! {
                    <li class=class>
                        <a href=i.permalink rel="noopener noreferrer" target="_blank"><code>{i.short_id}</code></a>
                        " " <strong>{i.title}</strong>
                        {i.culprit.map(|c| view! { " · " <span class="muted">{c}</span> })}
                        <br/>
                        <span class="muted">{locale.t_with("integrations-issue-facts", &[
                            ("level", i.level.into()),
                            ("count", i.count.into()),
                            ("users", i.user_count.into()),
                            ("seen", i.last_seen.into()),
                        ])}</span>
                    </li>
                    }
                }).collect_view()}
            </ul>
        }
        .into_any(),
    };
    view! {
        <h3>{locale.t("integrations-errors")}</h3>
        <p><a id="sentry-link" href=link rel="noopener noreferrer" target="_blank">{locale.t_with("integrations-sentry-open", &[("project", errors.project.into())])}</a></p>
        {issues}
    }
    .into_any()
}

/// The form for the CI provider (`ci`) or Sentry: filled with what is
/// saved; the token never shown (left empty, it stays).
#[component]
fn IntegrationForm(
    ci: bool,
    saved: Option<IntegrationView>,
    save: ServerAction<SaveIntegration>,
    remove: ServerAction<RemoveIntegration>,
) -> impl IntoView {
    let locale = use_locale();
    let error = last_error(save.value());
    let prefix = match ci {
        true => "ci",
        false => "sentry",
    };
    let id = move |field: &str| format!("{prefix}-{field}");
    let (legend, project_label, project_hint) = match ci {
        true => ("integrations-ci-settings", "integrations-ci-repository", "owner/name"),
        false => (
            "integrations-errors-settings",
            "integrations-sentry-project",
            "organization/project",
        ),
    };
    let provider = saved.as_ref().map(|s| s.provider);
    let providers: &[IntegrationProvider] = match ci {
        true => &[IntegrationProvider::GithubActions, IntegrationProvider::TravisCi],
        false => &[IntegrationProvider::Sentry],
    };
    let token_set = saved.as_ref().is_some_and(|s| s.token_set);
    let changed = saved.as_ref().map(|s| {
        locale.t_with(
            "integrations-changed",
            &[("at", s.changed.0.clone().into()), ("by", s.changed.1.clone().into())],
        )
    });
    let token_hint = match token_set {
        true => locale.t("integrations-token-kept"),
        false => locale.t("integrations-token-optional"),
    };
    let api_placeholder = providers.iter().map(|p| p.public_api()).collect::<Vec<_>>().join(" · ");
    let removable = saved.is_some();
    let question = match ci {
        true => locale.t("integrations-ci-remove-confirm"),
        false => locale.t("integrations-errors-remove-confirm"),
    };
    view! {
        <ActionForm action=save attr:class=format!("integration-form {prefix}-form")>
            <fieldset>
                <legend>{locale.t(legend)}</legend>
                {changed.map(|c| view! { <p class="muted">{c}</p> })}
                <label for=id("provider")>{locale.t("integrations-provider")}</label>
                <select id=id("provider") name="integration[provider]">
                    {providers.iter().map(|p| view! {
                        <option value=p.as_str() selected=provider == Some(*p)>{locale.t(&format!("integration-provider-{p}"))}</option>
                    }).collect_view()}
                </select>
                <label for=id("api-url")>{locale.t("integrations-api-url")}</label>
                <input id=id("api-url") name="integration[api_url]" type="url" placeholder=api_placeholder
                    value=saved.as_ref().map(|s| s.api_url.clone()).unwrap_or_default() aria-describedby=id("api-url-error")/>
                <FieldError error field="api_url" id=id("api-url-error")/>
                <label for=id("project")>{locale.t(project_label)}</label>
                <input id=id("project") name="integration[project]" required placeholder=project_hint
                    value=saved.as_ref().map(|s| s.project.clone()).unwrap_or_default() aria-describedby=id("project-error")/>
                <FieldError error field="project" id=id("project-error")/>
                <label for=id("token")>{locale.t("integrations-token")}</label>
                <input id=id("token") name="integration[secret_token]" type="password" autocomplete="off"
                    placeholder=token_hint aria-describedby=id("token-error")/>
                <FieldError error field="token" id=id("token-error")/>
                {token_set.then(|| view! {
                    <label class="checkbox"><input type="checkbox" name="integration[remove_token]" value="on"/> " " {locale.t("integrations-remove-token")}</label>
                })}
                <FormError error fields=&["api_url", "project", "token"]/>
                <button type="submit" disabled=move || save.pending().get()>
                    {move || match save.pending().get() {
                        true => locale.t("integrations-checking"),
                        false => locale.t("integrations-save"),
                    }}
                </button>
            </fieldset>
        </ActionForm>
        // Beside the settings' form, not inside it: a form cannot hold another.
        {removable.then(|| view! {
            <Confirm id=id("remove") class="secondary remove-integration" label=locale.t("integrations-remove") question>
                <ActionForm action=remove attr:class="inline">
                    <input type="hidden" name="ci" value=ci.to_string()/>
                    <button type="submit" class="danger confirm-remove">{locale.t("integrations-remove")}</button>
                </ActionForm>
            </Confirm>
        })}
    }
}
