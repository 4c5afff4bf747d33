//! Running one plugin: its manifest and settings as an OCI spec, a shim
//! with the configured default runtime, readiness through `Plugin.Activate`
//! on its socket, and stopping it.

use super::{Entry, Plugins};
use berth_runtime::spec::{self, ResolvedMount, SpecOptions};
use berth_runtime::{ContainerPaths, ShimClient, ShimConfig};
use berth_types::container::{ContainerConfig, DeviceMapping, HostConfig};
use berth_types::plugin::PluginSettings;
use berth_types::{Error, Result};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where a plugin's socket appears inside it.
pub const SOCKET_DIR_IN_PLUGIN: &str = "/run/docker/plugins";

/// The host side of a plugin's PropagatedMount.
pub fn propagated_dir(plugin_dir: &Path) -> PathBuf {
    plugin_dir.join("propagated-mount")
}

/// Makes `dir` a shared mount point on the host, so mounts the plugin makes
/// under its PropagatedMount show up there.
fn make_shared(dir: &Path) -> Result<()> {
    use nix::mount::{mount, MsFlags};
    std::fs::create_dir_all(dir)?;
    if !berth_core::mountinfo::is_mountpoint(dir) {
        mount(
            Some(dir),
            dir,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| Error::internal(format!("bind-mounting {}: {e}", dir.display())))?;
    }
    mount(
        None::<&str>,
        dir,
        None::<&str>,
        MsFlags::MS_SHARED | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| Error::internal(format!("making {} shared: {e}", dir.display())))?;
    Ok(())
}

/// Undoes [`make_shared`] (before the plugin's directory is removed).
pub fn unmount_propagated(plugin_dir: &Path) {
    let dir = propagated_dir(plugin_dir);
    while berth_core::mountinfo::is_mountpoint(&dir) {
        if let Err(e) = nix::mount::umount2(&dir, nix::mount::MntFlags::MNT_DETACH) {
            tracing::warn!("unmounting {}: {e}", dir.display());
            break;
        }
    }
}

impl Plugins {
    fn paths(&self, e: &Entry) -> ContainerPaths {
        let exec = self.exec_dir(&e.id);
        let state_dir = exec.join("shim");
        ContainerPaths {
            bundle: state_dir.join("bundle"),
            state_dir,
            runtime_root: self
                .exec_root
                .parent()
                .unwrap_or(&self.exec_root)
                .join(format!("runtime-{}", self.runtime.name)),
            log_path: e.dir.join("plugin.log"),
            exit_file: e.dir.join("exit.json"),
        }
    }

    /// The plugin's socket dir on the host (bind-mounted at
    /// /run/docker/plugins inside it).
    pub(super) fn socket_dir(&self, e: &Entry) -> PathBuf {
        self.exec_dir(&e.id).join("sock")
    }

    pub(super) fn socket_path(&self, e: &Entry) -> PathBuf {
        self.socket_dir(e).join(&e.config.interface.socket)
    }

    /// The OCI spec of the plugin from its manifest and current settings.
    fn spec(&self, e: &Entry) -> Result<oci_spec::runtime::Spec> {
        let cfg = &e.config;
        let settings = e.rec().settings;
        let rootfs = e.dir.join("rootfs");
        let user = match (cfg.user.uid, cfg.user.gid) {
            (Some(u), Some(g)) => format!("{u}:{g}"),
            (Some(u), None) => u.to_string(),
            _ => String::new(),
        };
        let config = ContainerConfig {
            entrypoint: Some(cfg.entrypoint.clone()),
            cmd: (!settings.args.is_empty()).then(|| settings.args.clone()),
            env: Some(settings.env.clone()),
            working_dir: cfg.work_dir.clone(),
            user,
            hostname: "plugin".into(),
            ..Default::default()
        };
        let host = |b: bool| if b { "host" } else { "" }.to_string();
        let hc = HostConfig {
            network_mode: host(cfg.network.typ == "host"),
            pid_mode: host(cfg.pid_host),
            ipc_mode: host(cfg.ipc_host),
            cap_add: Some(cfg.linux.capabilities.clone()),
            devices: Some(
                settings
                    .devices
                    .iter()
                    .filter_map(|d| d.path.clone())
                    .map(|p| DeviceMapping {
                        path_on_host: p.clone(),
                        path_in_container: p,
                        cgroup_permissions: "rwm".into(),
                    })
                    .collect(),
            ),
            ..Default::default()
        };
        let mounts = self.mounts(e, &settings)?;
        let mut v = spec::build_spec_json(
            &config,
            &hc,
            &SpecOptions {
                id: e.id.clone(),
                rootfs,
                mounts,
                init_path: None,
                netns_path: None,
                default_private_cgroupns: spec::host_is_cgroup_v2(),
            },
        )?;
        if !cfg.propagated_mount.is_empty() {
            // "shared" is the OCI spelling; runc also takes "rshared", the
            // embedded runtime does not (it makes the root shared
            // recursively either way).
            v["linux"]["rootfsPropagation"] = json!("shared");
        }
        if cfg.linux.allow_all_devices {
            v["linux"]["resources"]["devices"] = json!([{"allow": true, "access": "rwm"}]);
        }
        serde_json::from_value(v).map_err(|err| Error::internal(format!("plugin spec: {err}")))
    }

