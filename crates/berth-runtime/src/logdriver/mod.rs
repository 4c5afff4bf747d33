//! The log drivers berth has built in, `json-file` and `none`, and the one
//! place they are registered ([`builtin_registry`]). Everything else asks
//! the registry for a driver by `HostConfig.LogConfig.Type` and carries out
//! what the driver describes: [`write::ContainerLog`] in the shim for a
//! [`LogSink`], [`read()`] in the daemon for a [`LogSource`].

pub mod read;
pub mod write;

pub use read::read;
pub use write::{ContainerLog, Stream};

use crate::logs::parse_size;
use crate::RuntimeError;
use berth_core::drivers::{DriverKind, DriverRegistry};
use berth_core::logs::{not_readable, LogCapabilities, LogContext, LogDriver, LogSink, LogSource};
use berth_types::container::{ContainerConfig, HostConfig};
use berth_types::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// The log registry with the built-ins, `json-file` first (the default).
pub fn builtin_registry() -> DriverRegistry<dyn LogDriver> {
    let r = DriverRegistry::<dyn LogDriver>::new(DriverKind::Log);
    let builtins: [Arc<dyn LogDriver>; 2] = [Arc::new(JsonFile), Arc::new(NoLog)];
    for d in builtins {
        r.register(d.name(), d.clone())
            .expect("built-in log drivers have distinct names");
    }
    r
}

/// The process's log registry, built by [`builtin_registry`] on first use.
/// The daemon sets its default (`log-driver`) and plugin resolver here.
pub fn registry() -> &'static DriverRegistry<dyn LogDriver> {
    static REGISTRY: OnceLock<DriverRegistry<dyn LogDriver>> = OnceLock::new();
    REGISTRY.get_or_init(builtin_registry)
}

/// `/info`'s `Plugins.Log`: the built-ins, then the log plugins that are up.
pub fn names() -> Vec<String> {
    registry().names()
}

/// `/info`'s `LoggingDriver`: what an empty `LogConfig.Type` means.
pub fn default_name() -> String {
    registry().default_name()
}

/// The driver of `typ` (empty: the default), a built-in or a plugin.
pub async fn driver(typ: &str) -> Result<Arc<dyn LogDriver>> {
    registry().get(typ).await
}

/// The built-in driver of `typ` (empty: the default), for the paths that
/// cannot wait for a plugin yet (the shim config of [`crate::ShimConfig::for_container`]).
pub fn builtin_driver(typ: &str) -> Result<Arc<dyn LogDriver>, RuntimeError> {
    let r = registry();
    let name = if typ.is_empty() {
        r.default_name()
    } else {
        typ.to_string()
    };
    r.builtin(&name).ok_or_else(|| {
        RuntimeError::InvalidParameter(format!(
            "logging driver {name:?} is not supported ({})",
            r.builtin_names().join(" or ")
        ))
    })
}

/// What a container's log driver is told about it.
pub fn context(
    id: &str,
    log_path: &Path,
    config: &ContainerConfig,
    host_config: &HostConfig,
) -> LogContext {
    LogContext {
        container_id: id.to_string(),
        image: config.image.clone(),
        config: host_config.log_config.config.clone(),
        log_path: log_path.to_path_buf(),
    }
}

/// How `docker logs` reads the container `ctx` describes, asked of the
/// driver of `typ`: dockerd's 400 when that driver cannot be read.
pub async fn source(typ: &str, ctx: &LogContext) -> Result<LogSource> {
    let d = driver(typ).await?;
    if !d.capabilities().read_logs {
        return Err(not_readable());
    }
    d.source(ctx)
}

/// `max-size` and `max-file`, as json-file rotates with them.
fn rotation(config: &BTreeMap<String, String>) -> Result<(Option<u64>, u32)> {
    let max_size = match config.get("max-size") {
        Some(s) => {
            Some(parse_size(s).ok_or_else(|| Error::invalid(format!("invalid max-size {s:?}")))?)
        }
        None => None,
    };
    let max_file = match config.get("max-file") {
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| Error::invalid(format!("invalid max-file {s:?}")))?,
        None => 1,
    };
    Ok((max_size, max_file))
}

