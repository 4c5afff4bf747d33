//! OCI runtime spec generation with dockerd's defaults.
//!
//! Two pure steps: [`merge_image_config`] folds the image's config into the
//! create request's Config (what inspect shows), and [`build_spec`] turns the
//! merged Config + HostConfig + rootfs + resolved mounts into an
//! `oci_spec::runtime::Spec`. The spec is assembled as JSON and parsed by
//! oci-spec, so whatever we produce is checked against its schema types.
//!
//! `--init`: the init is `docker-init` (tini-static, shipped with Debian's
//! `tini` package and pulled in by docker.io) found by [`find_init_binary`],
//! bind-mounted read-only at `/sbin/docker-init` and put in front of the
//! command as `/sbin/docker-init -- CMD...`, as dockerd does. berthd itself
//! is not used: it is dynamically linked and would not run in images
//! without glibc.

mod defaults;
mod devices;
mod etc_files;
mod image;
mod mounts;
mod namespaces;
mod process;
mod resources;
mod security;
#[cfg(test)]
mod testutil;
mod user;

pub use defaults::{
    ALL_CAPS, DEFAULT_CAPS, DEFAULT_CGROUP_PARENT, DEFAULT_MASKED_PATHS, DEFAULT_PATH_ENV,
    DEFAULT_READONLY_PATHS, DEFAULT_SHM_SIZE, INIT_PATH_IN_CONTAINER,
};
pub use etc_files::{write_etc_files, EtcFiles};
pub use image::{argv, merge_env, merge_image_config, ImageRuntimeConfig};
pub use mounts::{parse_bind, resolve_mounts, BindSpec, ResolvedMount};
pub use process::find_init_binary;
pub use resources::{host_is_cgroup_v2, swap_limit_supported};
pub use security::{capabilities, parse_security_opts, SecurityOptions};
pub use user::{resolve_user, ResolvedUser};

use crate::{Result, RuntimeError};
use berth_types::container::{ContainerConfig, HostConfig};
use oci_spec::runtime::Spec;
use serde_json::{json, Value};
use std::path::PathBuf;

/// Everything [`build_spec`] needs besides the merged Config and HostConfig.
#[derive(Debug, Clone, Default)]
pub struct SpecOptions {
    /// The container id (64 hex); the default hostname is its first 12 chars.
    pub id: String,
    /// The prepared (mounted) rootfs.
    pub rootfs: PathBuf,
    /// Binds, volumes, tmpfs and daemon-written files, already resolved.
    pub mounts: Vec<ResolvedMount>,
    /// Needed when HostConfig.Init is true.
    pub init_path: Option<PathBuf>,
    /// A network namespace to join instead of creating a new one.
    pub netns_path: Option<PathBuf>,
    /// Give the container a private cgroup namespace when CgroupnsMode is
    /// empty (dockerd does this on cgroup v2 hosts).
    pub default_private_cgroupns: bool,
}

/// Builds the OCI spec for a container from its merged Config (see
/// [`merge_image_config`]) and HostConfig.
pub fn build_spec(config: &ContainerConfig, hc: &HostConfig, opts: &SpecOptions) -> Result<Spec> {
    let v = build_spec_json(config, hc, opts)?;
    serde_json::from_value(v).map_err(|e| RuntimeError::Spec(e.to_string()))
}

