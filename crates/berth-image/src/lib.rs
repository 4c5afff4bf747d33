//! berth-image: the image content store. Configs are content addressed,
//! layers are unpacked once (safely, whiteouts as overlayfs expects) and
//! shared, `docker save`/`load`/`import` archives are read and written as
//! streams, and container root filesystems are overlay snapshots described
//! to the caller rather than mounted here.

pub mod config;
pub mod digest;
pub mod error;
mod import;
pub mod layer;
pub mod load;
pub mod reference;
mod save;
pub mod snapshot;
pub mod store;
pub mod tarsafe;
pub mod unpack;

pub use error::{ImageError, Result};
pub use load::LoadedImage;
pub use reference::Reference;
pub use snapshot::{mount_rootfs, unmount_rootfs, RootfsMount};
pub use store::{Image, ImageStore, RemoveOutcome, UsageCheck};
