//! The image configuration (the OCI image config with dockerd's extra
//! fields). Loaded configs are stored byte for byte, since the image ID is
//! their digest; these types only read them and build new ones on import.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct RootFs {
    #[serde(rename = "type", default)]
    pub typ: String,
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// The `config` object: how to run the image. Unknown fields are kept.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct RunConfig {
    #[serde(rename = "User", default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(
        rename = "ExposedPorts",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    #[serde(rename = "Env", default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(
        rename = "Entrypoint",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub entrypoint: Option<Vec<String>>,
    #[serde(rename = "Cmd", default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(rename = "Volumes", default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, Value>>,
    #[serde(
        rename = "WorkingDir",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub working_dir: Option<String>,
    #[serde(rename = "Labels", default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(
        rename = "StopSignal",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub stop_signal: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct ImageConfig {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<RunConfig>,
    #[serde(default)]
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ImageConfig {
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default()
    }

    /// `created` as Unix seconds (0 when absent or unparseable).
    pub fn created_unix(&self) -> i64 {
        self.created.as_deref().map(parse_rfc3339).unwrap_or(0)
    }
}

/// An RFC 3339 time as Unix seconds, 0 when unparseable.
pub fn parse_rfc3339(s: &str) -> i64 {
    berth_types::timestamp::parse_unix(s).unwrap_or(0)
}

pub fn now_rfc3339() -> String {
    berth_types::timestamp::now()
}

/// Applies `docker import --change` instructions (the Dockerfile subset
/// dockerd accepts there) to a run config.
pub fn apply_changes(cfg: &mut RunConfig, changes: &[String]) -> Result<(), String> {
    for change in changes {
        let change = change.trim();
        if change.is_empty() {
            continue;
        }
        let (instr, rest) = match change.split_once(char::is_whitespace) {
            Some((i, r)) => (i, r.trim()),
            None => (change, ""),
        };
        let instr = instr.to_ascii_uppercase();
        match instr.as_str() {
            "CMD" => cfg.cmd = Some(shell_or_json(rest)),
            "ENTRYPOINT" => cfg.entrypoint = Some(shell_or_json(rest)),
            "ENV" => {
                let env = cfg.env.get_or_insert_with(Vec::new);
                for (k, v) in key_values(rest, true)? {
                    env.retain(|e| e.split_once('=').map_or(e.as_str(), |x| x.0) != k);
                    env.push(format!("{k}={v}"));
                }
            }
            "LABEL" => {
                let labels = cfg.labels.get_or_insert_with(BTreeMap::new);
                for (k, v) in key_values(rest, false)? {
                    labels.insert(k, v);
                }
            }
            "EXPOSE" => {
                let ports = cfg.exposed_ports.get_or_insert_with(BTreeMap::new);
                for p in rest.split_whitespace() {
                    let p = if p.contains('/') {
                        p.to_string()
                    } else {
                        format!("{p}/tcp")
                    };
                    ports.insert(p, Value::Object(Map::new()));
                }
            }
            "USER" => cfg.user = Some(rest.to_string()),
            "WORKDIR" => cfg.working_dir = Some(rest.to_string()),
            "STOPSIGNAL" => cfg.stop_signal = Some(rest.to_string()),
            "VOLUME" => {
                let vols = cfg.volumes.get_or_insert_with(BTreeMap::new);
                let list = match serde_json::from_str::<Vec<String>>(rest) {
                    Ok(v) => v,
                    Err(_) => rest.split_whitespace().map(str::to_string).collect(),
                };
                for v in list {
                    vols.insert(v, Value::Object(Map::new()));
                }
            }
            other => {
                return Err(format!("{other} is not a valid change command"));
            }
        }
    }
    Ok(())
}

fn shell_or_json(rest: &str) -> Vec<String> {
    if rest.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Vec<String>>(rest) {
            return v;
        }
    }
    vec!["/bin/sh".to_string(), "-c".to_string(), rest.to_string()]
}

/// `K=V K2="v 2"` pairs, or the legacy `K V` form when `legacy_space`.
fn key_values(rest: &str, legacy_space: bool) -> Result<Vec<(String, String)>, String> {
    let words = split_words(rest);
    if words.is_empty() {
        return Err("missing arguments".into());
    }
    if !words[0].contains('=') {
        if !legacy_space && words.len() < 2 {
            return Err(format!("invalid key value pair: {rest}"));
        }
        let (k, v) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        return Ok(vec![(k.to_string(), unquote(v.trim()))]);
    }
    words
        .into_iter()
        .map(|w| {
            w.split_once('=')
                .map(|(k, v)| (k.to_string(), unquote(v)))
                .ok_or_else(|| format!("invalid key value pair: {w}"))
        })
        .collect()
}

fn split_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match quote {
            Some(q) if c == q => {
                quote = None;
                cur.push(c);
            }
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                cur.push(c);
            }
            None if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            None => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn unquote(v: &str) -> String {
    let b = v.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_dockerd_config_and_keeps_unknown_fields() {
        let raw = r#"{"architecture":"amd64","os":"linux","created":"2024-01-02T03:04:05.123Z",
            "config":{"Env":["PATH=/bin"],"Cmd":["sh"],"Labels":{"a":"b"},"Tty":false},
            "rootfs":{"type":"layers","diff_ids":["sha256:aa"]},
            "history":[{"created_by":"x","empty_layer":true}],"container":"abc"}"#;
        let c: ImageConfig = serde_json::from_str(raw).unwrap();
        assert_eq!(c.created_unix(), 1704164645);
        assert_eq!(c.labels()["a"], "b");
        assert!(c.history[0].empty_layer);
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["container"], "abc");
        assert_eq!(v["config"]["Tty"], false);
    }

    #[test]
    fn import_changes() {
        let mut rc = RunConfig::default();
        apply_changes(
            &mut rc,
            &[
                "CMD [\"/bin/sh\",\"-c\",\"echo hi\"]".into(),
                "ENTRYPOINT /bin/run".into(),
                "ENV A=1 B=\"two words\"".into(),
                "ENV C 3".into(),
                "EXPOSE 80 53/udp".into(),
                "LABEL x=y".into(),
                "USER nobody".into(),
                "WORKDIR /srv".into(),
                "VOLUME [\"/data\"]".into(),
            ],
        )
        .unwrap();
        assert_eq!(rc.cmd.unwrap(), vec!["/bin/sh", "-c", "echo hi"]);
        assert_eq!(rc.entrypoint.unwrap(), vec!["/bin/sh", "-c", "/bin/run"]);
        assert_eq!(rc.env.unwrap(), vec!["A=1", "B=two words", "C=3"]);
        let ports = rc.exposed_ports.unwrap();
        assert!(ports.contains_key("80/tcp") && ports.contains_key("53/udp"));
        assert_eq!(rc.labels.unwrap()["x"], "y");
        assert_eq!(rc.user.unwrap(), "nobody");
        assert_eq!(rc.working_dir.unwrap(), "/srv");
        assert!(rc.volumes.unwrap().contains_key("/data"));
        assert!(apply_changes(&mut RunConfig::default(), &["RUN x".into()]).is_err());
    }
}
