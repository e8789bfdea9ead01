//! The browser side: hydrates the page the server rendered, in the language
//! the server rendered it in (read from `<html lang>`).

use app::i18n::Locale;
use app::App;
use leptos::prelude::*;

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    let locale = document()
        .document_element()
        .and_then(|html| html.get_attribute("lang"))
        .and_then(|word| word.parse::<Locale>().ok())
        .unwrap_or_default();
    leptos::mount::hydrate_body(move || {
        provide_context(locale);
        view! { <App/> }
    });
}
