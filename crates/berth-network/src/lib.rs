//! berth-network: container networking.
pub mod dns;
pub mod error;
pub mod firewall;
pub mod ipam;
pub mod link;
pub mod manager;
pub mod netns;
pub mod ports;
pub mod proxy;
pub mod store;
pub use error::{NetError, Result};
pub use manager::{AttachRequest, Attachment, Config, NetworkManager};
