//! Managed plugins on the wire: `GET /plugins`, `/plugins/{name}/json`,
//! `/plugins/privileges`, and the manifest (`config.json`) a plugin ships.
//!
//! Field names follow the Engine API's `Plugin`, `PluginConfig`,
//! `PluginSettings` and `PluginPrivilege` definitions. A manifest written by
//! hand uses any letter case (dockerd decodes it case-insensitively); see
//! [`PluginConfig::from_manifest`].

use serde::{Deserialize, Serialize};

fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// One installed plugin, as `GET /plugins` and `/plugins/{name}/json` show it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Plugin {
    #[serde(rename = "Id", default)]
    pub id: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Enabled")]
    pub enabled: bool,
    #[serde(rename = "Settings")]
    pub settings: PluginSettings,
    #[serde(rename = "PluginReference", default)]
    pub plugin_reference: String,
    #[serde(rename = "Config")]
    pub config: PluginConfig,
    /// berth's addition: how the plugin's process is doing.
    #[serde(rename = "State", default, skip_serializing_if = "Option::is_none")]
    pub state: Option<PluginRunState>,
}

/// The running state of an enabled plugin (a berth extension of `Plugin`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct PluginRunState {
    /// `running`, `starting`, `restarting` or `stopped`.
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "Pid")]
    pub pid: i64,
    /// Restarts after a crash since the plugin was last enabled.
    #[serde(rename = "RestartCount")]
    pub restart_count: u64,
    #[serde(rename = "LastError")]
    pub last_error: String,
    /// RFC 3339; empty when it never started.
    #[serde(rename = "StartedAt")]
    pub started_at: String,
}

/// What a user may change with `docker plugin set`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct PluginSettings {
    #[serde(rename = "Mounts", default, deserialize_with = "null_default")]
    pub mounts: Vec<PluginMount>,
    #[serde(rename = "Env", default, deserialize_with = "null_default")]
    pub env: Vec<String>,
    #[serde(rename = "Args", default, deserialize_with = "null_default")]
    pub args: Vec<String>,
    #[serde(rename = "Devices", default, deserialize_with = "null_default")]
    pub devices: Vec<PluginDevice>,
}

