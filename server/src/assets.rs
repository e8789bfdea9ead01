//! The site's own files. `/pkg` holds the wasm, its JavaScript and the
//! stylesheet under content-hashed names (cargo-leptos' `hash-files`), each
//! beside its brotli and gzip forms (`--precompress`): they are sent
//! compressed as the browser accepts, and cached for a year as immutable,
//! so a second visit downloads nothing. Without hashed names (a build
//! without cargo-leptos) the browser revalidates them instead. These
//! answers carry no session: they are served before the session layer.

use std::path::Path;

use axum::Router;
use http::{header, HeaderValue};
use leptos::config::LeptosOptions;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// Cache policy of a hashed file: its name changes with its content.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Cache policy of a file whose name stays the same from build to build.
pub const REVALIDATE: &str = "no-cache";

/// Whether the build beside this binary named its files by content
/// (cargo-leptos writes `hash.txt` next to the server binary).
pub fn hashed_build(options: &LeptosOptions) -> bool {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join(options.hash_file.as_ref())))
        .is_some_and(|path| path.exists())
}

/// `/pkg/*`, precompressed and cached as the build allows.
pub fn router<S: Clone + Send + Sync + 'static>(options: &LeptosOptions) -> Router<S> {
    let pkg = Path::new(options.site_root.as_ref()).join(options.site_pkg_dir.as_ref());
    let cache = if options.hash_files { IMMUTABLE } else { REVALIDATE };
    let files = ServeDir::new(pkg).precompressed_br().precompressed_gzip();
    Router::new()
        .nest_service(&format!("/{}", options.site_pkg_dir), files)
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
}
