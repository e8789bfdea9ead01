//! Linode API v4 (manual §5.1, §7.1, §8.2): the client the console uses to
//! power its Linode on and off and follow what the API does, written to
//! `../shared/linode-api/openapi-subset.yaml` and the rules of its README.
//!
//! - [`client`]: bearer token, timeouts, retries (429 and 5xx, honouring
//!   `Retry-After` and the rate-limit headers), the `errors` envelope read
//!   into a clear [`LinodeError`], the token's scopes checked.
//! - [`model`]: what the console reads of instances and events; unknown
//!   fields are ignored and an unknown state is kept by its word.

pub mod client;
pub mod model;

pub use client::{LinodeApi, LinodeError, LinodeToken, RetryPolicy, TokenCheck};
pub use model::{Event, EventAction, EventStatus, Instance, InstanceStatus};