    /// The plugin's socket directory, the mounts of its manifest (with the
    /// sources its settings give), and its propagated mount.
    fn mounts(&self, e: &Entry, settings: &PluginSettings) -> Result<Vec<ResolvedMount>> {
        let cfg = &e.config;
        let mut mounts = vec![ResolvedMount {
            destination: SOCKET_DIR_IN_PLUGIN.into(),
            typ: "bind".into(),
            source: self.socket_dir(e).display().to_string(),
            options: vec!["rbind".into(), "rw".into()],
        }];
        for m in &settings.mounts {
            let typ = if m.typ.is_empty() { "bind" } else { &m.typ };
            let mut options = m.options.clone();
            if typ == "bind" && !options.iter().any(|o| o == "bind" || o == "rbind") {
                options.push("rbind".into());
            }
            let source = match (&m.source, typ) {
                (Some(s), _) => s.clone(),
                (None, "bind") => {
                    return Err(Error::invalid(format!(
                        "plugin mount {:?} has no source: set it with `docker plugin set {} {}.source=PATH`",
                        m.name,
                        e.name(),
                        m.name
                    )))
                }
                (None, t) => t.to_string(),
            };
            mounts.push(ResolvedMount {
                destination: m.destination.clone(),
                typ: typ.to_string(),
                source,
                options,
            });
        }
        if !cfg.propagated_mount.is_empty() {
            mounts.push(ResolvedMount {
                destination: cfg.propagated_mount.clone(),
                typ: "bind".into(),
                source: propagated_dir(&e.dir).display().to_string(),
                options: vec!["rbind".into(), "rw".into(), "rshared".into()],
            });
        }
        Ok(mounts)
    }

    /// Starts the plugin's process (not waiting for it to answer).
    pub(super) async fn launch(&self, e: &Entry) -> Result<ShimClient> {
        let paths = self.paths(e);
        // A shim left from before (a daemon killed with -9) is reused if
        // the plugin still runs there.
        if let Ok(old) = ShimClient::open(&paths.state_dir).await {
            match old.status().await {
                Ok(berth_runtime::ShimStatus::Running(_)) => {
                    tracing::info!("plugin {}: reconnected to its running process", e.name());
                    return Ok(old);
                }
                _ => {
                    let _ = old.kill(libc::SIGKILL).await;
                    let _ = tokio::time::timeout(Duration::from_secs(5), old.wait()).await;
                    let _ = old.cleanup().await;
                }
            }
        }
        let sock_dir = self.socket_dir(e);
        let _ = std::fs::remove_dir_all(&sock_dir);
        std::fs::create_dir_all(&sock_dir)?;
        if !e.config.propagated_mount.is_empty() {
            let dir = propagated_dir(&e.dir);
            tokio::task::spawn_blocking(move || make_shared(&dir))
                .await
                .map_err(|err| Error::internal(err.to_string()))??;
        }
        let spec = self.spec(e)?;
        berth_runtime::write_bundle(&paths.bundle, &spec)
            .map_err(|err| Error::internal(format!("writing the plugin's OCI bundle: {err}")))?;
        let cfg = ShimConfig {
            id: e.id.clone(),
            bundle: paths.bundle.clone(),
            runtime: self.runtime.clone(),
            runtime_root: paths.runtime_root.clone(),
            state_dir: paths.state_dir.clone(),
            log_path: Some(paths.log_path.clone()),
            log_max_size: Some(4 << 20),
            log_max_file: 1,
            exit_file: paths.exit_file.clone(),
            tty: false,
            open_stdin: false,
            stdin_once: false,
            console_size: None,
        };
        let shim = ShimClient::create(&self.exe, cfg).await?;
        if let Err(err) = shim.start().await {
            let _ = shim.kill(libc::SIGKILL).await;
            let _ = shim.wait().await;
            let _ = shim.cleanup().await;
            return Err(err.into());
        }
        Ok(shim)
    }

