//! Managed plugins, the pure part: checking a manifest, the subsystems its
//! interface types serve, the privileges it asks for (and comparing them
//! with what a user accepted), its initial settings, and `docker plugin set`.
//! Running a plugin is the daemon's business.

use berth_types::plugin::{PluginConfig, PluginPrivilege, PluginSettings};
use berth_types::volume::subsystem;
use berth_types::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};

/// The subsystem (as the registry and `Plugin.Activate` name it) an
/// interface type such as `docker.volumedriver/1.0` serves.
pub fn subsystem_of(interface_type: &str) -> Option<&'static str> {
    let (prefix_cap, version) = interface_type.split_once('/')?;
    if version.is_empty() {
        return None;
    }
    let cap = prefix_cap.strip_prefix("docker.")?;
    Some(match cap {
        "volumedriver" => subsystem::VOLUME,
        "networkdriver" => subsystem::NETWORK,
        "ipamdriver" => subsystem::IPAM,
        "authz" => subsystem::AUTHZ,
        "logdriver" => subsystem::LOG,
        "metricscollector" => "MetricsCollector",
        _ => return None,
    })
}

/// The capability part of an interface type (`volumedriver`), which
/// `docker plugin ls --filter capability=` matches.
pub fn capability_of(interface_type: &str) -> &str {
    let pc = interface_type.split('/').next().unwrap_or("");
    pc.rsplit('.').next().unwrap_or(pc)
}

/// The subsystems a manifest's interface types serve.
pub fn subsystems(cfg: &PluginConfig) -> Vec<String> {
    let mut v: Vec<String> = cfg
        .interface
        .types
        .iter()
        .filter_map(|t| subsystem_of(t))
        .map(str::to_string)
        .collect();
    v.sort();
    v.dedup();
    v
}

fn bad(msg: impl Into<String>) -> Error {
    Error::invalid(msg.into())
}

/// Checks a manifest before a plugin is created from it.
pub fn validate(cfg: &PluginConfig) -> Result<()> {
    if cfg.interface.types.is_empty() {
        return Err(bad("invalid plugin config: Interface.Types is empty"));
    }
    for t in &cfg.interface.types {
        if subsystem_of(t).is_none() {
            return Err(bad(format!(
                "invalid plugin config: unknown interface type {t:?} (docker.volumedriver/1.0, docker.networkdriver/1.0, docker.ipamdriver/1.0, docker.authz/1.0, docker.logdriver/1.0 or docker.metricscollector/1.0)"
            )));
        }
    }
    let sock = &cfg.interface.socket;
    if sock.is_empty() || sock.contains('/') || sock == "." || sock == ".." {
        return Err(bad(format!(
            "invalid plugin config: Interface.Socket must be a file name, got {sock:?}"
        )));
    }
    if cfg.entrypoint.is_empty() {
        return Err(bad("invalid plugin config: Entrypoint is empty"));
    }
    match cfg.network.typ.as_str() {
        "" | "host" | "bridge" | "none" | "null" => {}
        t => {
            return Err(bad(format!(
                "invalid plugin config: unknown network type {t:?}"
            )))
        }
    }
    if !cfg.propagated_mount.is_empty() && !cfg.propagated_mount.starts_with('/') {
        return Err(bad(
            "invalid plugin config: PropagatedMount must be absolute",
        ));
    }
    if !cfg.work_dir.is_empty() && !cfg.work_dir.starts_with('/') {
        return Err(bad("invalid plugin config: WorkDir must be absolute"));
    }
    for m in &cfg.mounts {
        if !m.destination.starts_with('/') {
            return Err(bad(format!(
                "invalid plugin config: mount {:?} needs an absolute Destination",
                m.name
            )));
        }
    }
    for e in &cfg.env {
        if e.name.is_empty() || e.name.contains('=') {
            return Err(bad(format!(
                "invalid plugin config: bad Env name {:?}",
                e.name
            )));
        }
    }
    Ok(())
}

/// The settings a new plugin starts with: its manifest's values.
pub fn initial_settings(cfg: &PluginConfig) -> PluginSettings {
    PluginSettings {
        mounts: cfg.mounts.clone(),
        env: cfg
            .env
            .iter()
            .filter_map(|e| e.value.as_ref().map(|v| format!("{}={v}", e.name)))
            .collect(),
        args: cfg.args.value.clone(),
        devices: cfg.linux.devices.clone(),
    }
}

