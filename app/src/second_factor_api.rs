//! The second factor (TOTP): an account enrols from its own page (a QR code
//! and the secret in text, confirmed by a first code; ten recovery codes
//! shown once) and turns it off with its password and a code. Admins choose
//! who must have one and remove a lost one.
//!
//! The account's own functions answer under `/api/second-factor/`: the only
//! server functions an account sent to enrol may call until it has.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::api::{require, utc, Role};
use crate::errors::AppError;
use crate::secret_text::SecretText;
pub use vocabulary::accounts::SecondFactorPolicy;

/// The path prefix of the server functions an account sent to enrol may
/// call (its own second factor's).
pub const OWN_ENDPOINTS: &str = "/api/second-factor/";

/// What an authenticator app needs: the QR code (SVG drawn on the server)
/// and the same secret as text. Shown only to its account, until confirmed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolmentView {
    pub qr_svg: String,
    /// Base32, in groups of four for typing.
    pub secret: String,
}

impl std::fmt::Debug for EnrolmentView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnrolmentView(****)")
    }
}

#[cfg(feature = "ssr")]
impl TryFrom<domain::totp::Enrolment> for EnrolmentView {
    type Error = AppError;

    fn try_from(enrolment: domain::totp::Enrolment) -> Result<Self, AppError> {
        use qrcode::render::svg;
        let code = qrcode::QrCode::with_error_correction_level(enrolment.uri.as_bytes(), qrcode::EcLevel::M)
            .map_err(|error| domain::DomainError::Internal(format!("QR code: {error}")))?;
        let qr_svg = code
            .render::<svg::Color>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build();
        let secret = enrolment
            .secret
            .as_bytes()
            .chunks(4)
            .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Self { qr_svg, secret })
    }
}

/// The signed-in account's second factor, as its page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecondFactorView {
    /// On since (UTC, `YYYY-MM-DD HH:MM:SS`).
    pub enrolled_at: Option<String>,
    /// An enrolment begun, not yet confirmed.
    pub pending: Option<EnrolmentView>,
    pub recovery_left: i64,
    /// The admins require one of this account.
    pub required: bool,
}

/// The signed-in account's second factor.
#[server(endpoint = "second-factor/status")]
pub async fn second_factor_status() -> Result<SecondFactorView, AppError> {
    let caller = require(Role::Viewer).await?;
    let factors = &caller.console.second_factors;
    let status = factors.status(&caller.operator).await?;
    let pending = match factors.pending(&caller.operator).await? {
        Some(enrolment) => Some(enrolment.try_into()?),
        None => None,
    };
    Ok(SecondFactorView {
        enrolled_at: status.enrolled_at.map(utc),
        pending,
        recovery_left: status.recovery_left,
        required: status.required,
    })
}

/// Begins the signed-in account's enrolment (a new secret each time).
#[server(endpoint = "second-factor/begin")]
pub async fn begin_second_factor() -> Result<EnrolmentView, AppError> {
    let caller = require(Role::Viewer).await?;
    caller.console.second_factors.begin(&caller.operator).await?.try_into()
}

/// Confirms the enrolment with a first code from the app; answers the
/// recovery codes, shown once.
#[server(endpoint = "second-factor/confirm")]
pub async fn confirm_second_factor(code: SecretText) -> Result<RecoveryCodesView, AppError> {
    let caller = require(Role::Viewer).await?;
    let (me, from) = (&caller.operator, &caller.provenance);
    let codes = caller.console.second_factors.confirm(me, from, code.expose()).await?;
    Ok(RecoveryCodesView(codes.0.iter().map(|c| c.to_string()).collect()))
}

/// Turns the signed-in account's second factor off: its password and a
/// code (or a recovery code).
#[server(endpoint = "second-factor/disable")]
pub async fn disable_second_factor(current_password: SecretText, code: SecretText) -> Result<(), AppError> {
    let caller = require(Role::Viewer).await?;
    let (me, from) = (&caller.operator, &caller.provenance);
    caller
        .console
        .disable_second_factor(me, from, current_password.expose(), code.expose())
        .await?;
    Ok(())
}

/// Recovery codes just made: shown once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryCodesView(pub Vec<String>);

impl std::fmt::Debug for RecoveryCodesView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecoveryCodesView({} × ****)", self.0.len())
    }
}

/// Who must have a second factor, and which accounts have one (admins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecondFactorAccounts {
    pub policy: SecondFactorPolicy,
    /// The accounts with a second factor on: id and name.
    pub enrolled: Vec<(i64, String)>,
}

#[server(endpoint = "accounts/second-factors")]
pub async fn second_factors_overview() -> Result<SecondFactorAccounts, AppError> {
    let caller = require(Role::Admin).await?;
    let factors = &caller.console.second_factors;
    let enrolled = factors.enrolled_accounts().await?;
    let accounts = caller.console.accounts.list(&caller.operator).await?;
    Ok(SecondFactorAccounts {
        policy: factors.policy().await?,
        enrolled: accounts
            .into_iter()
            .filter(|a| enrolled.contains(&a.id))
            .map(|a| (a.id, a.username))
            .collect(),
    })
}

/// Changes who must have a second factor (admins). Answers whether the
/// admin who chose must now enrol (required of admins, and they have none).
#[server(endpoint = "accounts/second-factor-policy")]
pub async fn set_second_factor_policy(policy: SecondFactorPolicy) -> Result<bool, AppError> {
    let caller = require(Role::Admin).await?;
    let (by, from) = (&caller.operator, &caller.provenance);
    let factors = &caller.console.second_factors;
    factors.set_policy(by, from, policy).await?;
    let must_enrol = factors.must_enrol(by).await?;
    if must_enrol {
        leptos_axum::redirect("/second-factor");
    }
    Ok(must_enrol)
}

/// Removes an account's second factor (admins: a lost phone).
#[server(endpoint = "accounts/second-factor-reset")]
pub async fn reset_second_factor(account_id: i64) -> Result<(), AppError> {
    let caller = require(Role::Admin).await?;
    let (by, from) = (&caller.operator, &caller.provenance);
    caller.console.second_factors.reset(by, from, account_id).await?;
    Ok(())
}
