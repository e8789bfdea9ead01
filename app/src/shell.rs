//! The HTML document, the router, and the layout every signed-in page shares:
//! the header (who is signed in, language, sign-out) and the navigation to
//! each area of the operations manual.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::components::{Outlet, ParentRoute, Route, Router, Routes, A};
use leptos_router::{path, SsrMode};

use crate::api::{who_am_i, MeResource, Role};
use crate::i18n::{use_locale, Translate};
use crate::pages::accounts::AccountsPage;
use crate::pages::alerts::AlertsPage;
use crate::pages::audit::AuditPage;
use crate::pages::backups::{BackupsPage, RestorePage};
use crate::pages::dashboard::DashboardPage;
use crate::pages::deployments::DeploymentsPage;
use crate::pages::environment::EnvironmentPage;
use crate::pages::host::HostPage;
use crate::pages::hosts::HostsPage;
use crate::pages::job::JobPage;
use crate::pages::monitoring::MonitoringPage;
use crate::pages::my_account::MyAccountPage;
use crate::pages::second_factor::{SecondFactorRequiredPage, SignInCodePage};
use crate::pages::sign_in::{SetupPage, SignInPage};

pub fn shell(options: LeptosOptions) -> impl IntoView {
    let locale = use_locale();
    view! {
        <!DOCTYPE html>
        <html lang=locale.as_str()>
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <SiteFiles options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The names of the site's files, as cargo-leptos built them: with their
/// content hash when the build named them by content (`hash.txt` beside
/// the server binary).
struct SiteFileNames {
    stylesheet: String,
    script: String,
    wasm: String,
}

impl SiteFileNames {
    /// Read once: the hash file does not change while the console runs.
    /// Leptos' own `HashedStylesheet` and `HydrationScripts` read it (and
    /// look for the binary) at every page: a tenth of the home page's time.
    fn of(options: &LeptosOptions) -> &'static Self {
        static NAMES: std::sync::OnceLock<SiteFileNames> = std::sync::OnceLock::new();
        NAMES.get_or_init(|| {
            let hashes = options
                .hash_files
                .then(|| {
                    let exe = std::env::current_exe().ok()?;
                    std::fs::read_to_string(exe.parent()?.join(options.hash_file.as_ref())).ok()
                })
                .flatten()
                .unwrap_or_default();
            let name = |kind: &str| {
                let hash = hashes.lines().find_map(|line| {
                    let (file, hash) = line.trim().split_once(':')?;
                    (file == kind).then(|| hash.trim().to_owned())
                });
                match hash {
                    Some(hash) => format!("{}.{hash}", options.output_name),
                    None => options.output_name.to_string(),
                }
            };
            let mut wasm = name("wasm");
            // wasm-bindgen's name for a build without cargo-leptos.
            if !options.hash_files && option_env!("LEPTOS_OUTPUT_NAME").is_none() {
                wasm.push_str("_bg");
            }
            SiteFileNames {
                stylesheet: name("css"),
                script: name("js"),
                wasm,
            }
        })
    }
}

/// The stylesheet, and the scripts that load the wasm and hydrate the page:
/// what leptos' `HashedStylesheet` and `HydrationScripts` render (the same
/// elements and loader), with the file names read once.
#[component]
fn SiteFiles(options: LeptosOptions) -> impl IntoView {
    let names = SiteFileNames::of(&options);
    let pkg = options.site_pkg_dir.to_string();
    let nonce = leptos::nonce::use_nonce();
    let loader = format!(
        "{HYDRATION_LOADER}({:?}, {pkg:?}, {:?}, {:?}, false);",
        "", names.script, names.wasm
    );
    view! {
        <link id="site-style" rel="stylesheet" href=format!("/{pkg}/{}.css", names.stylesheet)/>
        <link rel="modulepreload" href=format!("/{pkg}/{}.js", names.script) crossorigin=nonce.clone()/>
        <link
            rel="preload"
            href=format!("/{pkg}/{}.wasm", names.wasm)
            r#as="fetch"
            r#type="application/wasm"
            crossorigin=nonce.as_ref().map(|n| n.to_string()).unwrap_or_default()
        />
        <script type="module" nonce=nonce>{loader}</script>
    }
}

/// leptos' `hydration_script.js` and `island_script.js` (0.8): imports the
/// script, starts the wasm, hydrates each island (`<leptos-island>`, named
/// by its component), then marks the page hydrated.
const HYDRATION_LOADER: &str = r#"(function (root, pkg_path, output_name, wasm_output_name, defer) {
	const hydrate = () =>
		import(`${root}/${pkg_path}/${output_name}.js`)
			.then(mod => {
				mod.default({module_or_path: `${root}/${pkg_path}/${wasm_output_name}.wasm`}).then(async () => {
					mod.hydrate();
					const hydrateIsland = async (el) => {
						const island = mod[el.dataset.component];
						if (island) { await island(el); }
					};
					for (const el of document.querySelectorAll('leptos-island')) {
						await hydrateIsland(el);
					}
					document.body.setAttribute('data-hydrated', 'true');
				});
			});
	if (defer && "requestIdleCallback" in window) {
		// `timeout` is a backstop: a never-idle page would otherwise stay dead
		window.requestIdleCallback(hydrate, { timeout: 2000 });
	} else {
		hydrate();
	}
})
"#;

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let locale = use_locale();
    // The loader marks the page (`body[data-hydrated]`) once the browser has
    // hydrated its islands: tests wait for it, and styles may use it.
    // Every page waits for its data before the first byte (SsrMode::Async),
    // so a refusal found while rendering can still answer 403.
    view! {
        <Title text=locale.t("app-title")/>
        <Router>
            <Routes fallback=|| view! { <NotFound/> }>
                <Route path=path!("/sign-in") view=SignInPage ssr=SsrMode::Async/>
                <Route path=path!("/sign-in/code") view=SignInCodePage ssr=SsrMode::Async/>
                <Route path=path!("/second-factor") view=SecondFactorRequiredPage ssr=SsrMode::Async/>
                <Route path=path!("/setup") view=SetupPage ssr=SsrMode::Async/>
                <ParentRoute path=path!("") view=Layout ssr=SsrMode::Async>
                    <Route path=path!("") view=DashboardPage ssr=SsrMode::Async/>
                    <Route path=path!("audit") view=AuditPage ssr=SsrMode::Async/>
                    <Route path=path!("accounts") view=AccountsPage ssr=SsrMode::Async/>
                    <Route path=path!("account") view=MyAccountPage ssr=SsrMode::Async/>
                    <Route path=path!("server") view=HostsPage ssr=SsrMode::Async/>
                    <Route path=path!("server/:id") view=HostPage ssr=SsrMode::Async/>
                    <Route path=path!("server/:id/environment") view=EnvironmentPage ssr=SsrMode::Async/>
                    <Route path=path!("jobs/:id") view=JobPage ssr=SsrMode::Async/>
                    <Route path=path!("web-app") view=HostsPage ssr=SsrMode::Async/>
                    <Route path=path!("deployments") view=DeploymentsPage ssr=SsrMode::Async/>
                    <Route path=path!("backups") view=BackupsPage ssr=SsrMode::Async/>
                    <Route path=path!("backups/:id/restore") view=RestorePage ssr=SsrMode::Async/>
                    <Route path=path!("monitoring") view=MonitoringPage ssr=SsrMode::Async/>
                    <Route path=path!("alerts") view=AlertsPage ssr=SsrMode::Async/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    let locale = use_locale();
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <main class="auth" id="main">
            <h1>{locale.t("error-not-found")}</h1>
            <p><a href="/">{locale.t("nav-dashboard")}</a></p>
        </main>
    }
}

