//! A job: what ran (the exact command line), who ran it, its state, and its
//! output, followed live (Server-Sent Events) while it runs. The page keeps
//! the last lines only; the whole output downloads as text.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::api::{use_me, Role};
use crate::components::{last_error, ErrorNotice, FormError, Loading};
use crate::hosts_api::{job_detail, CancelJob, JobView};
use crate::i18n::{use_locale, Translate};
#[cfg(feature = "hydrate")]
use vocabulary::jobs::{JobEvent, OutputLine};
use vocabulary::jobs::{JobFailure, JobStatus, JobStep, StepStatus};

/// Lines kept on the page; the rest is in the download.
const SHOWN_LINES: usize = 1000;

#[component]
pub fn JobPage() -> impl IntoView {
    let params = use_params_map();
    let job_id = move || params.with(|p| p.get("id").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0));
    let detail = Resource::new(job_id, job_detail);
    let me = use_me();
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let operator = me.await.ok().flatten().is_some_and(|m| m.may(Role::Operator));
                match detail.await {
                    Ok(job) => view! { <JobLive job operator/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The job as it runs: its state, steps and output follow the server's
/// events; Cancel while it runs; what to do next when it failed. What it
/// needs comes in its props (`operator`: whether the staff member may run
/// actions), not from the page around it: it is an island, the part of the
/// page the browser runs.
#[island]
fn JobLive(job: JobView, operator: bool) -> impl IntoView {
    let locale = use_locale();
    let job_id = job.summary.id;
    let lines = RwSignal::new(job.tail.clone());
    let status = RwSignal::new((job.summary.status, job.exit_status, job.failure.clone()));
    let steps = RwSignal::new(job.steps.clone());
    let cancel = ServerAction::<CancelJob>::new();
    let cancel_error = last_error(cancel.value());
    let running = move || status.with(|(s, _, _)| !s.finished());
    #[cfg(feature = "hydrate")]
    follow(
        job_id,
        job.tail.last().map(|l| l.seq).unwrap_or(0),
        lines,
        status,
        steps,
        running(),
    );
    let status_text = move || {
        let (s, code, failure) = status.get();
        let mut text = locale.t(&format!("job-status-{s}"));
        if let Some(code) = code {
            text.push_str(&format!(" ({})", locale.t_with("job-exit", &[("code", code.into())])));
        }
        if let Some(failure) = failure {
            text.push_str(" — ");
            text.push_str(&failure_text(locale, &failure));
        }
        text
    };
    let restore_failed = {
        let restoring = job.summary.action == vocabulary::audit::AuditAction::BackupRestore.as_str();
        move || restoring && status.with(|(s, _, _)| s.finished() && *s != JobStatus::Succeeded)
    };
    let deploy_failed = {
        let deploying = job.summary.action == vocabulary::audit::AuditAction::DeployBranch.as_str();
        move || deploying && status.with(|(s, _, _)| s.finished() && *s != JobStatus::Succeeded)
    };
    view! {
        <Show when=restore_failed>
            <SafetyCopyOffer job_id/>
        </Show>
        <h1>{locale.t_with("job-title", &[("id", job_id.into()), ("action", locale.t(&crate::i18n::action_key(&job.summary.action)).into())])}</h1>
        <dl class="facts">
            <dt>{locale.t("job-host")}</dt><dd><a href=format!("/server/{}", job.host_id)>{job.host_name.clone()}</a></dd>
            <dt>{locale.t("job-actor")}</dt><dd>{job.summary.actor.clone()}</dd>
            <dt>{locale.t("job-command")}</dt><dd><code id="command-line">{job.command_line.clone()}</code></dd>
            <dt>{locale.t("job-started")}</dt><dd>{job.started.clone()}</dd>
            <dt>{locale.t("job-state")}</dt><dd id="job-status" role="status" aria-live="polite" data-status=move || status.with(|s| s.0.as_str())>{status_text}</dd>
        </dl>
        <Show when=deploy_failed>
            <RollbackOffer job_id operator/>
        </Show>
        <Show when=move || steps.with(|s| !s.is_empty())>
            <h2 id="steps-heading">{locale.t("job-steps")}</h2>
            <ol class="steps" id="job-steps" aria-labelledby="steps-heading">
                <For each=move || steps.get().into_iter().enumerate() key=|(i, step)| (*i, step.clone()) let:((_, step))>
                    <StepItem step/>
                </For>
            </ol>
        </Show>
        <Show when=running>
            <ActionForm action=cancel>
                <input type="hidden" name="job_id" value=job_id/>
                <button type="submit" class="danger" id="cancel-job">{locale.t("job-cancel")}</button>
            </ActionForm>
        </Show>
        <FormError error=cancel_error fields=&[]/>
        <h2>{locale.t("job-output")}</h2>
        <pre class="output" id="job-output" role="log" aria-live="off" tabindex="0">
            <For each=move || lines.get() key=|line| line.seq let:line>
                <span class:stderr=line.stderr>{line.text}"\n"</span>
            </For>
        </pre>
        <p class="hint">{locale.t_with("job-output-bounded", &[("lines", (SHOWN_LINES as i64).into())])}</p>
        <a href=format!("/jobs/{job_id}/output.txt") rel="external" download="" class="button secondary" id="download-output">
            {locale.t("job-download")}
        </a>
    }
}

/// One step: its name, where it stands, how long it took.
#[component]
fn StepItem(step: JobStep) -> impl IntoView {
    let locale = use_locale();
    let JobStep { name, status, millis } = step;
    let took = millis.map(|ms| format!(" · {:.1} s", ms as f64 / 1000.0));
    let current = (status == StepStatus::Running).then_some("step");
    view! {
        <li data-step=name.as_str() data-status=status.as_str() aria-current=current>
            <span class="step-name">{locale.t(&format!("step-{name}"))}</span>
            " — "
            <span class="step-status">{locale.t(&format!("step-status-{status}"))}</span>
            {took}
        </li>
    }
}

/// Why a job failed, in the staff member's language.
fn failure_text(locale: crate::i18n::Locale, failure: &JobFailure) -> String {
    let arguments: Vec<(&str, fluent_bundle::FluentValue<'static>)> = failure
        .arguments()
        .into_iter()
        .map(|(name, value)| (name, value.into()))
        .collect();
    locale.t_with(failure.message_key(), &arguments)
}

/// Follows a running job's events from the server, appending lines (the
/// last [`SHOWN_LINES`] kept) and updating the status until it finishes.
#[cfg(feature = "hydrate")]
fn follow(
    job_id: i64,
    after: i64,
    lines: RwSignal<Vec<OutputLine>>,
    status: RwSignal<(JobStatus, Option<i32>, Option<JobFailure>)>,
    steps: RwSignal<Vec<JobStep>>,
    running: bool,
) {
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    if !running {
        return;
    }
    let Ok(source) = web_sys::EventSource::new(&format!("/jobs/{job_id}/events?after={after}")) else {
        return;
    };
    let closer = source.clone();
    let on_event = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
        let Some(data) = event.data().as_string() else { return };
        match JobEvent::from_json(&data) {
            Ok(JobEvent::Lines { lines: batch }) => {
                lines.try_update(|lines| {
                    lines.extend(batch);
                    if lines.len() > SHOWN_LINES {
                        lines.drain(..lines.len() - SHOWN_LINES);
                    }
                });
            }
            Ok(JobEvent::Status {
                status: state,
                exit_status,
                failure,
            }) => {
                status.try_set((state, exit_status, failure));
                if state.finished() {
                    closer.close();
                }
            }
            Ok(JobEvent::Steps { steps: now }) => {
                steps.try_set(now);
            }
            // An event this page does not understand (a newer server):
            // the page stops following rather than show it wrong.
            Err(_) => closer.close(),
        }
    });
    for name in ["lines", "status", "steps"] {
        let _ = source.add_event_listener_with_callback(name, on_event.as_ref().unchecked_ref());
    }
    // The listener lives as long as the event source, which closes itself
    // when the job ends.
    on_event.forget();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Locale;

    #[test]
    fn every_job_failure_reads_as_a_sentence_in_french_and_english() {
        for failure in JobFailure::every_kind() {
            for locale in [Locale::Fr, Locale::En] {
                assert!(locale.has(failure.message_key()), "{locale:?} lacks {failure:?}");
            }
        }
        let sudo = JobFailure::SudoWantsPassword {
            line: "deploy ALL=(root) NOPASSWD: /usr/bin/systemctl restart nginx".into(),
        };
        assert_eq!(
            failure_text(Locale::Fr, &sudo),
            "sudo a demandé un mot de passe. Ajoutez cette ligne sur l'hôte \
             (visudo -f /etc/sudoers.d/ocpizza-console) : deploy ALL=(root) NOPASSWD: /usr/bin/systemctl restart nginx"
        );
    }
}

/// A restore that did not succeed left the database as it was; the safety
/// copy it took first is offered, one click from its restore page.
#[component]
fn SafetyCopyOffer(job_id: i64) -> impl IntoView {
    let locale = use_locale();
    let copy = Resource::new(move || job_id, crate::backups_api::restore_safety_copy);
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                copy.await.ok().flatten().map(|backup| view! {
                    <div class="notice" role="status" id="safety-copy-offer">
                        <p>{locale.t_with("restore-failed-safety", &[("backup", backup.id.into()), ("date", backup.started.clone().into())])}</p>
                        <p><a class="button" href=format!("/backups/{}/restore", backup.id)>{locale.t("backups-restore-link")}</a></p>
                    </div>
                })
            })}
        </Suspense>
    }
}