/// What the plugin asks to be allowed, in the order the CLI prompts.
pub fn privileges(cfg: &PluginConfig, settings: &PluginSettings) -> Vec<PluginPrivilege> {
    let p = |name: &str, description: &str, value: Vec<String>| PluginPrivilege {
        name: name.into(),
        description: description.into(),
        value,
    };
    let mut out = Vec::new();
    match cfg.network.typ.as_str() {
        "" | "bridge" | "null" => {}
        t => out.push(p("network", "network access", vec![t.to_string()])),
    }
    if cfg.ipc_host {
        out.push(p(
            "host ipc namespace",
            "shares the host's IPC namespace",
            vec!["true".into()],
        ));
    }
    if cfg.pid_host {
        out.push(p(
            "host pid namespace",
            "shares the host's PID namespace",
            vec!["true".into()],
        ));
    }
    for m in &settings.mounts {
        if let Some(src) = &m.source {
            out.push(p("mount", "a host path mounted in", vec![src.clone()]));
        }
    }
    for d in &settings.devices {
        if let Some(path) = &d.path {
            out.push(p("device", "a host device", vec![path.clone()]));
        }
    }
    if cfg.linux.allow_all_devices {
        out.push(p(
            "allow-all-devices",
            "read, write and mknod on every device",
            vec!["true".into()],
        ));
    }
    if !cfg.linux.capabilities.is_empty() {
        out.push(p(
            "capabilities",
            "extra capabilities",
            cfg.linux.capabilities.clone(),
        ));
    }
    out
}

/// A privilege list as one canonical set: every name with every value it
/// was given, sorted and without duplicates. Descriptions do not count.
pub fn canonical(privs: &[PluginPrivilege]) -> BTreeMap<String, BTreeSet<String>> {
    let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in privs {
        m.entry(p.name.clone())
            .or_default()
            .extend(p.value.iter().cloned());
    }
    m
}

