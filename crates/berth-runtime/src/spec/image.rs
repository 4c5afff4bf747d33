//! The image's config folded into a create request's Config, and the argv
//! that results.

use crate::{Result, RuntimeError};
use berth_types::container::ContainerConfig;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The part of an image's config (`config` in the OCI image config) that
/// shapes the process.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ImageRuntimeConfig {
    #[serde(rename = "Env")]
    pub env: Option<Vec<String>>,
    #[serde(rename = "Cmd")]
    pub cmd: Option<Vec<String>>,
    #[serde(rename = "Entrypoint")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(rename = "WorkingDir")]
    pub working_dir: Option<String>,
    #[serde(rename = "User")]
    pub user: Option<String>,
    #[serde(rename = "Labels")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(rename = "StopSignal")]
    pub stop_signal: Option<String>,
    #[serde(rename = "ExposedPorts")]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    #[serde(rename = "Volumes")]
    pub volumes: Option<BTreeMap<String, Value>>,
    #[serde(rename = "Healthcheck")]
    pub healthcheck: Option<berth_types::container::HealthConfig>,
}

pub(super) fn env_key(kv: &str) -> &str {
    kv.split_once('=').map_or(kv, |(k, _)| k)
}

/// Replaces or appends each of `overrides` in `base` by variable name.
pub fn merge_env(base: &mut Vec<String>, overrides: &[String]) {
    for kv in overrides {
        let key = env_key(kv);
        match base.iter_mut().find(|e| env_key(e) == key) {
            Some(slot) => *slot = kv.clone(),
            None => base.push(kv.clone()),
        }
    }
}

/// dockerd's merge of the image config into a create request's Config.
pub fn merge_image_config(config: &mut ContainerConfig, image: &ImageRuntimeConfig) {
    if config.user.is_empty() {
        config.user = image.user.clone().unwrap_or_default();
    }
    if let Some(img_env) = &image.env {
        let mut env = img_env.clone();
        merge_env(&mut env, config.env.as_deref().unwrap_or(&[]));
        config.env = Some(env);
    }
    if let Some(labels) = &image.labels {
        for (k, v) in labels {
            config.labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    if config.entrypoint.as_ref().is_none_or(Vec::is_empty) {
        if config.cmd.as_ref().is_none_or(Vec::is_empty) {
            config.cmd = image.cmd.clone();
        }
        if config.entrypoint.is_none() {
            config.entrypoint = image.entrypoint.clone();
        }
    }
    if config.working_dir.is_empty() {
        config.working_dir = image.working_dir.clone().unwrap_or_default();
    }
    if config.stop_signal.is_none() {
        config.stop_signal = image.stop_signal.clone();
    }
    // Ports and volumes are unions of the image's and the container's, as
    // dockerd merges them (the CLI sends empty maps, not nulls).
    if let Some(ports) = &image.exposed_ports {
        let mine = config.exposed_ports.get_or_insert_with(Default::default);
        for (k, v) in ports {
            mine.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    if let Some(vols) = &image.volumes {
        let mine = config.volumes.get_or_insert_with(Default::default);
        for (k, v) in vols {
            mine.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    if config.healthcheck.is_none() {
        config.healthcheck = image.healthcheck.clone();
    }
}

/// The process's argv from a merged Config: entrypoint then cmd. An
/// entrypoint of `[""]` (`--entrypoint ""`) means none.
pub fn argv(config: &ContainerConfig) -> Result<Vec<String>> {
    let mut out: Vec<String> = config
        .entrypoint
        .iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect();
    if out.is_empty() && config.entrypoint.as_ref().is_some_and(|e| !e.is_empty()) {
        // explicit empty entrypoint: only the cmd remains
    }
    out.extend(config.cmd.iter().flatten().cloned());
    if out.is_empty() {
        return Err(RuntimeError::InvalidParameter(
            "no command specified".to_string(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::testutil::req;

    #[test]
    fn merge_follows_dockerd() {
        let image = ImageRuntimeConfig {
            env: Some(vec!["PATH=/img".into(), "A=1".into()]),
            cmd: Some(vec!["sh".into()]),
            entrypoint: Some(vec!["/entry".into()]),
            working_dir: Some("/w".into()),
            user: Some("www".into()),
            ..Default::default()
        };
        let mut c = req(r#"{"Env":["A=2","B=3"]}"#).config;
        merge_image_config(&mut c, &image);
        assert_eq!(c.env.unwrap(), vec!["PATH=/img", "A=2", "B=3"]);
        assert_eq!(c.user, "www");
        assert_eq!(c.working_dir, "/w");
        assert_eq!(c.entrypoint.unwrap(), vec!["/entry"]);
        assert_eq!(c.cmd.unwrap(), vec!["sh"]);
        // A user entrypoint drops the image's cmd.
        let mut c = req(r#"{"Entrypoint":["echo"]}"#).config;
        merge_image_config(&mut c, &image);
        assert_eq!(argv(&c).unwrap(), vec!["echo"]);
        // A user cmd replaces the image cmd but keeps its entrypoint.
        let mut c = req(r#"{"Cmd":["x"]}"#).config;
        merge_image_config(&mut c, &image);
        assert_eq!(argv(&c).unwrap(), vec!["/entry", "x"]);
        // --entrypoint "" with a cmd.
        let mut c = req(r#"{"Entrypoint":[""],"Cmd":["ls"]}"#).config;
        merge_image_config(&mut c, &image);
        assert_eq!(argv(&c).unwrap(), vec!["ls"]);
        let c = req("{}").config;
        assert!(argv(&c).is_err());
    }
}