    /// Waits up to `bound` for `Plugin.Activate` to answer on the plugin's
    /// socket. Fails at once if the process exits meanwhile.
    pub(super) async fn wait_ready(
        &self,
        e: &Entry,
        shim: &ShimClient,
        bound: Duration,
    ) -> Result<()> {
        let ep = berth_plugins::Endpoint {
            name: e.name(),
            addr: berth_plugins::discovery::Addr::Unix(self.socket_path(e)),
            tls: None,
            source: self.socket_path(e),
        };
        let client = berth_plugins::Client::new(ep, Default::default());
        let deadline = Instant::now() + bound;
        let mut last = String::from("its socket never appeared");
        loop {
            if self.socket_path(e).exists() {
                let left = deadline.saturating_duration_since(Instant::now());
                match client
                    .call_raw(
                        "Plugin.Activate",
                        b"{}".to_vec(),
                        left.clamp(Duration::from_millis(100), Duration::from_secs(5)),
                        false,
                    )
                    .await
                {
                    Ok(_) => return Ok(()),
                    Err(err) => last = err.to_string(),
                }
            }
            if let Some(st) = shim.exit_status() {
                return Err(Error::internal(format!(
                    "plugin {} exited with code {} before answering Plugin.Activate{}",
                    e.name(),
                    st.exit_code,
                    self.log_tail(e)
                )));
            }
            if Instant::now() >= deadline {
                return Err(Error::new(
                    berth_types::ErrorKind::Timeout,
                    format!(
                        "plugin {} did not answer Plugin.Activate within {:.1}s: {last}",
                        e.name(),
                        bound.as_secs_f64()
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The last lines the plugin wrote, for error messages.
    pub(super) fn log_tail(&self, e: &Entry) -> String {
        let Ok(text) = std::fs::read_to_string(self.paths(e).log_path) else {
            return String::new();
        };
        let lines: Vec<String> = text
            .lines()
            .rev()
            .take(3)
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["log"].as_str().map(|s| s.trim_end().to_string()))
            .collect();
        if lines.is_empty() {
            return String::new();
        }
        let mut lines = lines;
        lines.reverse();
        format!(" (its output: {})", lines.join(" | "))
    }

    /// Stops the plugin's process: SIGTERM, then SIGKILL after `grace` if
    /// it is still running (a plugin that ignores SIGTERM, or is a PID 1
    /// that never handled it). Says which it took.
    pub(super) async fn stop_process(&self, shim: &ShimClient, grace: Duration) {
        let started = Instant::now();
        match shim.kill(libc::SIGTERM).await {
            Ok(()) | Err(berth_runtime::RuntimeError::NotRunning(_)) => {}
            Err(err) => tracing::debug!("SIGTERM to plugin {}: {err}", shim.id()),
        }
        let st = match tokio::time::timeout(grace, shim.wait()).await {
            Ok(st) => st,
            Err(_) => {
                tracing::warn!(
                    "plugin {} did not stop within {:.1}s of SIGTERM; killing it",
                    shim.id(),
                    grace.as_secs_f64()
                );
                if let Err(err) = shim.kill(libc::SIGKILL).await {
                    tracing::debug!("SIGKILL to plugin {}: {err}", shim.id());
                }
                shim.wait().await
            }
        };
        match st {
            Ok(st) => tracing::info!(
                "plugin {} stopped (exit code {}) in {:.2}s",
                shim.id(),
                st.exit_code,
                started.elapsed().as_secs_f64()
            ),
            Err(err) => tracing::debug!("stopping plugin {}: {err}", shim.id()),
        }
        if let Err(err) = shim.cleanup().await {
            tracing::debug!("cleaning up plugin {}: {err}", shim.id());
        }
    }
}
