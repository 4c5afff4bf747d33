//! berthd: the berth daemon.
//!
//! One binary, several entry points: `berthd shim ...` (the per-container
//! shim), `berthd runc ...` (the embedded OCI runtime) and `berthd proxy ...`
//! (the per-container port proxy) must run in a fresh single-threaded
//! process (they fork), so they are dispatched here before any tokio runtime
//! or thread exists.

mod config;
mod daemon_json;
mod flags;
mod listeners;
mod pidfile;

use berth_engine::{containers, daemon, images, networks, plugins, system, volumes};

use anyhow::{Context, Result};
use std::ffi::OsString;
use std::os::unix::fs::DirBuilderExt;
use std::sync::Arc;
use tracing_subscriber::prelude::*;

fn main() {
    let args: Vec<OsString> = std::env::args_os().collect();
    // The multicall entry points run before any thread or runtime exists.
    match args.get(1).and_then(|a| a.to_str()) {
        Some("shim") => std::process::exit(berth_runtime::shim::main_from_args(args[2..].to_vec())),
        Some("runc") => std::process::exit(berth_runc::main_from_args(args[2..].to_vec())),
        Some(berth_network::proxy_process::SUBCOMMAND) => std::process::exit(
            berth_network::proxy_process::main_from_args(args[2..].to_vec()),
        ),
        _ => {}
    }
    if let Err(e) = run(args) {
        eprintln!("berthd: {e:#}");
        std::process::exit(1);
    }
}

fn level_filter(level: &str) -> tracing_subscriber::filter::LevelFilter {
    use tracing_subscriber::filter::LevelFilter;
    match level {
        "trace" => LevelFilter::TRACE,
        "debug" => LevelFilter::DEBUG,
        "info" => LevelFilter::INFO,
        "warn" => LevelFilter::WARN,
        _ => LevelFilter::ERROR,
    }
}

fn run(args: Vec<OsString>) -> Result<()> {
    let cfg = config::load(args)?;

    let (filter, handle) = tracing_subscriber::reload::Layer::new(level_filter(&cfg.log_level));
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .init();
    let log_reload: Box<dyn Fn(&str) + Send + Sync> = Box::new(move |level: &str| {
        let _ = handle.modify(|f| *f = level_filter(level));
    });
    for k in &cfg.ignored_keys {
        tracing::warn!("daemon.json: {k} is a dockerd option berth does not act on yet; ignored");
    }

    let hosts = listeners::check_hosts(&cfg)?;
    let _pid = pidfile::PidFile::acquire(&cfg.pidfile)?;
    for dir in [&cfg.data_root, &cfg.exec_root] {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("berthd")
        .build()?;
    rt.block_on(serve(cfg, hosts, log_reload))
}

async fn serve(
    cfg: config::Config,
    hosts: Vec<listeners::Host>,
    log_reload: Box<dyn Fn(&str) + Send + Sync>,
) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;

    let (endpoints, sockets) = listeners::bind_all(&cfg, &hosts)?;
    let net_cfg = networks::net_config(&cfg)?;
    let d = daemon::Daemon::new(cfg, log_reload)?;
    let netmgr = berth_network::NetworkManager::start(net_cfg, d.events.clone())
        .await
        .map_err(|e| anyhow::anyhow!("starting networking: {e}"))?;
    let _ = d.containers.network.set(netmgr.clone());
    let routes = axum::Router::new()
        .merge(berth_api::system::routes(system::backend(d.clone())))
        .merge(berth_api::events::routes(d.events.clone()))
        .merge(containers::backend::routes(d.containers.clone()))
        .merge(images::routes(d.images.clone(), d.events.clone()))
        .merge(volumes::routes(d.volumes.clone()))
        .merge(plugins::backend::routes(d.managed.clone()))
        .merge(networks::routes(netmgr.clone(), d.containers.clone()));
    // Plugins first (bounded wait), then volumes and networks, then containers.
    d.managed.start_enabled().await;
    d.containers.restore().await;
    networks::sweep(&netmgr, &d.containers).await;
    let experimental: berth_api::headers::ExperimentalFn = {
        let d = d.clone();
        std::sync::Arc::new(move || berth_api::system::SystemBackend::experimental(&*d))
    };
    let app = berth_api::serve::App::new(routes)
        .with_authz(d.authz.clone())
        .with_identity(berth_api::headers::Identity::new(
            env!("CARGO_PKG_VERSION"),
            experimental,
        ));

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(berth_api::serve::serve(app, endpoints, stop_rx));
    tracing::info!(
        "berthd {} ready on {}",
        env!("CARGO_PKG_VERSION"),
        d.config.read().unwrap().hosts.join(", ")
    );
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: shutting down"); break; }
            _ = int.recv() => { tracing::info!("SIGINT: shutting down"); break; }
            _ = hup.recv() => {
                let d2: Arc<daemon::Daemon> = d.clone();
                match tokio::task::spawn_blocking(move || reload(&d2)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::error!("reload failed: {e:#}"),
                    Err(e) => tracing::error!("reload panicked: {e}"),
                }
            }
        }
    }
    // End /events streams first, so graceful shutdown does not wait on them.
    d.events.shutdown();
    let _ = stop_tx.send(true);
    let _ = server.await;
    if let Err(e) = netmgr.shutdown().await {
        tracing::warn!("network shutdown: {e}");
    }
    d.managed.shutdown().await;
    if let Err(e) = d.events.sync() {
        tracing::warn!("syncing the event journal: {e}");
    }
    for s in sockets {
        let _ = std::fs::remove_file(s);
    }
    tracing::info!("berthd stopped");
    Ok(())
}

/// SIGHUP: re-reads daemon.json and hands what can change while running to
/// the engine.
fn reload(d: &daemon::Daemon) -> Result<()> {
    let path = d.config.read().unwrap().config_file.clone();
    let Some(path) = path else {
        tracing::info!("SIGHUP: no configuration file to reload");
        return Ok(());
    };
    let file = daemon_json::read_config_file(&path, true)?.unwrap_or_default();
    let prefix = format!(
        "unable to reload the berth daemon with file {}",
        path.display()
    );
    daemon_json::check_keys(&file, &[], &|_| String::new())
        .map_err(|e| anyhow::anyhow!("{prefix}: {e}"))?;
    let r = config::Reloadable::from_file(&file).map_err(|e| anyhow::anyhow!("{prefix}: {e}"))?;
    d.reload(|cfg| r.apply(cfg));
    tracing::info!("reloaded configuration from {}", path.display());
    Ok(())
}
