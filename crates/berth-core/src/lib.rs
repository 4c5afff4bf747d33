//! berth-core: the records berth keeps (containers, images, volumes,
//! networks, plugins), the event bus every subsystem publishes to, and the
//! small pieces of state handling they share. No HTTP, netlink or runtime
//! code lives here.

pub mod atomic;
pub mod authz;
pub mod containers;
pub mod drivers;
pub mod events;
pub mod filters;
pub mod ids;
pub mod lifecycle;
pub mod logs;
pub mod mountinfo;
pub mod networks;
pub mod volumes;

pub use filters::Filters;
