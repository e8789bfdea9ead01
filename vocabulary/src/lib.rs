//! The console's shared vocabulary: every value that crosses between the
//! server and the browser as a word (a role, a job status, an audit outcome,
//! an audit action, the interface language, a live-output event) is defined
//! here once, and both sides compile the same definition.
//!
//! A word that is not one of the known values is an error
//! ([`UnknownWord`]), never a silent default. Enums whose stored or wire form
//! is a plain word are declared with [`words!`], which gives them `ALL`,
//! `as_str`, `FromStr`, `Display` and serde in that form.

pub mod accounts;
pub mod audit;
pub mod backups;
pub mod deploys;
pub mod jobs;
pub mod locale;
pub mod supervision;

/// A word that is not one of a vocabulary's known values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind}: {word:?}")]
pub struct UnknownWord {
    /// What was being read (`"role"`, `"job status"`, ...).
    pub kind: &'static str,
    /// The word as received, for the log.
    pub word: String,
}

/// Declares an enum whose every variant is written as one fixed word.
///
/// ```
/// vocabulary::words! {
///     /// A colour.
///     pub enum Colour as "colour" {
///         Red = "red",
///         Green = "green",
///     }
/// }
/// assert_eq!("red".parse::<Colour>(), Ok(Colour::Red));
/// assert!("blue".parse::<Colour>().is_err());
/// assert_eq!(Colour::Green.as_str(), "green");
/// ```
#[macro_export]
macro_rules! words {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident as $kind:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $word:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word this value is stored and sent as.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }
        }

        impl ::core::str::FromStr for $name {
            type Err = $crate::UnknownWord;

            fn from_str(word: &str) -> ::core::result::Result<Self, Self::Err> {
                match word {
                    $($word => Ok($name::$variant),)+
                    _ => Err($crate::UnknownWord { kind: $kind, word: word.to_owned() }),
                }
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl $crate::__serde::Serialize for $name {
            fn serialize<S: $crate::__serde::Serializer>(&self, serializer: S) -> ::core::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> $crate::__serde::Deserialize<'de> for $name {
            fn deserialize<D: $crate::__serde::Deserializer<'de>>(deserializer: D) -> ::core::result::Result<Self, D::Error> {
                let word = <::std::borrow::Cow<'de, str> as $crate::__serde::Deserialize>::deserialize(deserializer)?;
                word.parse().map_err(<D::Error as $crate::__serde::de::Error>::custom)
            }
        }
    };
}

#[doc(hidden)]
pub use serde as __serde;
