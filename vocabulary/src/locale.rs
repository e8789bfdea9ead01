//! The interface language: French by default, English on request. The same
//! word is stored on the account, kept in the `lang` cookie, written in
//! `<html lang>` and read back by the browser.

crate::words! {
    /// The language the console speaks to a staff member.
    #[derive(Default)]
    pub enum Locale as "language" {
        #[default]
        Fr = "fr",
        En = "en",
    }
}

impl Locale {
    /// The other language: what the language switch offers.
    pub fn other(self) -> Self {
        match self {
            Locale::Fr => Locale::En,
            Locale::En => Locale::Fr,
        }
    }

    /// The language's own name, as the switch shows it (`Français`).
    pub fn native_name(self) -> &'static str {
        match self {
            Locale::Fr => "Français",
            Locale::En => "English",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Locale;

    #[test]
    fn french_is_the_default_and_an_unknown_language_is_refused() {
        assert_eq!(Locale::default(), Locale::Fr);
        assert_eq!("en".parse::<Locale>(), Ok(Locale::En));
        assert!("de".parse::<Locale>().is_err());
        assert!("".parse::<Locale>().is_err());
    }

    #[test]
    fn the_switch_offers_the_other_language() {
        for locale in Locale::ALL {
            assert_ne!(locale.other(), *locale);
            assert_eq!(locale.other().other(), *locale);
        }
    }
}
