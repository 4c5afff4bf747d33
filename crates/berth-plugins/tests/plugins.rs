//! The testkit's volume conformance suite run against the built-in local
//! driver (as the volume store registers it), and through the proxy against
//! an SDK plugin and a plugin in Python's standard library; fake plugins that hang, die mid-call or
//! answer garbage must cost the caller a clear error within seconds.

use berth_core::volumes::VolumeDriver;
use berth_plugin_sdk::*;
use berth_plugins::{
    ClientOptions, Discovery, Registry, RegistryOptions, VolumePluginDriver, VolumeStore,
};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_testkit::suites::volume::{self as suite, Checks};

struct SdkDir(PathBuf);

#[async_trait]
impl VolumeHandler for SdkDir {
    async fn create(&self, r: CreateRequest) -> HResult<()> {
        std::fs::create_dir_all(self.0.join(&r.name)).map_err(|e| e.to_string())
    }
    async fn remove(&self, r: NameRequest) -> HResult<()> {
        std::fs::remove_dir_all(self.0.join(&r.name)).map_err(|e| e.to_string())
    }
    async fn mount(&self, r: MountRequest) -> HResult<String> {
        self.path(NameRequest { name: r.name }).await
    }
    async fn unmount(&self, _: MountRequest) -> HResult<()> {
        Ok(())
    }
    async fn path(&self, r: NameRequest) -> HResult<String> {
        let p = self.0.join(&r.name);
        if p.is_dir() {
            Ok(p.display().to_string())
        } else {
            Err(format!("no such volume {}", r.name))
        }
    }
    async fn get(&self, r: NameRequest) -> HResult<PluginVolume> {
        let m = self.path(r.clone()).await?;
        Ok(PluginVolume {
            name: r.name,
            mountpoint: m,
            ..Default::default()
        })
    }
    async fn list(&self) -> HResult<Vec<PluginVolume>> {
        Ok(std::fs::read_dir(&self.0)
            .unwrap()
            .flatten()
            .map(|e| PluginVolume {
                name: e.file_name().to_string_lossy().into_owned(),
                ..Default::default()
            })
            .collect())
    }
    fn capabilities(&self) -> Capability {
        Capability {
            scope: "global".into(),
        }
    }
}

fn registry(sockets: PathBuf) -> Registry {
    Registry::new(
        Discovery::new(vec![sockets], vec![]),
        RegistryOptions {
            client: ClientOptions {
                call_timeout: Duration::from_secs(1),
                ..Default::default()
            },
            activate_window: Duration::from_secs(2),
            activate_timeout: Duration::from_secs(1),
        },
    )
}

#[tokio::test]
async fn local_driver_passes_conformance() {
    let t = tempfile::tempdir().unwrap();
    let store = VolumeStore::open(
        t.path().join("volumes"),
        Arc::new(registry(t.path().join("run"))),
        Arc::new(berth_core::events::RecordingSink::default()),
    )
    .unwrap();
    // The default driver is the built-in the store registered.
    let d = store.drivers().get("").await.unwrap();
    assert_eq!(d.name(), "local");
    assert!(store.drivers().is_builtin(d.name()));
    suite::run(d.as_ref(), Checks::default()).await;
    assert!(d.host_data("conf-a").is_some());
}

