//! Forms posted without JavaScript: the browser is sent back to the page
//! with the refusal and the values typed (never a password), and the page
//! shows both; an accepted form comes back saying so, with no value.

use sqlx::PgPool;

use crate::helpers::{location, spawn_app, ADMIN, ADMIN_PASSWORD};

/// A plain HTML form post, as a browser without JavaScript sends it.
async fn post_without_script(
    browser: &crate::helpers::Browser,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    browser
        .client
        .post(browser.url(path))
        .header("origin", browser.url(""))
        .header("referer", browser.url("/accounts"))
        .header("accept", "text/html,application/xhtml+xml")
        .form(form)
        .send()
        .await
        .expect("the console answers")
}

#[sqlx::test(migrations = "../migrations")]
async fn a_refused_account_form_comes_back_with_its_error_and_values_but_not_the_password(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.admin().await;
    let browser = app.browser();
    browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    let form = [("username", "lucie.caisse"), ("role", "viewer"), ("password", "court")];

    let refused = post_without_script(&browser, "/api/accounts/create", &form).await;
    assert!(refused.status().is_redirection(), "{}", refused.status());
    let back = location(&refused);
    assert!(back.contains("__err="), "{back}");
    assert!(back.contains("__typed.username=lucie.caisse"), "{back}");
    assert!(back.contains("__typed.role=viewer"), "{back}");
    assert!(
        !back.contains("court"),
        "the password never goes into an address: {back}"
    );

    let page = browser.client.get(&back).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Le mot de passe doit compter au moins 12 caractères."));
    assert!(page.contains(r#"value="lucie.caisse""#));

    let form = [
        ("username", "lucie.caisse"),
        ("role", "viewer"),
        ("password", "quatre saisons au four"),
    ];
    let accepted = post_without_script(&browser, "/api/accounts/create", &form).await;
    let back = location(&accepted);
    assert!(back.contains("__done="), "{back}");
    assert!(!back.contains("__typed") && !back.contains("__err"), "{back}");
    let page = browser.client.get(&back).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"id="account-created""#));
}
