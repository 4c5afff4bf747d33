pub mod ipam;
pub mod network;