/// The plugin's manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct PluginConfig {
    #[serde(
        rename = "DockerVersion",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub docker_version: String,
    #[serde(rename = "Description", default)]
    pub description: String,
    #[serde(rename = "Documentation", default)]
    pub documentation: String,
    #[serde(rename = "Interface", default)]
    pub interface: PluginInterface,
    #[serde(rename = "Entrypoint", default, deserialize_with = "null_default")]
    pub entrypoint: Vec<String>,
    #[serde(rename = "WorkDir", default)]
    pub work_dir: String,
    #[serde(rename = "User", default)]
    pub user: PluginUser,
    #[serde(rename = "Network", default)]
    pub network: PluginNetwork,
    #[serde(rename = "Linux", default)]
    pub linux: PluginLinux,
    #[serde(rename = "PropagatedMount", default)]
    pub propagated_mount: String,
    #[serde(rename = "IpcHost", default)]
    pub ipc_host: bool,
    #[serde(rename = "PidHost", default)]
    pub pid_host: bool,
    #[serde(rename = "Mounts", default, deserialize_with = "null_default")]
    pub mounts: Vec<PluginMount>,
    #[serde(rename = "Env", default, deserialize_with = "null_default")]
    pub env: Vec<PluginEnv>,
    #[serde(rename = "Args", default)]
    pub args: PluginArgs,
    #[serde(rename = "rootfs", default, skip_serializing_if = "Option::is_none")]
    pub rootfs: Option<PluginRootfs>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct PluginInterface {
    /// `docker.volumedriver/1.0`, `docker.authz/1.0`, ...
    #[serde(rename = "Types", default, deserialize_with = "null_default")]
    pub types: Vec<String>,
    /// The socket's file name, created by the plugin in /run/docker/plugins.
    #[serde(rename = "Socket", default)]
    pub socket: String,
    #[serde(
        rename = "ProtocolScheme",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub protocol_scheme: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct PluginUser {
    #[serde(rename = "UID", default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(rename = "GID", default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct PluginNetwork {
    /// `host`, `bridge`, `none` (or empty: its own network namespace).
    #[serde(rename = "Type", default)]
    pub typ: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct PluginLinux {
    #[serde(rename = "Capabilities", default, deserialize_with = "null_default")]
    pub capabilities: Vec<String>,
    #[serde(rename = "AllowAllDevices", default)]
    pub allow_all_devices: bool,
    #[serde(rename = "Devices", default, deserialize_with = "null_default")]
    pub devices: Vec<PluginDevice>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct PluginMount {
    #[serde(rename = "Name", default)]
    pub name: String,
    #[serde(rename = "Description", default)]
    pub description: String,
    #[serde(rename = "Settable", default, deserialize_with = "null_default")]
    pub settable: Vec<String>,
    #[serde(rename = "Source", default)]
    pub source: Option<String>,
    #[serde(rename = "Destination", default)]
    pub destination: String,
    #[serde(rename = "Type", default)]
    pub typ: String,
    #[serde(rename = "Options", default, deserialize_with = "null_default")]
    pub options: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct PluginDevice {
    #[serde(rename = "Name", default)]
    pub name: String,
    #[serde(rename = "Description", default)]
    pub description: String,
    #[serde(rename = "Settable", default, deserialize_with = "null_default")]
    pub settable: Vec<String>,
    #[serde(rename = "Path", default)]
    pub path: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct PluginEnv {
    #[serde(rename = "Name", default)]
    pub name: String,
    #[serde(rename = "Description", default)]
    pub description: String,
    #[serde(rename = "Settable", default, deserialize_with = "null_default")]
    pub settable: Vec<String>,
    #[serde(rename = "Value", default)]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct PluginArgs {
    #[serde(rename = "Name", default)]
    pub name: String,
    #[serde(rename = "Description", default)]
    pub description: String,
    #[serde(rename = "Settable", default, deserialize_with = "null_default")]
    pub settable: Vec<String>,
    #[serde(rename = "Value", default, deserialize_with = "null_default")]
    pub value: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct PluginRootfs {
    #[serde(rename = "type", default)]
    pub typ: String,
    #[serde(rename = "diff_ids", default, deserialize_with = "null_default")]
    pub diff_ids: Vec<String>,
}

/// One thing a plugin asks to be allowed, as the CLI's install prompt shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct PluginPrivilege {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Description", default)]
    pub description: String,
    #[serde(rename = "Value", default, deserialize_with = "null_default")]
    pub value: Vec<String>,
}

/// The canonical spelling of a manifest key, matched without regard to case
/// (dockerd decodes config.json case-insensitively).
fn canonical_key(lower: &str) -> Option<&'static str> {
    Some(match lower {
        "dockerversion" => "DockerVersion",
        "description" => "Description",
        "documentation" => "Documentation",
        "interface" => "Interface",
        "types" => "Types",
        "socket" => "Socket",
        "protocolscheme" => "ProtocolScheme",
        "entrypoint" => "Entrypoint",
        "workdir" => "WorkDir",
        "user" => "User",
        "uid" => "UID",
        "gid" => "GID",
        "network" => "Network",
        "type" => "Type",
        "linux" => "Linux",
        "capabilities" => "Capabilities",
        "allowalldevices" => "AllowAllDevices",
        "devices" => "Devices",
        "propagatedmount" => "PropagatedMount",
        "ipchost" => "IpcHost",
        "pidhost" => "PidHost",
        "mounts" => "Mounts",
        "env" => "Env",
        "args" => "Args",
        "name" => "Name",
        "settable" => "Settable",
        "value" => "Value",
        "source" => "Source",
        "destination" => "Destination",
        "options" => "Options",
        "path" => "Path",
        "rootfs" => "rootfs",
        _ => return None,
    })
}

fn canonicalise(v: serde_json::Value, in_rootfs: bool) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let lower = k.to_ascii_lowercase();
                    let key = if in_rootfs {
                        lower.clone()
                    } else {
                        canonical_key(&lower).map(str::to_string).unwrap_or(k)
                    };
                    let child_rootfs = !in_rootfs && lower == "rootfs";
                    (key, canonicalise(v, child_rootfs || in_rootfs))
                })
                .collect(),
        ),
        Value::Array(a) => {
            Value::Array(a.into_iter().map(|v| canonicalise(v, in_rootfs)).collect())
        }
        v => v,
    }
}

