//! The site's files: sent precompressed as the browser accepts, cached as
//! immutable when their names carry their content's hash, revalidated when
//! they do not, and never touching a session.

use leptos::config::LeptosOptions;
use sqlx::PgPool;

use crate::helpers::*;

const WASM: &[u8] = b"\0asm\x01\0\0\0 the wasm of this build";
const WASM_BR: &[u8] = b"brotli form of the wasm";
const WASM_GZ: &[u8] = b"gzip form of the wasm";

/// A site root as `cargo leptos build --release --precompress` leaves it.
fn built_site(root: &std::path::Path, name: &str) {
    let pkg = root.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join(name), WASM).unwrap();
    std::fs::write(pkg.join(format!("{name}.br")), WASM_BR).unwrap();
    std::fs::write(pkg.join(format!("{name}.gz")), WASM_GZ).unwrap();
}

fn site(root: &std::path::Path, hashed: bool) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("ocpizza-console")
        .site_root(root.to_str().unwrap())
        .site_pkg_dir("pkg")
        .hash_files(hashed)
        .build()
}

#[sqlx::test]
async fn hashed_files_go_out_precompressed_and_cached_as_immutable_without_a_session(pool: PgPool) {
    let root = TempDataDir::new();
    let name = "ocpizza-console.hHMYFhxTnrUfS73TCK_Qdg.wasm";
    built_site(root.path(), name);
    let app = spawn_app_serving(pool, &[], site(root.path(), true)).await;
    let browser = app.browser();
    let url = browser.url(&format!("/pkg/{name}"));

    let brotli = browser
        .client
        .get(&url)
        .header("accept-encoding", "gzip, deflate, br")
        .send()
        .await
        .unwrap();
    assert_eq!(brotli.status(), 200);
    assert_eq!(brotli.headers()["content-encoding"], "br");
    assert_eq!(brotli.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(brotli.headers()["x-content-type-options"], "nosniff");
    assert!(brotli.headers().get("set-cookie").is_none(), "no session for a file");
    assert_eq!(&brotli.bytes().await.unwrap()[..], WASM_BR);

    let gzip = browser
        .client
        .get(&url)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gzip.headers()["content-encoding"], "gzip");
    assert_eq!(&gzip.bytes().await.unwrap()[..], WASM_GZ);

    let plain = browser.client.get(&url).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(&plain.bytes().await.unwrap()[..], WASM);

    let missing = browser.get("/pkg/ocpizza-console.0000.wasm").await;
    assert_eq!(missing.status(), 404);
}

#[sqlx::test]
async fn files_without_a_hash_in_their_name_are_revalidated(pool: PgPool) {
    let root = TempDataDir::new();
    built_site(root.path(), "ocpizza-console.wasm");
    let app = spawn_app_serving(pool, &[], site(root.path(), false)).await;
    let response = app.browser().get("/pkg/ocpizza-console.wasm").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-cache");
}
