//! Text a staff member types that must not leak, such as a password among a
//! server function's arguments: `Debug` shows `****` (server functions'
//! argument types derive `Debug`), and on the server the text is wiped from
//! memory when dropped. On the wire it is a plain string.

use serde::{Deserialize, Serialize};

#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretText(String);

impl SecretText {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for SecretText {
    fn from(text: String) -> Self {
        Self(text)
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("****")
    }
}

#[cfg(feature = "ssr")]
impl Drop for SecretText {
    fn drop(&mut self) {
        use domain::secrets::Zeroize;
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::SecretText;

    #[test]
    fn a_password_argument_never_shows_in_debug() {
        let arguments = crate::api::ChangePassword {
            current_password: SecretText::from("ancien mot de passe secret".to_owned()),
            new_password: SecretText::from("nouveau mot de passe secret".to_owned()),
            confirmation: SecretText::from("nouveau mot de passe secret".to_owned()),
        };
        let shown = format!("{arguments:?}");
        assert!(!shown.contains("mot de passe"), "{shown}");
        assert!(shown.contains("****"), "{shown}");
    }
}
