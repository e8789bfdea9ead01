//! A job: what ran (the exact command line), who ran it, its state, and its
//! output, followed live (Server-Sent Events) while it runs. The page keeps
//! the last lines only; the whole output downloads as text.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::components::{last_error, ErrorNotice, FormError, Loading};
use crate::hosts_api::{job_detail, CancelJob, JobView};
use crate::i18n::{use_locale, Translate};

/// Lines kept on the page; the rest is in the download.
const SHOWN_LINES: usize = 1000;

#[component]
pub fn JobPage() -> impl IntoView {
    let params = use_params_map();
    let job_id = move || params.with(|p| p.get("id").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0));
    let detail = Resource::new(job_id, job_detail);
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(job) => view! { <JobOutput job/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn JobOutput(job: JobView) -> impl IntoView {
    let locale = use_locale();
    let job_id = job.summary.id;
    let lines = RwSignal::new(job.tail.clone());
    let status = RwSignal::new((job.summary.status.clone(), job.exit_status, job.error.clone()));
    let cancel = ServerAction::<CancelJob>::new();
    let cancel_error = last_error(cancel.value());
    let running = move || status.with(|(s, _, _)| s == "queued" || s == "running");
    #[cfg(feature = "hydrate")]
    follow(
        job_id,
        job.tail.last().map(|l| l.0).unwrap_or(0),
        lines,
        status,
        running(),
    );
    let status_text = move || {
        let (s, code, error) = status.get();
        let mut text = locale.t(&format!("job-status-{s}"));
        if let Some(code) = code {
            text.push_str(&format!(" ({})", locale.t_with("job-exit", &[("code", code.into())])));
        }
        if let Some(error) = error.filter(|e| !e.is_empty()) {
            text.push_str(" — ");
            text.push_str(&error);
        }
        text
    };
    view! {
        <h1>{locale.t_with("job-title", &[("id", job_id.into()), ("action", locale.t(&crate::i18n::action_key(&job.summary.action)).into())])}</h1>
        <dl class="facts">
            <dt>{locale.t("job-host")}</dt><dd><a href=format!("/server/{}", job.host_id)>{job.host_name.clone()}</a></dd>
            <dt>{locale.t("job-actor")}</dt><dd>{job.summary.actor.clone()}</dd>
            <dt>{locale.t("job-command")}</dt><dd><code id="command-line">{job.command_line.clone()}</code></dd>
            <dt>{locale.t("job-started")}</dt><dd>{job.started.clone()}</dd>
            <dt>{locale.t("job-state")}</dt><dd id="job-status" role="status" aria-live="polite" data-status=move || status.with(|s| s.0.clone())>{status_text}</dd>
        </dl>
        <Show when=running>
            <button type="button" class="danger" id="cancel-job" on:click=move |_| { cancel.dispatch(CancelJob { job_id }); }>
                {locale.t("job-cancel")}
            </button>
        </Show>
        <FormError error=cancel_error fields=&[]/>
        <h2>{locale.t("job-output")}</h2>
        <pre class="output" id="job-output" role="log" aria-live="off" tabindex="0">
            <For each=move || lines.get() key=|line| line.0 let:line>
                <span class:stderr=line.1>{line.2}"\n"</span>
            </For>
        </pre>
        <p class="hint">{locale.t_with("job-output-bounded", &[("lines", (SHOWN_LINES as i64).into())])}</p>
        <a href=format!("/jobs/{job_id}/output.txt") rel="external" download="" class="button secondary" id="download-output">
            {locale.t("job-download")}
        </a>
    }
}

/// Follows a running job's events from the server, appending lines (the
/// last [`SHOWN_LINES`] kept) and updating the status until it finishes.
#[cfg(feature = "hydrate")]
fn follow(
    job_id: i64,
    after: i64,
    lines: RwSignal<Vec<(i64, bool, String)>>,
    status: RwSignal<(String, Option<i32>, Option<String>)>,
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
    let on_lines = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
        let Some(data) = event.data().as_string() else { return };
        let batch: Vec<(i64, bool, String)> = data
            .split('\n')
            .filter_map(|entry| {
                let mut parts = entry.splitn(3, '\t');
                let seq = parts.next()?.parse().ok()?;
                let stderr = parts.next()? == "1";
                Some((seq, stderr, parts.next().unwrap_or_default().to_owned()))
            })
            .collect();
        lines.try_update(|lines| {
            lines.extend(batch);
            if lines.len() > SHOWN_LINES {
                lines.drain(..lines.len() - SHOWN_LINES);
            }
        });
    });
    let closer = source.clone();
    let on_status = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
        let Some(data) = event.data().as_string() else { return };
        let mut parts = data.splitn(3, '\t');
        let state = parts.next().unwrap_or_default().to_owned();
        let code = parts.next().and_then(|c| c.parse().ok());
        let error = parts.next().map(str::to_owned).filter(|e| !e.is_empty());
        let finished = !(state == "queued" || state == "running");
        status.try_set((state, code, error));
        if finished {
            closer.close();
        }
    });
    let _ = source.add_event_listener_with_callback("lines", on_lines.as_ref().unchecked_ref());
    let _ = source.add_event_listener_with_callback("status", on_status.as_ref().unchecked_ref());
    // The listeners live as long as the event source, which closes itself
    // when the job ends.
    on_lines.forget();
    on_status.forget();
}
