//! Déploiements (manual §6.1): for each host, the commit its app runs (its
//! branch, short id, message, date) and the branches of its remote, the
//! one deployed marked. Deploying a branch and rolling back come next.

use leptos::prelude::*;

use crate::components::{ErrorNotice, Loading};
use crate::deploys_api::{deploys_overview, BranchRow, CommitRow, HostDeploysView};
use crate::i18n::{use_locale, Translate};

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
        <p class="notice" role="status">{locale.t("deploys-next")}</p>
    }
}

/// One host's app: what runs, and the branches it could run.
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
    } = host;
    let heading = format!("deploys-host-{host_id}");
    let labelled_by = heading.clone();
    let branch = branch.unwrap_or_else(|| locale.t("deploys-detached"));
    view! {
        <section class="card wide-card" id=format!("deploys-{host_id}") aria-labelledby=labelled_by>
            <h2 id=heading><a href=format!("/server/{host_id}")>{host_name}</a></h2>
            {error.map(|error| view! { <ErrorNotice error/> })}
            {deployed.map(|commit| view! {
                <dl class="facts">
                    <dt>{locale.t("deploys-branch")}</dt><dd class="deployed-branch">{branch}</dd>
                    <dt>{locale.t("deploys-commit")}</dt><dd class="deployed-commit"><CommitText commit/></dd>
                </dl>
            })}
            {(!branches.is_empty()).then(|| view! { <Branches branches/> })}
        </section>
    }
    .into_any()
}

#[component]
fn CommitText(commit: CommitRow) -> impl IntoView {
    view! { <code title=commit.id>{commit.short}</code> " " {commit.subject} " · " <span class="muted">{commit.date} " UTC"</span> }
        .into_any()
}

#[component]
fn Branches(branches: Vec<BranchRow>) -> impl IntoView {
    let locale = use_locale();
    view! {
        <h3>{locale.t("deploys-branches")}</h3>
        <table class="branches">
            <thead><tr>
                <th scope="col">{locale.t("deploys-col-branch")}</th>
                <th scope="col">{locale.t("deploys-col-commit")}</th>
                <th scope="col">{locale.t("deploys-col-message")}</th>
                <th scope="col">{locale.t("deploys-col-date")}</th>
            </tr></thead>
            <tbody>
                {branches.into_iter().map(|b| {
                    let marker = b.deployed.then(|| view! { " " <strong class="badge ok">{locale.t("deploys-deployed")}</strong> });
                    let key = b.name.clone();
                    view! {
                        <tr data-branch=key class:deployed=b.deployed>
                            <td><code>{b.name}</code>{marker}</td>
                            <td><code title=b.commit.id>{b.commit.short}</code></td>
                            <td>{b.commit.subject}</td>
                            <td>{b.commit.date}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
