//! The interface language: French by default, English on request.
