//! The authorization driver trait. Every authorization plugin (legacy or
//! managed) sits behind it, found by name in a
//! [`DriverRegistry`](crate::drivers::DriverRegistry) of kind
//! [`Authz`](crate::drivers::DriverKind::Authz); berth has no built-in one.
//! The API's authorization chain asks each driver in turn.

use async_trait::async_trait;
use berth_types::authz::{Request, Response};
use berth_types::Result;

/// One authorization driver. `Err` is any failure to get a well-formed
/// answer (the chain denies then); a denial is `Ok` with `allow: false`.
#[async_trait]
pub trait AuthzDriver: Send + Sync {
    /// The name the driver is configured by.
    fn name(&self) -> &str;
    /// `AuthZPlugin.AuthZReq`: may the request be handled?
    async fn authz_req(&self, req: &Request) -> Result<Response>;
    /// `AuthZPlugin.AuthZRes`: may the response (its `Response*` fields
    /// set) leave?
    async fn authz_res(&self, req: &Request) -> Result<Response>;
}
