//! The areas of the operations manual whose actions come with the next
//! issues (server power, deployments, monitoring): each
//! page says what it will hold and which section of the manual it serves.

use leptos::prelude::*;

use crate::i18n::{use_locale, Translate};

#[component]
pub fn AreaPage(area: &'static str) -> impl IntoView {
    let locale = use_locale();
    let title = locale.t(&format!("nav-{area}"));
    let body = locale.t(&format!("area-{area}"));
    view! {
        <h1>{title}</h1>
        <p>{body}</p>
        <p class="notice" role="status">{locale.t("area-coming")}</p>
    }
}