/// The areas of the manual, in the navigation's order: (path, label key,
/// whether only admins see it).
const AREAS: &[(&str, &str, bool)] = &[
    ("/", "nav-dashboard", false),
    ("/server", "nav-server", false),
    ("/web-app", "nav-web-app", false),
    ("/deployments", "nav-deployments", false),
    ("/backups", "nav-backups", false),
    ("/monitoring", "nav-monitoring", false),
    ("/alerts", "nav-alerts", false),
    ("/audit", "nav-audit", false),
    ("/accounts", "nav-accounts", true),
];

#[component]
fn Layout() -> impl IntoView {
    let locale = use_locale();
    // Fetched once here; the pages inside read it with `use_me`.
    let me: MeResource = Resource::new(|| (), |_| who_am_i());
    provide_context(me);
    view! {
        <a class="skip-link" href="#main">{locale.t("common-skip-to-content")}</a>
        <header class="top">
            <a class="brand" href="/">{locale.t("app-title")}</a>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let me = me.await.ok().flatten();
                    me.map(|me| {
                        view! {
                            <div class="who">
                                <a href="/account" class="me">
                                    <span class="username">{me.username.clone()}</span>
                                    " · "
                                    <span class="role">{locale.t(me.role.label_key())}</span>
                                </a>
                                <LanguageSwitch class="inline"/>
                                <form method="post" action="/sign-out" class="inline">
                                    <button type="submit" class="secondary">{locale.t("nav-sign-out")}</button>
                                </form>
                            </div>
                        }
                    })
                })}
            </Suspense>
        </header>
        <div class="frame">
            <nav class="areas" aria-label=locale.t("nav-label")>
                <ul>
                    {AREAS
                        .iter()
                        .map(|(href, key, admin_only)| {
                            let href = *href;
                            let label = StoredValue::new(locale.t(key));
                            let shown = move || !*admin_only || me.get().and_then(|m| m.ok()).flatten().is_some_and(|m| m.may(Role::Admin));
                            view! {
                                <Show when=shown>
                                    <li><A href=href exact=true>{label.get_value()}</A></li>
                                </Show>
                            }
                        })
                        .collect_view()}
                </ul>
            </nav>
            <main id="main" tabindex="-1">
                <Outlet/>
            </main>
        </div>
    }
}

/// Switches the interface language to the other one: a plain form post,
/// remembered in a cookie, and on the account once signed in. The same
/// switch sits in the header and under the sign-in form.
#[component]
pub(crate) fn LanguageSwitch(
    /// The form's class: `language` (a line of its own) or `inline`.
    #[prop(default = "language")]
    class: &'static str,
) -> impl IntoView {
    let other = use_locale().other();
    let location = leptos_router::hooks::use_location();
    let here = move || {
        let search = location.search.get();
        if search.is_empty() {
            location.pathname.get()
        } else {
            format!("{}?{search}", location.pathname.get())
        }
    };
    view! {
        <form method="post" action="/language" class=class>
            <input type="hidden" name="next" value=here/>
            <button type="submit" name="language" value=other.as_str() class="link" lang=other.as_str()>
                {other.native_name()}
            </button>
        </form>
    }
}
