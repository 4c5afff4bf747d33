//! berth-network: container networking.
pub mod dns;
pub mod error;
pub mod firewall;
pub mod proxy;
pub mod ipam;
pub mod link;
pub mod netns;
pub use error::{NetError, Result};
