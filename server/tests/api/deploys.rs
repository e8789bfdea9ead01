//! Déploiements (manual §6.1), on the staging host's real git repository
//! (branches `main`, `release/1.1`, `feature/menu-hiver`): what the app
//! runs and which branches it could run, read over SSH, compared with what
//! git says in that directory; a host whose app directory is not a
//! repository says so while the others still show.

use std::process::Command;

use app::deploys_api::HostDeploysView;
use domain::hosts::KeyChoice;
use sqlx::PgPool;

use crate::helpers::*;
use crate::hosts::{private_key, register, staging};

/// What git answers in the staging app directory, run here.
fn git(args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(staging("STAGING_APP_DIR"))
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[sqlx::test(migrations = "../migrations")]
async fn the_deployments_page_shows_the_commit_each_host_runs_and_the_branches_it_could(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let admin = app.admin().await;
    let host = register(&app, &admin, KeyChoice::paste(private_key())).await;
    app.viewer(&admin).await;
    let viewer = app.browser();
    viewer.sign_in(VIEWER, VIEWER_PASSWORD).await;

    let overview: Vec<HostDeploysView> = viewer
        .post_form("/api/deploys/overview", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(overview.len(), 1);
    let view = &overview[0];
    assert_eq!(view.error, None);
    let head = git(&["rev-parse", "HEAD"]);
    let deployed = view.deployed.as_ref().expect("the deployed commit");
    assert_eq!(deployed.id, head);
    assert_eq!(deployed.short, head[..7]);
    assert_eq!(deployed.subject, git(&["log", "-1", "--format=%s"]));
    assert_eq!(
        view.branch.as_deref(),
        Some(git(&["symbolic-ref", "--short", "HEAD"]).as_str())
    );
    let names: Vec<&str> = view.branches.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["feature/menu-hiver", "main", "release/1.1"]);
    for branch in &view.branches {
        let tip = git(&["rev-parse", &format!("refs/remotes/origin/{}", branch.name)]);
        assert_eq!(branch.commit.id, tip, "{}", branch.name);
        assert_eq!(branch.deployed, tip == head, "{}", branch.name);
    }
    assert!(view.branches.iter().any(|b| b.deployed));

    // The page as the server sends it.
    let html = viewer.get("/deployments").await.text().await.unwrap();
    for expected in [
        "release/1.1",
        "feature/menu-hiver",
        &deployed.short,
        "déployée",
        "Branche déployée",
    ] {
        assert!(html.contains(expected), "{expected:?} missing from the page");
    }

    // An app directory that is not a repository: said, in words.
    sqlx::query("UPDATE hosts SET app_dir = '/tmp' WHERE id = $1")
        .bind(host.id)
        .execute(&pool)
        .await
        .unwrap();
    let overview: Vec<HostDeploysView> = viewer
        .post_form("/api/deploys/overview", &[])
        .await
        .json()
        .await
        .unwrap();
    let error = overview[0].error.as_ref().expect("why it cannot be read");
    assert_eq!(error.message_key(), "error-deploy-not-a-repository");
    assert!(overview[0].deployed.is_none() && overview[0].branches.is_empty());
}
