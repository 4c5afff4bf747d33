//! `HostConfig` and the pieces it is made of (mounts, ports, devices, limits).

use super::*;

/// `HostConfig.LogConfig`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct LogConfig {
    #[serde(rename = "Type", deserialize_with = "null_default")]
    pub typ: String,
    #[serde(rename = "Config", deserialize_with = "null_default")]
    pub config: BTreeMap<String, String>,
}

/// `HostConfig.RestartPolicy`. `Name` is "", "no", "always",
/// "unless-stopped" or "on-failure".
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct RestartPolicy {
    #[serde(rename = "Name", deserialize_with = "null_default")]
    pub name: String,
    #[serde(rename = "MaximumRetryCount", deserialize_with = "null_default")]
    pub maximum_retry_count: i64,
}

/// One `HostConfig.Ulimits` entry.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(default)]
pub struct Ulimit {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Soft")]
    pub soft: i64,
    #[serde(rename = "Hard")]
    pub hard: i64,
}

/// One `HostConfig.PortBindings` value element.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(default)]
pub struct PortBinding {
    #[serde(rename = "HostIp", deserialize_with = "null_default")]
    pub host_ip: String,
    #[serde(rename = "HostPort", deserialize_with = "null_default")]
    pub host_port: String,
}

/// One `HostConfig.Devices` entry.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(default)]
pub struct DeviceMapping {
    #[serde(rename = "PathOnHost")]
    pub path_on_host: String,
    #[serde(rename = "PathInContainer")]
    pub path_in_container: String,
    #[serde(rename = "CgroupPermissions")]
    pub cgroup_permissions: String,
}

/// `HostConfig.Mounts[].BindOptions`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct BindOptions {
    #[serde(rename = "Propagation", skip_serializing_if = "Option::is_none")]
    pub propagation: Option<String>,
    #[serde(rename = "NonRecursive", skip_serializing_if = "Option::is_none")]
    pub non_recursive: Option<bool>,
    #[serde(rename = "CreateMountpoint", skip_serializing_if = "Option::is_none")]
    pub create_mountpoint: Option<bool>,
    #[serde(
        rename = "ReadOnlyNonRecursive",
        skip_serializing_if = "Option::is_none"
    )]
    pub read_only_non_recursive: Option<bool>,
    #[serde(
        rename = "ReadOnlyForceRecursive",
        skip_serializing_if = "Option::is_none"
    )]
    pub read_only_force_recursive: Option<bool>,
}

/// `HostConfig.Mounts[].VolumeOptions`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct VolumeOptions {
    #[serde(rename = "NoCopy", skip_serializing_if = "Option::is_none")]
    pub no_copy: Option<bool>,
    #[serde(rename = "Labels", skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(rename = "DriverConfig", skip_serializing_if = "Option::is_none")]
    pub driver_config: Option<DriverConfig>,
    #[serde(rename = "Subpath", skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
}

/// `VolumeOptions.DriverConfig`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct DriverConfig {
    #[serde(rename = "Name", deserialize_with = "null_default")]
    pub name: String,
    #[serde(rename = "Options", deserialize_with = "null_default")]
    pub options: BTreeMap<String, String>,
}

/// `HostConfig.Mounts[].TmpfsOptions`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct TmpfsOptions {
    #[serde(rename = "SizeBytes", skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
    #[serde(rename = "Mode", skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
    #[serde(rename = "Options", skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<Vec<String>>>,
}

/// One `HostConfig.Mounts` entry (`--mount`). `Type` is bind, volume,
/// tmpfs, npipe, cluster or image.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct Mount {
    #[serde(rename = "Target", deserialize_with = "null_default")]
    pub target: String,
    #[serde(rename = "Source", deserialize_with = "null_default")]
    pub source: String,
    #[serde(rename = "Type", deserialize_with = "null_default")]
    pub typ: String,
    #[serde(rename = "ReadOnly", deserialize_with = "null_default")]
    pub read_only: bool,
    #[serde(rename = "Consistency", skip_serializing_if = "Option::is_none")]
    pub consistency: Option<String>,
    #[serde(rename = "BindOptions", skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<BindOptions>,
    #[serde(rename = "VolumeOptions", skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<VolumeOptions>,
    #[serde(rename = "ImageOptions", skip_serializing_if = "Option::is_none")]
    pub image_options: Option<Value>,
    #[serde(rename = "TmpfsOptions", skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptions>,
}

