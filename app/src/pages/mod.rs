//! One module per page.

pub mod accounts;
pub mod area;
pub mod audit;
pub mod dashboard;
pub mod my_account;
pub mod sign_in;