/// [`build_spec`] before oci-spec's typing (useful to inspect in tests).
pub fn build_spec_json(
    config: &ContainerConfig,
    hc: &HostConfig,
    opts: &SpecOptions,
) -> Result<Value> {
    let mut args = argv(config)?;
    if !config.working_dir.is_empty() && !config.working_dir.starts_with('/') {
        return Err(RuntimeError::InvalidParameter(format!(
            "the working directory '{}' is invalid, it needs to be an absolute path",
            config.working_dir
        )));
    }
    let hostname = if config.hostname.is_empty() {
        opts.id.chars().take(12).collect()
    } else {
        config.hostname.clone()
    };
    let user = resolve_user(
        &opts.rootfs,
        &config.user,
        hc.group_add.as_deref().unwrap_or(&[]),
    )?;
    let env = process::environment(config, &hostname, &user);
    let caps = capabilities(
        hc.privileged,
        hc.cap_add.as_deref().unwrap_or(&[]),
        hc.cap_drop.as_deref().unwrap_or(&[]),
    )?;
    let sec = parse_security_opts(hc.security_opt.as_deref().unwrap_or(&[]))?;
    let rlimits = process::rlimits(hc)?;
    let mounts = mounts::spec_mounts(hc, opts, &mut args)?;
    let namespaces = namespaces::namespaces(hc, opts);
    let (devices_rules, devices) = devices::devices(hc)?;
    let resources = resources::resources(hc, devices_rules)?;
    let parts = process::ProcessParts {
        args,
        env,
        user: &user,
        caps: &caps,
        sec: &sec,
        rlimits,
    };
    let process = process::process(config, hc, parts);

    let mut linux = json!({
        "namespaces": namespaces,
        "resources": resources,
        "cgroupsPath": resources::cgroups_path(hc, &opts.id),
    });
    if !devices.is_empty() {
        linux["devices"] = json!(devices);
    }
    security::confine_paths(&mut linux, hc);
    if let Some(s) = &hc.sysctls {
        if !s.is_empty() {
            linux["sysctl"] = json!(s);
        }
    }
    if let Some(s) = security::seccomp_profile(hc, &sec, &caps)? {
        linux["seccomp"] = s;
    }

    Ok(json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": opts.rootfs, "readonly": hc.readonly_rootfs},
        "hostname": hostname,
        "mounts": mounts,
        "linux": linux,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::testutil::{opts, req, rootfs};

    use serde_json::json;

    #[test]
    fn default_spec_matches_dockerd_defaults() {
        let r = rootfs();
        let q = req(r#"{"Cmd":["echo","hi"],"Env":["FOO=bar"]}"#);
        let v = build_spec_json(&q.config, &q.host_config, &opts(r.path())).unwrap();
        assert_eq!(v["hostname"], "0123456789ab");
        assert_eq!(v["process"]["args"], json!(["echo", "hi"]));
        assert_eq!(
            v["process"]["env"],
            json!([
                DEFAULT_PATH_ENV,
                "HOSTNAME=0123456789ab",
                "FOO=bar",
                "HOME=/root"
            ])
        );
        assert_eq!(
            v["process"]["capabilities"]["bounding"],
            json!(DEFAULT_CAPS)
        );
        assert_eq!(
            v["process"]["user"],
            json!({"uid": 0, "gid": 0, "additionalGids": [10]})
        );
        assert_eq!(v["process"]["terminal"], false);
        assert_eq!(v["linux"]["maskedPaths"], json!(DEFAULT_MASKED_PATHS));
        assert_eq!(v["linux"]["readonlyPaths"], json!(DEFAULT_READONLY_PATHS));
        assert_eq!(v["linux"]["cgroupsPath"], "/berth/0123456789abcdef0123");
        let ns: Vec<&str> = v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(ns, vec!["mount", "pid", "ipc", "uts", "network"]);
        let dests: Vec<&str> = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert_eq!(
            dests,
            vec![
                "/proc",
                "/dev",
                "/dev/pts",
                "/sys",
                "/sys/fs/cgroup",
                "/dev/mqueue",
                "/dev/shm"
            ]
        );
        assert!(v["mounts"][6]["options"]
            .as_array()
            .unwrap()
            .contains(&json!("size=67108864")));
        assert_eq!(v["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(
            v["linux"]["resources"]["devices"][0],
            json!({"allow": false, "access": "rwm"})
        );
        assert!(v["linux"]["resources"].get("memory").is_none());
        // And oci-spec accepts it.
        build_spec(&q.config, &q.host_config, &opts(r.path())).unwrap();
    }

    #[test]
    fn host_config_knobs() {
        let r = rootfs();
        let q = req(
            r#"{"Cmd":["sh"],"Tty":true,"User":"www","Hostname":"box","WorkingDir":"/srv",
            "HostConfig":{"Memory":67108864,"NanoCpus":1500000000,"CpuShares":512,"PidsLimit":20,
            "CapAdd":["net_admin","CAP_SYS_TIME"],"CapDrop":["MKNOD","cap_chown"],
            "ReadonlyRootfs":true,"ShmSize":1048576,"ConsoleSize":[30,100],
            "Ulimits":[{"Name":"nofile","Soft":100,"Hard":200}],
            "SecurityOpt":["no-new-privileges:true"],"GroupAdd":["root"],
            "Tmpfs":{"/run":"rw,exec,size=1m"},"Sysctls":{"net.ipv4.ip_forward":"1"}}}"#,
        );
        let mut o = opts(r.path());
        o.mounts = resolve_mounts(&q.host_config, |_, _| unreachable!()).unwrap();
        let v = build_spec_json(&q.config, &q.host_config, &o).unwrap();
        let p = &v["process"];
        assert_eq!(p["terminal"], true);
        assert_eq!(p["consoleSize"], json!({"height": 30, "width": 100}));
        assert_eq!(
            p["user"],
            json!({"uid": 33, "gid": 33, "additionalGids": [50, 0]})
        );
        assert_eq!(p["cwd"], "/srv");
        assert!(p["env"].as_array().unwrap().contains(&json!("TERM=xterm")));
        assert!(p["env"]
            .as_array()
            .unwrap()
            .contains(&json!("HOME=/var/www")));
        assert_eq!(p["noNewPrivileges"], true);
        assert_eq!(
            p["rlimits"],
            json!([{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}])
        );
        let bounding: Vec<String> =
            serde_json::from_value(p["capabilities"]["bounding"].clone()).unwrap();
        assert!(
            bounding.contains(&"CAP_NET_ADMIN".into()) && bounding.contains(&"CAP_SYS_TIME".into())
        );
        assert!(!bounding.contains(&"CAP_MKNOD".into()) && !bounding.contains(&"CAP_CHOWN".into()));
        // Non-root: no effective/permitted caps.
        assert_eq!(p["capabilities"]["effective"], json!([]));
        assert_eq!(v["hostname"], "box");
        assert_eq!(v["root"]["readonly"], true);
        let res = &v["linux"]["resources"];
        if swap_limit_supported() {
            assert_eq!(res["memory"], json!({"limit": 67108864, "swap": 134217728}));
        } else {
            assert_eq!(res["memory"], json!({"limit": 67108864}));
        }
        assert_eq!(
            res["cpu"],
            json!({"period": 100000, "quota": 150000, "shares": 512})
        );
        assert_eq!(res["pids"], json!({"limit": 20}));
        assert_eq!(v["linux"]["sysctl"], json!({"net.ipv4.ip_forward": "1"}));
        let mounts = v["mounts"].as_array().unwrap();
        let shm = mounts
            .iter()
            .find(|m| m["destination"] == "/dev/shm")
            .unwrap();
        assert!(shm["options"]
            .as_array()
            .unwrap()
            .contains(&json!("size=1048576")));
        let run = mounts.iter().find(|m| m["destination"] == "/run").unwrap();
        assert_eq!(
            run["options"],
            json!(["nosuid", "nodev", "rw", "exec", "size=1m"])
        );
        // SYS_TIME brings clock_settime into the seccomp allow-list.
        assert!(v["linux"]["seccomp"]
            .to_string()
            .contains("\"clock_settime\""));
        build_spec(&q.config, &q.host_config, &o).unwrap();
    }

    #[test]
    fn privileged_unconfined_init_and_errors() {
        let r = rootfs();
        let q = req(
            r#"{"Cmd":["top"],"HostConfig":{"Privileged":true,"Init":true,"NetworkMode":"host"}}"#,
        );
        let mut o = opts(r.path());
        o.init_path = Some("/usr/bin/docker-init".into());
        let v = build_spec_json(&q.config, &q.host_config, &o).unwrap();
        assert_eq!(
            v["process"]["args"],
            json!(["/sbin/docker-init", "--", "top"])
        );
        assert_eq!(
            v["process"]["capabilities"]["bounding"]
                .as_array()
                .unwrap()
                .len(),
            ALL_CAPS.len()
        );
        assert!(v["linux"].get("seccomp").is_none());
        assert!(v["linux"].get("maskedPaths").is_none());
        assert_eq!(
            v["linux"]["resources"]["devices"],
            json!([{"allow": true, "access": "rwm"}])
        );
        assert!(!v["linux"]["namespaces"].to_string().contains("network"));
        assert!(v["mounts"].to_string().contains("/sbin/docker-init"));
        o.init_path = None;
        assert!(build_spec_json(&q.config, &q.host_config, &o).is_err());

        let q = req(
            r#"{"Cmd":["x"],"HostConfig":{"SecurityOpt":["seccomp=unconfined"],"CapDrop":["ALL"],"CapAdd":["kill"]}}"#,
        );
        let v = build_spec_json(&q.config, &q.host_config, &opts(r.path())).unwrap();
        assert!(v["linux"].get("seccomp").is_none());
        assert_eq!(
            v["process"]["capabilities"]["bounding"],
            json!(["CAP_KILL"])
        );

        for bad in [
            r#"{"Cmd":["x"],"HostConfig":{"CapAdd":["NOPE"]}}"#,
            r#"{"Cmd":["x"],"User":"ghost"}"#,
            r#"{"Cmd":["x"],"HostConfig":{"NanoCpus":1000000000,"CpuQuota":1000}}"#,
            r#"{"Cmd":["x"],"HostConfig":{"Memory":1000}}"#,
            r#"{"Cmd":["x"],"HostConfig":{"SecurityOpt":["bogus"]}}"#,
            r#"{"Cmd":["x"],"HostConfig":{"Ulimits":[{"Name":"nope","Soft":1,"Hard":1}]}}"#,
            r#"{"Cmd":["x"],"WorkingDir":"relative"}"#,
            r#"{"Cmd":["x"],"HostConfig":{"NanoCpus":1000}}"#,
            r#"{"Cmd":["x"],"HostConfig":{"NanoCpus":1000000000000}}"#,
        ] {
            let q = req(bad);
            let e = build_spec_json(&q.config, &q.host_config, &opts(r.path())).unwrap_err();
            assert!(matches!(e, RuntimeError::InvalidParameter(_)), "{bad}: {e}");
        }
    }
}
