//! `sqlx::migrate!` embeds the migrations at compile time but does not tell
//! cargo to watch their folder: a new migration file must rebuild the crate,
//! or a cached build (CI keeps its target directory) would run without it.
//!
//! `scripts/sqlx-prepare` describes the `query!` macros again by pointing
//! `SQLX_OFFLINE_DIR` at a fresh directory: that change must rebuild the crate
//! too. `SQLX_OFFLINE` switches between the committed `.sqlx/` and a live database.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
    println!("cargo:rerun-if-env-changed=SQLX_OFFLINE_DIR");
    println!("cargo:rerun-if-env-changed=SQLX_OFFLINE");
}
