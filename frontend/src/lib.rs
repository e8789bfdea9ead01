//! The browser side: hydrates the page the server rendered, in the language
//! the server rendered it in (read from `<html lang>`).

use app::i18n::Locale;
use leptos::prelude::*;

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    let locale = document()
        .document_element()
        .and_then(|html| html.get_attribute("lang"))
        .and_then(|word| word.parse::<Locale>().ok())
        .unwrap_or_default();
    // Only the islands run here; they find the language in the root's context.
    leptos::mount::hydrate_islands();
    provide_context(locale);
}
