//! The daemon's answers to `/version` and `/info`: host facts read once at
//! start-up, counts read live from the subsystems.

use crate::daemon::Daemon;
use berth_api::system::SystemBackend;
use berth_api::ApiResult;
use berth_types::system::{
    ComponentVersion, Info, Platform, Version, API_VERSION, MIN_API_VERSION,
};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Facts about the host that do not change while the daemon runs.
#[derive(Debug, Clone)]
pub struct HostFacts {
    pub hostname: String,
    pub kernel_version: String,
    pub operating_system: String,
    pub os_version: String,
    pub architecture: String,
    pub ncpu: u64,
    pub mem_total: u64,
    pub cgroup_version: String,
    pub memory_limit: bool,
    pub pids_limit: bool,
    pub cpu_cfs: bool,
    pub cpu_shares: bool,
    pub cpuset: bool,
    pub swap_limit: bool,
}

impl HostFacts {
    pub fn read() -> HostFacts {
        let uts = nix::sys::utsname::uname().ok();
        let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
            uts.as_ref()
                .map(|u| f(u).to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        let os_field = |key: &str| {
            os_release
                .lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .map(|v| v.trim_matches('"').to_string())
                .unwrap_or_default()
        };
        let mem_total = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .map(|kb| kb * 1024)
            .unwrap_or(0);
        let unified = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let cg = |v1: &str, v2_controller: &str| {
            if unified {
                std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
                    .map(|c| c.split_whitespace().any(|x| x == v2_controller))
                    .unwrap_or(false)
            } else {
                std::path::Path::new("/sys/fs/cgroup").join(v1).exists()
            }
        };
        let ncpu = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0))
            .ok()
            .map(|set| {
                (0..nix::sched::CpuSet::count())
                    .filter(|&i| set.is_set(i).unwrap_or(false))
                    .count() as u64
            })
            .filter(|&n| n > 0)
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get() as u64)
                    .unwrap_or(1)
            });
        HostFacts {
            hostname: field(|u| u.nodename()),
            kernel_version: field(|u| u.release()),
            operating_system: os_field("PRETTY_NAME"),
            os_version: os_field("VERSION_ID"),
            architecture: field(|u| u.machine()),
            ncpu,
            mem_total,
            cgroup_version: if unified { "2" } else { "1" }.into(),
            memory_limit: cg("memory/memory.limit_in_bytes", "memory"),
            swap_limit: cg("memory/memory.memsw.limit_in_bytes", "memory"),
            pids_limit: cg("pids", "pids"),
            cpu_cfs: cg("cpu/cpu.cfs_quota_us", "cpu"),
            cpu_shares: cg("cpu/cpu.shares", "cpu"),
            cpuset: cg("cpuset", "cpuset"),
        }
    }
}

fn go_arch(machine: &str) -> &str {
    match machine {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

pub fn build_version(facts: &HostFacts) -> Version {
    let version = env!("CARGO_PKG_VERSION").to_string();
    let commit = option_env!("BERTH_GIT_COMMIT")
        .unwrap_or("unknown")
        .to_string();
    let mut details = BTreeMap::new();
    details.insert("ApiVersion".to_string(), API_VERSION.to_string());
    details.insert("MinAPIVersion".to_string(), MIN_API_VERSION.to_string());
    details.insert("GitCommit".to_string(), commit.clone());
    details.insert("Os".to_string(), "linux".to_string());
    details.insert("Arch".to_string(), go_arch(&facts.architecture).to_string());
    details.insert("KernelVersion".to_string(), facts.kernel_version.clone());
    details.insert("Experimental".to_string(), "false".to_string());
    Version {
        platform: Platform {
            name: format!("berth {version}"),
        },
        components: vec![ComponentVersion {
            name: "Engine".into(),
            version: version.clone(),
            details,
        }],
        version,
        api_version: API_VERSION.into(),
        min_api_version: MIN_API_VERSION.into(),
        git_commit: commit,
        go_version: String::new(),
        os: "linux".into(),
        arch: go_arch(&facts.architecture).into(),
        kernel_version: facts.kernel_version.clone(),
        build_time: String::new(),
    }
}

fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as u64)
        .unwrap_or(0)
}

impl SystemBackend for Daemon {
    fn version(&self) -> Version {
        let mut v = self.version.clone();
        if self.experimental() {
            if let Some(c) = v.components.first_mut() {
                c.details.insert("Experimental".into(), "true".into());
            }
        }
        v
    }

    fn disk_usage(&self) -> ApiResult<serde_json::Value> {
        let images = self.images.disk_usage();
        let containers = self.containers.disk_usage();
        Ok(serde_json::json!({
            "LayersSize": images.layers_size,
            "Images": images.images,
            "Containers": containers,
            "Volumes": [],
            "BuildCache": [],
        }))
    }

    fn experimental(&self) -> bool {
        self.config.read().unwrap().experimental
    }

    fn info(&self) -> ApiResult<Info> {
        let cfg = self.config.read().unwrap().clone();
        let f = &self.facts;
        let counts = self.container_counts();
        let now = time::OffsetDateTime::now_utc();
        Ok(Info {
            id: self.id.clone(),
            containers: counts.total,
            containers_running: counts.running,
            containers_paused: counts.paused,
            containers_stopped: counts.stopped,
            images: self.image_count(),
            driver: self.storage_driver(),
            driver_status: Vec::new(),
            plugins: self.plugins_info(),
            memory_limit: f.memory_limit,
            swap_limit: f.swap_limit,
            cpu_cfs_period: f.cpu_cfs,
            cpu_cfs_quota: f.cpu_cfs,
            cpu_shares: f.cpu_shares,
            cpu_set: f.cpuset,
            pids_limit: f.pids_limit,
            ipv4_forwarding: std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
                .map(|s| s.trim() == "1")
                .unwrap_or(false),
            debug: cfg.debug,
            nfd: open_fds(),
            n_goroutines: 0,
            system_time: now
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            logging_driver: self.logging_driver(),
            cgroup_driver: "cgroupfs".into(),
            cgroup_version: f.cgroup_version.clone(),
            n_events_listener: self.events.listener_count() as u64,
            kernel_version: f.kernel_version.clone(),
            operating_system: f.operating_system.clone(),
            os_version: f.os_version.clone(),
            os_type: "linux".into(),
            architecture: f.architecture.clone(),
            ncpu: f.ncpu,
            mem_total: f.mem_total,
            index_server_address: "https://index.docker.io/v1/".into(),
            docker_root_dir: cfg.data_root.display().to_string(),
            name: f.hostname.clone(),
            labels: cfg.labels.clone(),
            experimental_build: cfg.experimental,
            server_version: self.version.version.clone(),
            runtimes: self.runtimes_info(),
            default_runtime: self.default_runtime_name(),
            live_restore_enabled: true,
            security_options: self.security_options(),
            swarm: Default::default(),
            warnings: self.warnings(),
        })
    }
}

/// Wraps the daemon for the API's system routes.
pub fn backend(d: Arc<Daemon>) -> Arc<dyn SystemBackend> {
    d
}
