//! Wire types shared by every berth crate: the Engine API's JSON shapes, the
//! event record, and the closed set of error kinds. No I/O lives here.

pub mod authz;
pub mod container;
pub mod error;
pub mod event;
pub mod image;
pub mod network;
pub mod plugin;
pub mod system;
pub mod timestamp;
pub mod volume;

pub use error::{Error, ErrorKind, Result};
pub use event::{Actor, Event, EventType};