#[tokio::test]
async fn python_plugin_passes_conformance_through_the_proxy() {
    let t = tempfile::tempdir().unwrap();
    let run = t.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    let mut child = std::process::Command::new("python3")
        .arg(suite::pyvol_script())
        .arg(run.join("pyvol.sock"))
        .arg(t.path().join("vols"))
        .arg(t.path().join("calls.log"))
        .spawn()
        .unwrap();
    let reg = Arc::new(registry(run));
    let drivers = berth_core::drivers::DriverRegistry::<dyn VolumeDriver>::new(
        berth_core::drivers::DriverKind::Volume,
    );
    drivers.set_plugins(berth_plugins::VolumePlugins::new(reg.clone()));
    // Found through the registry's resolver, waited for while it starts.
    let d = drivers
        .wait_for("pyvol", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(d.name(), "pyvol");
    assert_eq!(d.scope().await.unwrap(), berth_core::volumes::Scope::Global);
    suite::run(d.as_ref(), Checks::default()).await;
    let log = std::fs::read_to_string(t.path().join("calls.log")).unwrap();
    assert!(log.contains("VolumeDriver.Remove"), "{log}");
    assert_eq!(drivers.names(), ["pyvol"]);
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn sdk_plugin_passes_conformance_through_the_proxy() {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let sock = t.path().join("run/sdkdir.sock");
    tokio::spawn(
        PluginServer::new()
            .volume(SdkDir(data))
            .serve_unix_until(sock.clone(), std::future::pending()),
    );
    let reg = registry(t.path().join("run"));
    // The plugin may not be up yet: wait for it, within a bound.
    let p = reg
        .wait_for("sdkdir", "VolumeDriver", Duration::from_secs(5))
        .await
        .unwrap();
    let d = VolumePluginDriver::new(p);
    assert_eq!(d.scope().await.unwrap(), berth_core::volumes::Scope::Global);
    suite::run(&d, Checks::default()).await;
    assert_eq!(reg.activated("VolumeDriver"), vec!["sdkdir"]);
}

#[tokio::test]
async fn unknown_plugin_fails_at_once() {
    let t = tempfile::tempdir().unwrap();
    let reg = registry(t.path().to_path_buf());
    let start = Instant::now();
    let e = reg.get("nope", "VolumeDriver").await.unwrap_err();
    assert!(start.elapsed() < Duration::from_millis(200));
    assert!(e.to_string().contains("not found"), "{e}");
}

/// A fake plugin: answers Activate properly, then misbehaves as `mode` says.
fn fake_plugin(path: PathBuf, mode: &'static str) {
    let l = std::os::unix::net::UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let n = s.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                if req.starts_with("POST /Plugin.Activate") {
                    let body = r#"{"Implements":["VolumeDriver"]}"#;
                    let _ = write!(
                        s,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    return;
                }
                match mode {
                    "hang" => std::thread::sleep(Duration::from_secs(3600)),
                    "die" => drop(s),
                    _ => {
                        let _ =
                            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n<garbage>");
                    }
                }
            });
        }
    });
}

#[tokio::test]
async fn misbehaving_plugins_cost_seconds_and_trip_the_breaker() {
    let t = tempfile::tempdir().unwrap();
    for mode in ["hang", "die", "garbage"] {
        fake_plugin(t.path().join(format!("{mode}.sock")), mode);
    }
    let reg = Arc::new(registry(t.path().to_path_buf()));
    for mode in ["hang", "die", "garbage"] {
        let d = VolumePluginDriver::new(reg.get(mode, "VolumeDriver").await.unwrap());
        let start = Instant::now();
        let e = d.create("v", &BTreeMap::new()).await.unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(3), "{mode}");
        let msg = e.message.to_lowercase();
        assert!(
            msg.contains(mode) || msg.contains("invalid response") || msg.contains("answer"),
            "{mode}: {msg}"
        );
        // After the threshold, calls fail fast without touching the plugin.
        let _ = d.create("v", &BTreeMap::new()).await;
        let _ = d.create("v", &BTreeMap::new()).await;
        let start = Instant::now();
        let e = d.create("v", &BTreeMap::new()).await.unwrap_err();
        assert!(start.elapsed() < Duration::from_millis(100), "{mode}");
        assert!(e.message.contains("not calling it again"), "{mode}: {e}");
    }
}

/// A plugin whose socket exists but refuses connections (still starting)
/// is retried within the activation window, and activated once it answers.
#[tokio::test]
async fn activate_is_retried_while_the_plugin_starts() {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(t.path().join("run")).unwrap();
    let sock = t.path().join("run/slow.sock");
    // Bound, then closed: the file is a socket nobody listens on.
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    let reg = registry(t.path().join("run"));
    let sock2 = sock.clone();
    let server = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        std::fs::remove_file(&sock2).unwrap();
        PluginServer::new()
            .volume(SdkDir(data))
            .serve_unix_until(sock2, std::future::pending())
            .await
    });
    let start = Instant::now();
    let p = reg.get("slow", "VolumeDriver").await.unwrap();
    assert!(start.elapsed() >= Duration::from_millis(350));
    assert_eq!(p.name(), "slow");
    server.abort();
}
