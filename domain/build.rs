//! `sqlx::migrate!` embeds the migrations at compile time but does not tell
//! cargo to watch their folder: a new migration file must rebuild the crate,
//! or a cached build (CI keeps its target directory) would run without it.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
