//! The built-in network drivers, registered in one place, first, under
//! their own names; a plugin's driver is found after them by name (the
//! registry's resolver, set by the daemon's plugin wiring).

pub mod bridge;
pub mod ipam_default;
pub mod singleton;

use berth_core::drivers::{DriverKind, DriverRegistry};
use berth_core::networks::{IpamDriver, NetworkDriver};
use std::sync::Arc;

/// `bridge` (the default), `host` and `null`.
pub fn builtin_networks(bridge: bridge::BridgeDriver) -> DriverRegistry<dyn NetworkDriver> {
    let r = DriverRegistry::<dyn NetworkDriver>::new(DriverKind::Network);
    let builtins: [Arc<dyn NetworkDriver>; 3] = [
        Arc::new(bridge),
        Arc::new(singleton::SingletonDriver::host()),
        Arc::new(singleton::SingletonDriver::null()),
    ];
    for d in builtins {
        r.register(d.name(), d.clone())
            .expect("built-in network drivers have distinct names");
    }
    r
}

/// The IPAM drivers: `default` over `pools`.
pub fn builtin_ipam(pools: Vec<crate::ipam::Pool>) -> DriverRegistry<dyn IpamDriver> {
    let r = DriverRegistry::<dyn IpamDriver>::new(DriverKind::Ipam);
    let d: Arc<dyn IpamDriver> = Arc::new(ipam_default::DefaultIpam::new(pools));
    r.register(d.name(), d.clone())
        .expect("one built-in IPAM driver");
    r
}