impl PluginConfig {
    /// Parses a plugin's config.json, whatever the letter case of its keys.
    pub fn from_manifest(data: &[u8]) -> Result<PluginConfig, String> {
        let v: serde_json::Value =
            serde_json::from_slice(data).map_err(|e| format!("invalid config.json: {e}"))?;
        if !v.is_object() {
            return Err("invalid config.json: not a JSON object".into());
        }
        serde_json::from_value(canonicalise(v, false))
            .map_err(|e| format!("invalid config.json: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_keys_in_any_case() {
        let c = PluginConfig::from_manifest(
            br#"{"description":"d","interface":{"types":["docker.volumedriver/1.0"],"socket":"p.sock"},
                "entrypoint":["/p","--x"],"workdir":"/w","network":{"type":"host"},
                "linux":{"capabilities":["CAP_SYS_ADMIN"],"allowAllDevices":true,
                         "devices":[{"name":"fuse","path":"/dev/fuse","settable":["path"]}]},
                "propagatedMount":"/data","PIDHOST":true,
                "mounts":[{"name":"state","source":"/var/lib/x","destination":"/x","type":"bind","options":["rbind"]}],
                "env":[{"name":"DEBUG","value":"0","settable":["value"]}],
                "args":{"name":"args","settable":["value"],"value":["-v"]},
                "rootfs":{"type":"layers","diff_ids":["sha256:ab"]}}"#,
        )
        .unwrap();
        assert_eq!(c.interface.types, vec!["docker.volumedriver/1.0"]);
        assert_eq!(c.interface.socket, "p.sock");
        assert_eq!(c.entrypoint, vec!["/p", "--x"]);
        assert_eq!(c.work_dir, "/w");
        assert_eq!(c.network.typ, "host");
        assert!(c.linux.allow_all_devices);
        assert_eq!(c.linux.devices[0].path.as_deref(), Some("/dev/fuse"));
        assert_eq!(c.propagated_mount, "/data");
        assert!(c.pid_host && !c.ipc_host);
        assert_eq!(c.mounts[0].source.as_deref(), Some("/var/lib/x"));
        assert_eq!(c.env[0].value.as_deref(), Some("0"));
        assert_eq!(c.args.value, vec!["-v"]);
        let r = c.rootfs.unwrap();
        assert_eq!((r.typ.as_str(), r.diff_ids.len()), ("layers", 1));
        assert!(PluginConfig::from_manifest(b"[1]").is_err());
        assert!(PluginConfig::from_manifest(br#"{"entrypoint":"notalist"}"#).is_err());
    }

    #[test]
    fn plugin_serialises_with_api_names() {
        let p = Plugin {
            id: "abc".into(),
            name: "x:latest".into(),
            ..Default::default()
        };
        let v = serde_json::to_value(&p).unwrap();
        for k in [
            "Id",
            "Name",
            "Enabled",
            "Settings",
            "PluginReference",
            "Config",
        ] {
            assert!(v.get(k).is_some(), "{k} missing in {v}");
        }
        assert!(v.get("State").is_none());
        assert!(v["Config"]["Interface"].get("Types").is_some());
        assert!(v["Settings"].get("Mounts").is_some());
    }
}