/// A deploy that failed: the version it started from is one click away
/// (operators), unless the job already returned to it.
#[component]
fn RollbackOffer(job_id: i64, operator: bool) -> impl IntoView {
    use crate::deploys_api::{deploys_of_job, RollBack};
    use vocabulary::deploys::DeployKind;
    let locale = use_locale();
    let deploys = Resource::new(move || job_id, deploys_of_job);
    let rollback = ServerAction::<RollBack>::new();
    let error = last_error(rollback.value());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let records = deploys.await.unwrap_or_default();
                // Newest first: a rollback the job made already is the answer.
                let returned = records.first().is_some_and(|d| d.kind == DeployKind::Rollback);
                let deploy = records.into_iter().find(|d| d.kind == DeployKind::Deploy)?;
                let target = deploy.rollback_to.clone()?;
                let text = if returned {
                    locale.t_with("deploys-failed-returned", &[("commit", target.short.clone().into())])
                } else {
                    locale.t_with("deploys-failed-offer", &[("commit", target.short.clone().into()), ("subject", target.subject.clone().into())])
                };
                Some(view! {
                    <div class="notice" role="status" id="rollback-offer">
                        <p>{text}</p>
                        {(!returned && operator).then(|| view! {
                                <ActionForm action=rollback>
                                    <input type="hidden" name="deploy_id" value=deploy.id/>
                                    <button type="submit" id="offer-rollback">{locale.t("deploys-rollback-to-before")}</button>
                                </ActionForm>
                        })}
                        <FormError error fields=&[]/>
                    </div>
                })
            })}
        </Suspense>
    }
}