/// Refuses unless `accepted` is exactly `requested`, compared as whole
/// canonical sets: nothing missing, nothing extra, the last entry included.
pub fn check_privileges(requested: &[PluginPrivilege], accepted: &[PluginPrivilege]) -> Result<()> {
    let want = canonical(requested);
    let got = canonical(accepted);
    if want == got {
        return Ok(());
    }
    let show = |m: &BTreeMap<String, BTreeSet<String>>| {
        m.iter()
            .map(|(k, v)| format!("{k}: {:?}", v.iter().collect::<Vec<_>>()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(bad(format!(
        "privileges do not match what the plugin asks for: accepted [{}], required [{}]",
        show(&got),
        show(&want)
    )))
}

/// Applies `docker plugin set` arguments (`KEY=VALUE`, `mount.source=`,
/// `device.path=`, `args=`) to `settings`, allowing only what the manifest
/// declares settable. Nothing changes unless every argument is allowed.
pub fn apply_set(
    cfg: &PluginConfig,
    settings: &PluginSettings,
    args: &[String],
) -> Result<PluginSettings> {
    let mut out = settings.clone();
    for a in args {
        let (key, value) = a
            .split_once('=')
            .ok_or_else(|| bad(format!("invalid setting {a:?}: expected KEY=VALUE")))?;
        let (name, field) = match key.split_once('.') {
            Some((n, f)) => (n, Some(f)),
            None => (key, None),
        };
        if name.is_empty() {
            return Err(bad(format!("invalid setting {a:?}: empty name")));
        }
        let settable = |list: &[String], f: &str| list.iter().any(|s| s == f);
        let not_settable = |what: &str, f: &str| {
            bad(format!(
                "setting {what} {name:?}: {f} is not settable in this plugin"
            ))
        };
        if let Some(e) = cfg.env.iter().find(|e| e.name == name) {
            let f = field.unwrap_or("value");
            if f != "value" || !settable(&e.settable, "value") {
                return Err(not_settable("env", f));
            }
            let prefix = format!("{name}=");
            out.env.retain(|x| !x.starts_with(&prefix));
            out.env.push(format!("{name}={value}"));
            continue;
        }
        if name == cfg.args.name && !cfg.args.name.is_empty() {
            let f = field.unwrap_or("value");
            if f != "value" || !settable(&cfg.args.settable, "value") {
                return Err(not_settable("args", f));
            }
            out.args = value.split_whitespace().map(str::to_string).collect();
            continue;
        }
        if let Some(i) = cfg.mounts.iter().position(|m| m.name == name) {
            let f = field.unwrap_or("source");
            if f != "source" || !settable(&cfg.mounts[i].settable, "source") {
                return Err(not_settable("mount", f));
            }
            if !value.starts_with('/') {
                return Err(bad(format!(
                    "setting mount {name:?}: source must be an absolute path"
                )));
            }
            out.mounts[i].source = Some(value.to_string());
            continue;
        }
        if let Some(i) = cfg.linux.devices.iter().position(|d| d.name == name) {
            let f = field.unwrap_or("path");
            if f != "path" || !settable(&cfg.linux.devices[i].settable, "path") {
                return Err(not_settable("device", f));
            }
            if !value.starts_with("/dev/") {
                return Err(bad(format!(
                    "setting device {name:?}: path must be under /dev"
                )));
            }
            out.devices[i].path = Some(value.to_string());
            continue;
        }
        return Err(bad(format!(
            "setting {name:?}: the plugin has no such env, args, mount or device"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(json: &str) -> PluginConfig {
        PluginConfig::from_manifest(json.as_bytes()).unwrap()
    }

    const FULL: &str = r#"{
        "Interface":{"Types":["docker.volumedriver/1.0","docker.authz/1.0"],"Socket":"p.sock"},
        "Entrypoint":["/p"],"Network":{"Type":"host"},"IpcHost":true,"PidHost":true,
        "Linux":{"Capabilities":["CAP_SYS_ADMIN","CAP_NET_ADMIN"],"AllowAllDevices":true,
                 "Devices":[{"Name":"fuse","Path":"/dev/fuse","Settable":["path"]}]},
        "Mounts":[{"Name":"state","Source":"/var/lib/p","Destination":"/state","Type":"bind",
                   "Options":["rbind"],"Settable":["source"]},
                  {"Name":"fixed","Source":"/etc/p","Destination":"/etc/p","Type":"bind"}],
        "Env":[{"Name":"DEBUG","Value":"0","Settable":["value"]},{"Name":"LOCKED","Value":"1"}],
        "Args":{"Name":"args","Settable":["value"],"Value":["-a"]}}"#;

    #[test]
    fn interface_types_decide_subsystems() {
        let c = cfg(FULL);
        assert_eq!(subsystems(&c), vec!["VolumeDriver", "authz"]);
        assert_eq!(capability_of("docker.volumedriver/1.0"), "volumedriver");
        assert_eq!(subsystem_of("docker.logdriver/1.0"), Some("LogDriver"));
        assert_eq!(subsystem_of("docker.ipamdriver/1.0"), Some("IpamDriver"));
        assert_eq!(
            subsystem_of("docker.networkdriver/1.0"),
            Some("NetworkDriver")
        );
        assert_eq!(subsystem_of("docker.volumedriver"), None);
        assert_eq!(subsystem_of("acme.volumedriver/1.0"), None);
        validate(&c).unwrap();
    }

    #[test]
    fn validation_refuses_bad_manifests() {
        for (json, needle) in [
            (
                r#"{"Interface":{"Types":[],"Socket":"s"},"Entrypoint":["/p"]}"#,
                "Types",
            ),
            (
                r#"{"Interface":{"Types":["docker.x/1.0"],"Socket":"s"},"Entrypoint":["/p"]}"#,
                "unknown interface",
            ),
            (
                r#"{"Interface":{"Types":["docker.authz/1.0"],"Socket":"../s"},"Entrypoint":["/p"]}"#,
                "Socket",
            ),
            (
                r#"{"Interface":{"Types":["docker.authz/1.0"],"Socket":"s"}}"#,
                "Entrypoint",
            ),
            (
                r#"{"Interface":{"Types":["docker.authz/1.0"],"Socket":"s"},"Entrypoint":["/p"],"Network":{"Type":"weird"}}"#,
                "network",
            ),
            (
                r#"{"Interface":{"Types":["docker.authz/1.0"],"Socket":"s"},"Entrypoint":["/p"],"PropagatedMount":"rel"}"#,
                "PropagatedMount",
            ),
        ] {
            let e = validate(&cfg(json)).unwrap_err();
            assert!(e.message.contains(needle), "{json}: {}", e.message);
        }
    }

    #[test]
    fn privileges_list_everything_asked() {
        let c = cfg(FULL);
        let p = privileges(&c, &initial_settings(&c));
        let names: Vec<&str> = p.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "network",
                "host ipc namespace",
                "host pid namespace",
                "mount",
                "mount",
                "device",
                "allow-all-devices",
                "capabilities"
            ]
        );
        assert_eq!(p[0].value, ["host"]);
        assert_eq!(p[3].value, ["/var/lib/p"]);
        assert_eq!(p[5].value, ["/dev/fuse"]);
        assert_eq!(p[7].value, ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"]);
        let minimal =
            cfg(r#"{"Interface":{"Types":["docker.authz/1.0"],"Socket":"s"},"Entrypoint":["/p"]}"#);
        assert!(privileges(&minimal, &initial_settings(&minimal)).is_empty());
    }

    #[test]
    fn accepted_privileges_must_match_as_a_whole_set() {
        let c = cfg(FULL);
        let want = privileges(&c, &initial_settings(&c));
        // The same set, reordered, with duplicates and other descriptions: fine.
        let mut same = want.clone();
        same.reverse();
        same.push(want[0].clone());
        for p in &mut same {
            p.description = "whatever".into();
        }
        check_privileges(&want, &same).unwrap();
        check_privileges(&[], &[]).unwrap();
        // Every single one missing is refused, the last one included.
        for i in 0..want.len() {
            let mut fewer = want.clone();
            fewer.remove(i);
            if canonical(&fewer) != canonical(&want) {
                assert!(check_privileges(&want, &fewer).is_err(), "missing #{i}");
            }
        }
        let mut no_last = want.clone();
        no_last.pop();
        assert!(check_privileges(&want, &no_last).is_err());
        // One value missing from the last privilege.
        let mut short_caps = want.clone();
        short_caps.last_mut().unwrap().value.pop();
        assert!(check_privileges(&want, &short_caps).is_err());
        // One extra privilege, or one extra value, is refused too.
        let mut extra = want.clone();
        extra.push(PluginPrivilege {
            name: "device".into(),
            description: String::new(),
            value: vec!["/dev/kmsg".into()],
        });
        assert!(check_privileges(&want, &extra).is_err());
        let mut extra_cap = want.clone();
        extra_cap
            .last_mut()
            .unwrap()
            .value
            .push("CAP_SYS_MODULE".into());
        let e = check_privileges(&want, &extra_cap).unwrap_err();
        assert!(e.message.contains("CAP_SYS_MODULE"), "{}", e.message);
        // Accepting privileges a plugin does not ask for is refused.
        assert!(check_privileges(&[], &want[..1]).is_err());
    }

    #[test]
    fn set_changes_only_what_is_settable() {
        let c = cfg(FULL);
        let s = initial_settings(&c);
        assert_eq!(s.env, ["DEBUG=0", "LOCKED=1"]);
        let n = apply_set(
            &c,
            &s,
            &[
                "DEBUG=1".into(),
                "args=-x -y".into(),
                "state.source=/srv/p".into(),
                "fuse=/dev/fuse2".into(),
            ],
        )
        .unwrap();
        assert!(n.env.contains(&"DEBUG=1".to_string()) && !n.env.contains(&"DEBUG=0".into()));
        assert_eq!(n.args, ["-x", "-y"]);
        assert_eq!(n.mounts[0].source.as_deref(), Some("/srv/p"));
        assert_eq!(n.devices[0].path.as_deref(), Some("/dev/fuse2"));
        for bad in [
            "LOCKED=2",
            "fixed.source=/x",
            "state.destination=/y",
            "fuse.name=x",
            "nosuch=1",
            "noequals",
            "state.source=relative",
        ] {
            let e = apply_set(&c, &s, &[bad.to_string()]).unwrap_err();
            assert_eq!(e.kind, berth_types::ErrorKind::InvalidParameter, "{bad}");
        }
        // All or nothing: a good setting beside a bad one changes nothing.
        assert!(apply_set(&c, &s, &["DEBUG=5".into(), "LOCKED=2".into()]).is_err());
    }
}
