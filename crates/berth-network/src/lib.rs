//! berth-network: container networking, as dockerd does it.
//!
//! - [`ipam`]: subnets, dockerd's default pools (or daemon.json
//!   `default-address-pools`), per-network address allocation.
//! - [`store`]: network and sandbox records, atomic JSON under
//!   `<data-root>/network/`.
//! - [`netns`]: one namespace per container, pinned at
//!   `<exec-root>/netns/<id>` so it outlives the daemon; the runtime joins
//!   it through `SpecOptions.netns_path`.
//! - [`link`]: rtnetlink — the bridge (`berth0`, user networks
//!   `berth-<id>`), a veth pair per endpoint, addresses, MTU, default route.
//! - [`firewall`]: berth's own nftables table (`table ip berth`), or its
//!   own `BERTH-*` iptables chains where nft is missing, rewritten whole
//!   from the state on every change: masquerade, DNAT of published ports,
//!   isolation of `--internal` networks.
//! - [`proxy`]: published ports in userland. The daemon binds each host
//!   port itself, which reserves it (a port in use is a clear 409), and
//!   the forwarding loops carry the host's own connections, including
//!   those to 127.0.0.1 (berth does not set `route_localnet`, so
//!   loopback-bound ports are proxy-only and get no nft rule), and all
//!   traffic under `--iptables=false`.
//! - [`proxy_process`]: those loops run in `berthd proxy`, one detached
//!   process per container with published ports, which inherits the bound
//!   sockets, outlives the daemon (SIGTERM or `kill -9`) as the container
//!   does, is adopted by the next daemon through its pid file and is
//!   stopped at teardown. With the DNAT rules, which the daemon leaves in
//!   place while containers run, a published port never stops answering
//!   across a daemon restart.
//! - [`dns`]: the embedded DNS server of user networks on 127.0.0.11:53
//!   inside each container's namespace (UDP; TCP is not served).
//! - [`drivers`]: the built-in network drivers `bridge`, `host` and
//!   `null` (berth-core's `NetworkDriver`) and the built-in IPAM driver
//!   `default` (`IpamDriver`), registered first in their registries; a
//!   plugin is found after them by name.
//! - [`manager`]: everything above behind one lock, with events; it asks
//!   the registries for a network's driver and pool and never names a
//!   driver itself.
//!
//! Limits, for now: IPv4 only; a host port range publishes its first port;
//! `network connect` needs a running container.
pub mod dns;
pub mod drivers;
pub mod error;
pub mod firewall;
pub mod ipam;
pub mod link;
pub mod manager;
pub mod netns;
pub mod ports;
pub mod proxy;
pub mod proxy_process;
pub mod store;
pub use error::{NetError, Result};
pub use manager::{AttachRequest, Attachment, Config, NetworkManager};
