//! The `berth-bench` command. See `docs/bench.md`.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use berth_bench::compare::{measure_engine, measure_socket, CompareOptions};
use berth_bench::engine::{become_subreaper, EngineKind, EngineSpec};
use berth_bench::report::{compare_rows, goals, render_compare, render_single, EngineReport};
use berth_bench::suite::{Options, Suite, INTERRUPTED};

#[derive(Parser)]
#[command(
    name = "berth-bench",
    about = "Measures berthd beside dockerd (or any Engine API socket)"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Measure keep-alive request latency of an engine that is already running.
    Api {
        /// The engine's unix socket, e.g. /run/berth.sock or /var/run/docker.sock.
        #[arg(long)]
        socket: PathBuf,
        #[command(flatten)]
        load: LoadArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Start berthd and dockerd on temporary roots, measure both, print them side by side.
    Compare(CompareArgs),
}

#[derive(Args)]
struct LoadArgs {
    /// Timed requests per endpoint.
    #[arg(long, default_value_t = 1000)]
    requests: usize,
    /// Untimed requests per endpoint before the timed ones.
    #[arg(long, default_value_t = 100)]
    warmup: usize,
    /// MiB piped container to container by the `network` suite.
    #[arg(long, default_value_t = 512)]
    net_mib: usize,
}

impl LoadArgs {
    fn options(&self) -> Options {
        Options {
            requests: self.requests.max(1),
            warmup: self.warmup,
            net_mib: self.net_mib.max(1),
            ..Options::default()
        }
    }
}

#[derive(Args)]
struct CompareArgs {
    /// The berthd binary [default: `berthd` next to this program, i.e. in the same target dir].
    #[arg(long)]
    berthd: Option<PathBuf>,
    /// The dockerd binary (Debian's docker.io).
    #[arg(long, default_value = "/usr/sbin/dockerd")]
    dockerd: PathBuf,
    /// Which engines to measure.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "berthd,dockerd"
    )]
    engines: Vec<EngineKind>,
    /// Which suites to run once an engine is ready.
    #[arg(
        long = "suite",
        value_enum,
        value_delimiter = ',',
        default_value = "api"
    )]
    suites: Vec<Suite>,
    #[command(flatten)]
    load: LoadArgs,
    /// Timed restarts on the same root (after a first start on an empty root); the median is
    /// reported.
    #[arg(long, default_value_t = 5)]
    starts: usize,
    /// Seconds an engine may take to answer its first /_ping.
    #[arg(long, default_value_t = 60)]
    start_timeout: u64,
    /// Seconds of idleness before resident memory is read.
    #[arg(long, default_value_t = 3.0)]
    settle: f64,
    /// Directory for the temporary engine roots [default: $TMPDIR or /tmp].
    #[arg(long)]
    tmp_dir: Option<PathBuf>,
    /// Extra argument for berthd (repeatable).
    #[arg(long = "berthd-arg", allow_hyphen_values = true)]
    berthd_args: Vec<String>,
    /// Extra argument for dockerd (repeatable).
    #[arg(long = "dockerd-arg", allow_hyphen_values = true)]
    dockerd_args: Vec<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// SIGINT/SIGTERM/SIGHUP set a flag that the loops check, so the engines are stopped and the
/// temporary roots removed by their guards instead of being left behind.
fn install_signal_handlers() -> Result<()> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { sigaction(sig, &action) }?;
    }
    Ok(())
}

fn default_berthd() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("berthd")))
        .unwrap_or_else(|| PathBuf::from("berthd"))
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    install_signal_handlers()?;
    match cli.command {
        Cmd::Api { socket, load, json } => {
            let report = measure_socket(&socket, &[Suite::Api], &load.options());
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", render_single(&report, &goals()));
            }
            if report.figures.is_empty() {
                anyhow::bail!("nothing could be measured on {}", socket.display());
            }
        }
        Cmd::Compare(args) => compare(args)?,
    }
    Ok(())
}

fn compare(args: CompareArgs) -> Result<()> {
    become_subreaper();
    let network = args.suites.contains(&Suite::Network);
    let opts = CompareOptions {
        starts: args.starts,
        start_timeout: Duration::from_secs(args.start_timeout),
        settle: Duration::from_secs_f64(args.settle.max(0.0)),
        tmp_dir: args.tmp_dir,
        suites: args.suites,
        suite: args.load.options(),
    };
    let spec = |kind| match kind {
        EngineKind::Berthd => EngineSpec {
            kind,
            binary: args.berthd.clone().unwrap_or_else(default_berthd),
            extra_args: args.berthd_args.clone(),
            network,
        },
        EngineKind::Dockerd => EngineSpec {
            kind,
            binary: args.dockerd.clone(),
            extra_args: args.dockerd_args.clone(),
            network,
        },
    };
    let mut reports: Vec<EngineReport> = Vec::new();
    for &kind in &args.engines {
        if INTERRUPTED.load(Ordering::Relaxed) {
            break;
        }
        if kind == EngineKind::Dockerd
            && std::path::Path::new("/run/containerd/containerd.sock").exists()
        {
            // dockerd 20.10 would attach to the host's containerd instead of starting its own.
            let mut r = EngineReport::named(kind.name());
            r.error = Some(
                "/run/containerd/containerd.sock exists: dockerd would use the host's containerd"
                    .into(),
            );
            reports.push(r);
            continue;
        }
        reports.push(measure_engine(&spec(kind), &opts));
    }
    let find = |k: EngineKind| reports.iter().find(|r| r.engine == k.name());
    match (find(EngineKind::Berthd), find(EngineKind::Dockerd)) {
        (Some(b), Some(d)) if args.json => {
            let out = serde_json::json!({
                "engines": [b, d],
                "comparison": compare_rows(b, d, &goals()),
                "goals": goals(),
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        (Some(b), Some(d)) => print!("{}", render_compare(b, d, &goals())),
        _ if args.json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "engines": reports }))?
        ),
        _ => reports
            .iter()
            .for_each(|r| print!("{}", render_single(r, &goals()))),
    }
    if INTERRUPTED.load(Ordering::Relaxed) {
        anyhow::bail!("interrupted");
    }
    if reports.iter().all(|r| r.error.is_some()) {
        anyhow::bail!("no engine could be measured");
    }
    Ok(())
}