/// `HostConfig`: the non-portable part of a container's configuration.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct HostConfig {
    #[serde(rename = "Binds")]
    pub binds: Option<Vec<String>>,
    #[serde(rename = "ContainerIDFile", deserialize_with = "null_default")]
    pub container_id_file: String,
    #[serde(rename = "LogConfig", deserialize_with = "null_default")]
    pub log_config: LogConfig,
    #[serde(rename = "NetworkMode", deserialize_with = "null_default")]
    pub network_mode: String,
    #[serde(rename = "PortBindings", deserialize_with = "null_default")]
    pub port_bindings: BTreeMap<String, Option<Vec<PortBinding>>>,
    #[serde(rename = "RestartPolicy", deserialize_with = "null_default")]
    pub restart_policy: RestartPolicy,
    #[serde(rename = "AutoRemove", deserialize_with = "null_default")]
    pub auto_remove: bool,
    #[serde(rename = "VolumeDriver", deserialize_with = "null_default")]
    pub volume_driver: String,
    #[serde(rename = "VolumesFrom")]
    pub volumes_from: Option<Vec<String>>,
    #[serde(rename = "ConsoleSize", deserialize_with = "null_default")]
    pub console_size: Vec<u32>,
    #[serde(rename = "Annotations", skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(rename = "CapAdd")]
    pub cap_add: Option<Vec<String>>,
    #[serde(rename = "CapDrop")]
    pub cap_drop: Option<Vec<String>>,
    #[serde(rename = "CgroupnsMode", deserialize_with = "null_default")]
    pub cgroupns_mode: String,
    #[serde(rename = "Dns", deserialize_with = "null_default")]
    pub dns: Vec<String>,
    #[serde(rename = "DnsOptions", deserialize_with = "null_default")]
    pub dns_options: Vec<String>,
    #[serde(rename = "DnsSearch", deserialize_with = "null_default")]
    pub dns_search: Vec<String>,
    #[serde(rename = "ExtraHosts")]
    pub extra_hosts: Option<Vec<String>>,
    #[serde(rename = "GroupAdd")]
    pub group_add: Option<Vec<String>>,
    #[serde(rename = "IpcMode", deserialize_with = "null_default")]
    pub ipc_mode: String,
    #[serde(rename = "Cgroup", deserialize_with = "null_default")]
    pub cgroup: String,
    #[serde(rename = "Links")]
    pub links: Option<Vec<String>>,
    #[serde(rename = "OomScoreAdj", deserialize_with = "null_default")]
    pub oom_score_adj: i64,
    #[serde(rename = "PidMode", deserialize_with = "null_default")]
    pub pid_mode: String,
    #[serde(rename = "Privileged", deserialize_with = "null_default")]
    pub privileged: bool,
    #[serde(rename = "PublishAllPorts", deserialize_with = "null_default")]
    pub publish_all_ports: bool,
    #[serde(rename = "ReadonlyRootfs", deserialize_with = "null_default")]
    pub readonly_rootfs: bool,
    #[serde(rename = "SecurityOpt")]
    pub security_opt: Option<Vec<String>>,
    #[serde(rename = "StorageOpt", skip_serializing_if = "Option::is_none")]
    pub storage_opt: Option<BTreeMap<String, String>>,
    #[serde(rename = "Tmpfs", skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<BTreeMap<String, String>>,
    #[serde(rename = "UTSMode", deserialize_with = "null_default")]
    pub uts_mode: String,
    #[serde(rename = "UsernsMode", deserialize_with = "null_default")]
    pub userns_mode: String,
    #[serde(rename = "ShmSize", deserialize_with = "null_default")]
    pub shm_size: i64,
    #[serde(rename = "Sysctls", skip_serializing_if = "Option::is_none")]
    pub sysctls: Option<BTreeMap<String, String>>,
    #[serde(rename = "Runtime", deserialize_with = "null_default")]
    pub runtime: String,
    #[serde(rename = "Isolation", deserialize_with = "null_default")]
    pub isolation: String,
    // Resources (flattened into HostConfig on the wire).
    #[serde(rename = "CpuShares", deserialize_with = "null_default")]
    pub cpu_shares: i64,
    #[serde(rename = "Memory", deserialize_with = "null_default")]
    pub memory: i64,
    #[serde(rename = "NanoCpus", deserialize_with = "null_default")]
    pub nano_cpus: i64,
    #[serde(rename = "CgroupParent", deserialize_with = "null_default")]
    pub cgroup_parent: String,
    #[serde(rename = "BlkioWeight", deserialize_with = "null_default")]
    pub blkio_weight: u16,
    #[serde(rename = "BlkioWeightDevice")]
    pub blkio_weight_device: Option<Vec<Value>>,
    #[serde(rename = "BlkioDeviceReadBps")]
    pub blkio_device_read_bps: Option<Vec<Value>>,
    #[serde(rename = "BlkioDeviceWriteBps")]
    pub blkio_device_write_bps: Option<Vec<Value>>,
    #[serde(rename = "BlkioDeviceReadIOps")]
    pub blkio_device_read_iops: Option<Vec<Value>>,
    #[serde(rename = "BlkioDeviceWriteIOps")]
    pub blkio_device_write_iops: Option<Vec<Value>>,
    #[serde(rename = "CpuPeriod", deserialize_with = "null_default")]
    pub cpu_period: i64,
    #[serde(rename = "CpuQuota", deserialize_with = "null_default")]
    pub cpu_quota: i64,
    #[serde(rename = "CpuRealtimePeriod", deserialize_with = "null_default")]
    pub cpu_realtime_period: i64,
    #[serde(rename = "CpuRealtimeRuntime", deserialize_with = "null_default")]
    pub cpu_realtime_runtime: i64,
    #[serde(rename = "CpusetCpus", deserialize_with = "null_default")]
    pub cpuset_cpus: String,
    #[serde(rename = "CpusetMems", deserialize_with = "null_default")]
    pub cpuset_mems: String,
    #[serde(rename = "Devices")]
    pub devices: Option<Vec<DeviceMapping>>,
    #[serde(rename = "DeviceCgroupRules")]
    pub device_cgroup_rules: Option<Vec<String>>,
    #[serde(rename = "DeviceRequests")]
    pub device_requests: Option<Vec<Value>>,
    #[serde(rename = "KernelMemory", skip_serializing_if = "Option::is_none")]
    pub kernel_memory: Option<i64>,
    #[serde(rename = "KernelMemoryTCP", skip_serializing_if = "Option::is_none")]
    pub kernel_memory_tcp: Option<i64>,
    #[serde(rename = "MemoryReservation", deserialize_with = "null_default")]
    pub memory_reservation: i64,
    #[serde(rename = "MemorySwap", deserialize_with = "null_default")]
    pub memory_swap: i64,
    #[serde(rename = "MemorySwappiness")]
    pub memory_swappiness: Option<i64>,
    #[serde(rename = "OomKillDisable")]
    pub oom_kill_disable: Option<bool>,
    #[serde(rename = "PidsLimit")]
    pub pids_limit: Option<i64>,
    #[serde(rename = "Ulimits")]
    pub ulimits: Option<Vec<Ulimit>>,
    #[serde(rename = "CpuCount", deserialize_with = "null_default")]
    pub cpu_count: i64,
    #[serde(rename = "CpuPercent", deserialize_with = "null_default")]
    pub cpu_percent: i64,
    #[serde(rename = "IOMaximumIOps", deserialize_with = "null_default")]
    pub io_maximum_iops: u64,
    #[serde(rename = "IOMaximumBandwidth", deserialize_with = "null_default")]
    pub io_maximum_bandwidth: u64,
    #[serde(rename = "Mounts", skip_serializing_if = "Option::is_none")]
    pub mounts: Option<Vec<Mount>>,
    #[serde(rename = "MaskedPaths", skip_serializing_if = "Option::is_none")]
    pub masked_paths: Option<Vec<String>>,
    #[serde(rename = "ReadonlyPaths", skip_serializing_if = "Option::is_none")]
    pub readonly_paths: Option<Vec<String>>,
    #[serde(rename = "Init", skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
}