/// dockerd's default driver: JSON lines in `<id>-json.log`, rotated by
/// `max-size` / `max-file`, readable back.
struct JsonFile;

impl LogDriver for JsonFile {
    fn name(&self) -> &str {
        "json-file"
    }
    fn validate(&self, config: &BTreeMap<String, String>) -> Result<()> {
        rotation(config).map(drop)
    }
    fn sink(&self, ctx: &LogContext) -> Result<LogSink> {
        let (max_size, max_file) = rotation(&ctx.config)?;
        Ok(LogSink::JsonFile {
            path: ctx.log_path.clone(),
            max_size,
            max_file,
        })
    }
    fn capabilities(&self) -> LogCapabilities {
        LogCapabilities { read_logs: true }
    }
    fn source(&self, ctx: &LogContext) -> Result<LogSource> {
        Ok(LogSource::JsonFile {
            path: ctx.log_path.clone(),
        })
    }
}

/// `none`: the output is kept nowhere and cannot be read back.
struct NoLog;

impl LogDriver for NoLog {
    fn name(&self) -> &str {
        "none"
    }
    // berth has always refused bad rotation values here too (dockerd takes
    // any option for `none`); kept so that nothing a client sees changes.
    fn validate(&self, config: &BTreeMap<String, String>) -> Result<()> {
        rotation(config).map(drop)
    }
    fn sink(&self, ctx: &LogContext) -> Result<LogSink> {
        self.validate(&ctx.config)?;
        Ok(LogSink::Discard)
    }
    fn capabilities(&self) -> LogCapabilities {
        LogCapabilities::default()
    }
    fn source(&self, _ctx: &LogContext) -> Result<LogSource> {
        Err(not_readable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_types::ErrorKind;

    fn ctx(opts: &[(&str, &str)]) -> LogContext {
        LogContext {
            container_id: "c1".into(),
            log_path: "/data/containers/c1/c1-json.log".into(),
            config: opts
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn json_file_is_the_default_and_none_is_listed() {
        let r = builtin_registry();
        assert_eq!(r.default_name(), "json-file");
        assert_eq!(r.names(), vec!["json-file", "none"]);
        assert_eq!(default_name(), "json-file");
        assert_eq!(names(), vec!["json-file", "none"]);
    }

    #[test]
    fn json_file_describes_a_rotated_file() {
        let d = builtin_driver("").unwrap();
        assert_eq!(
            d.sink(&ctx(&[("max-size", "10k"), ("max-file", "3")]))
                .unwrap(),
            LogSink::JsonFile {
                path: "/data/containers/c1/c1-json.log".into(),
                max_size: Some(10240),
                max_file: 3,
            }
        );
        let e = d.sink(&ctx(&[("max-file", "0")])).unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::InvalidParameter, "invalid max-file \"0\"")
        );
        assert!(d.validate(&ctx(&[("max-size", "lots")]).config).is_err());
    }

    #[tokio::test]
    async fn none_discards_and_refuses_reads() {
        let d = builtin_driver("none").unwrap();
        assert_eq!(d.sink(&ctx(&[])).unwrap(), LogSink::Discard);
        assert!(!d.capabilities().read_logs);
        let e = source("none", &ctx(&[])).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidParameter);
        assert_eq!(
            e.message,
            "configured logging driver does not support reading"
        );
        assert!(matches!(
            source("", &ctx(&[])).await.unwrap(),
            LogSource::JsonFile { path } if path.ends_with("c1-json.log")
        ));
    }

    #[tokio::test]
    async fn unknown_names_are_refused() {
        let e = builtin_driver("syslog").err().unwrap();
        assert_eq!(
            e.to_string(),
            "logging driver \"syslog\" is not supported (json-file or none)"
        );
        let e = driver("syslog").await.err().unwrap();
        assert_eq!(e.kind, ErrorKind::NotFound);
    }
}
