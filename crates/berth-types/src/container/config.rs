//! `Config`: the portable part of a container's configuration, and its healthcheck.

use super::*;

/// `Config` of create and inspect: the portable part of a container's configuration.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct ContainerConfig {
    #[serde(rename = "Hostname", deserialize_with = "null_default")]
    pub hostname: String,
    #[serde(rename = "Domainname", deserialize_with = "null_default")]
    pub domainname: String,
    #[serde(rename = "User", deserialize_with = "null_default")]
    pub user: String,
    #[serde(rename = "AttachStdin", deserialize_with = "null_default")]
    pub attach_stdin: bool,
    #[serde(rename = "AttachStdout", deserialize_with = "null_default")]
    pub attach_stdout: bool,
    #[serde(rename = "AttachStderr", deserialize_with = "null_default")]
    pub attach_stderr: bool,
    #[serde(rename = "ExposedPorts", skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    #[serde(rename = "Tty", deserialize_with = "null_default")]
    pub tty: bool,
    #[serde(rename = "OpenStdin", deserialize_with = "null_default")]
    pub open_stdin: bool,
    #[serde(rename = "StdinOnce", deserialize_with = "null_default")]
    pub stdin_once: bool,
    #[serde(rename = "Env")]
    pub env: Option<Vec<String>>,
    #[serde(rename = "Cmd", deserialize_with = "str_or_seq")]
    pub cmd: Option<Vec<String>>,
    #[serde(rename = "Healthcheck", skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    #[serde(rename = "ArgsEscaped", skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    #[serde(rename = "Image", deserialize_with = "null_default")]
    pub image: String,
    #[serde(rename = "Volumes")]
    pub volumes: Option<BTreeMap<String, Value>>,
    #[serde(rename = "WorkingDir", deserialize_with = "null_default")]
    pub working_dir: String,
    #[serde(rename = "Entrypoint", deserialize_with = "str_or_seq")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(rename = "NetworkDisabled", skip_serializing_if = "Option::is_none")]
    pub network_disabled: Option<bool>,
    #[serde(rename = "MacAddress", skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    #[serde(rename = "OnBuild")]
    pub on_build: Option<Vec<String>>,
    #[serde(rename = "Labels", deserialize_with = "null_default")]
    pub labels: BTreeMap<String, String>,
    #[serde(rename = "StopSignal", skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(
        rename = "StopTimeout",
        deserialize_with = "opt_i64_lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub stop_timeout: Option<i64>,
    #[serde(rename = "Shell", skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
}

/// `Healthcheck` (durations in nanoseconds).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct HealthConfig {
    #[serde(rename = "Test", skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    #[serde(rename = "Interval", skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    #[serde(rename = "Timeout", skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    #[serde(rename = "Retries", skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
    #[serde(rename = "StartPeriod", skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i64>,
    #[serde(rename = "StartInterval", skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<i64>,
}
