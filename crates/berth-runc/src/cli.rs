//! Command line: runc's global flags and subcommands, parsed with clap. The argument
//! structs of the standard verbs come from youki's `liboci-cli`; where runc's command line
//! differs from it (a default signal for `kill`, `-f` for `list`, `--rootless`), ours are
//! declared here.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use tracing::Level;

use crate::commands;
use crate::error::{chain, Result, RuncError};
use crate::log::{self, LogFormat, Logger};

/// Where container state lives when `--root` is not given.
pub const DEFAULT_ROOT: &str = "/run/berth-runc";

#[derive(Parser, Debug)]
#[command(
    name = "berth-runc",
    about = "berth's embedded OCI runtime (youki libcontainer, runc-compatible CLI)",
    disable_version_flag = true
)]
struct Cli {
    #[command(flatten)]
    global: liboci_cli::GlobalOpts,
    /// accepted for runc compatibility (rootless mode is decided by the spec)
    #[arg(long, value_name = "true|false|auto")]
    rootless: Option<String>,
    /// accepted for runc compatibility (checkpointing is not supported)
    #[arg(long)]
    criu: Option<PathBuf>,
    /// print the version
    #[arg(short = 'v', long)]
    version: bool,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// create a container
    Create(liboci_cli::Create),
    /// start a created container
    Start(liboci_cli::Start),
    /// create and run a container
    Run(liboci_cli::Run),
    /// output the state of a container
    State(liboci_cli::State),
    /// send a signal to the container's init process
    Kill(Kill),
    /// delete a container and the resources it holds
    Delete(liboci_cli::Delete),
    /// suspend all processes of a container
    Pause(liboci_cli::Pause),
    /// resume all processes of a paused container
    Resume(liboci_cli::Resume),
    /// list the processes running inside a container
    Ps(liboci_cli::Ps),
    /// execute a new process inside a container
    Exec(liboci_cli::Exec),
    /// list containers
    List(List),
    /// create a new specification file (config.json)
    Spec(liboci_cli::Spec),
    /// show the enabled features
    Features(liboci_cli::Features),
    /// change the resource limits of a running container
    Update(liboci_cli::Update),
}

/// runc's `kill`: the signal defaults to SIGTERM.
#[derive(Args, Debug)]
pub struct Kill {
    /// send the signal to all processes in the container
    #[arg(short, long)]
    pub all: bool,
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new(), required = true)]
    pub container_id: String,
    /// signal name or number
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

/// runc's `list`: `-f table|json`, `-q`.
#[derive(Args, Debug)]
pub struct List {
    /// table or json
    #[arg(short, long, default_value = "table")]
    pub format: String,
    /// display only container IDs
    #[arg(short, long)]
    pub quiet: bool,
}

/// Global settings every command needs.
pub struct Globals {
    pub root: PathBuf,
    pub systemd_cgroup: bool,
}

pub fn main(args: Vec<OsString>) -> i32 {
    let argv = std::iter::once(OsString::from("berth-runc")).chain(args);
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            // --help and the like are not failures.
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    if cli.version {
        print_version();
        return 0;
    }
    if let Some(cmd) = &cli.cmd {
        if let Err(msg) = prepare_to_fork(cmd) {
            eprintln!("{msg}");
            return 1;
        }
    }

    let format = match LogFormat::parse(cli.global.log_format.as_deref()) {
        Ok(f) => f,
        Err(msg) => {
            eprintln!("{msg}");
            return 1;
        }
    };
    let logger = match Logger::open(cli.global.log.as_deref(), format, cli.global.debug) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot open log file: {e}");
            return 1;
        }
    };
    let logger = log::install(logger);

    let Some(cmd) = cli.cmd else {
        eprintln!("{}", usage_hint());
        return 1;
    };
    let globals = Globals {
        root: cli
            .global
            .root
            .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT)),
        systemd_cgroup: cli.global.systemd_cgroup,
    };

    match run_cmd(cmd, &globals) {
        Ok(code) => code,
        Err(err) => {
            let msg = chain(&err);
            logger.log(Level::ERROR, &msg);
            // runc prints the error on stderr as well as logging it; avoid saying it twice
            // when the log already is stderr.
            if !logger.logs_to_stderr() {
                eprintln!("{msg}");
            }
            1
        }
    }
}

/// Environment variable that turns off running from a sealed copy of our binary (for
/// benchmarks and debugging; never for production).
pub const NO_SEAL_ENV: &str = "BERTH_RUNC_NO_SEAL";

/// Commands that fork processes into a container need two things of the process they run
/// in. It must be single-threaded: libcontainer forks and the child goes on running Rust
/// code, which is only sound without other threads. And it must not be a binary a
/// container can reach through /proc/<pid>/exe and overwrite (CVE-2019-5736): like runc
/// and youki, we re-exec ourselves from a sealed in-memory copy (same argv, so berthd
/// comes back here through `berthd runc …`).
fn prepare_to_fork(cmd: &Cmd) -> std::result::Result<(), String> {
    if !matches!(cmd, Cmd::Create(_) | Cmd::Run(_) | Cmd::Exec(_)) {
        return Ok(());
    }
    match thread_count() {
        Some(1) | None => {}
        Some(n) => {
            return Err(format!(
                "berth-runc must run in a single-threaded process (this one has {n} threads)"
            ))
        }
    }
    if std::env::var_os(NO_SEAL_ENV).is_none() {
        pentacle::ensure_sealed().map_err(|e| format!("cannot re-exec from a sealed copy: {e}"))?;
        // Executed from /proc/self/fd/N, the kernel names us "N"; give `ps` a real name.
        // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes, which the
        // literal is, and keeps no pointer to it.
        unsafe { libc::prctl(libc::PR_SET_NAME, c"berth-runc".as_ptr(), 0, 0, 0) };
    }
    Ok(())
}

/// The `Threads:` line of /proc/self/status.
fn thread_count() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
}

fn usage_hint() -> &'static str {
    "berth-runc: a subcommand is required (create, start, run, state, kill, delete, pause, resume, ps, exec, list, update, spec, features); see --help"
}

fn print_version() {
    println!("berth-runc version {}", env!("CARGO_PKG_VERSION"));
    println!("libcontainer: youki 0.7");
    println!(
        "spec: {}",
        libcontainer::oci_spec::runtime::VERSION.trim_start_matches('v')
    );
}

fn run_cmd(cmd: Cmd, g: &Globals) -> Result<i32> {
    match cmd {
        Cmd::Create(a) => commands::create::create(a, g).map(|()| 0),
        Cmd::Start(a) => commands::start::start(a, g).map(|()| 0),
        Cmd::Run(a) => commands::run::run(a, g),
        Cmd::State(a) => commands::state::state(a, g).map(|()| 0),
        Cmd::Kill(a) => commands::kill::kill(a, g).map(|()| 0),
        Cmd::Delete(a) => commands::delete::delete(a, g).map(|()| 0),
        Cmd::Pause(a) => commands::pause::pause(a, g).map(|()| 0),
        Cmd::Resume(a) => commands::pause::resume(a, g).map(|()| 0),
        Cmd::Ps(a) => commands::ps::ps(a, g).map(|()| 0),
        Cmd::Exec(a) => commands::exec::exec(a, g),
        Cmd::List(a) => commands::list::list(a, g).map(|()| 0),
        Cmd::Spec(a) => commands::spec::spec(a).map(|()| 0),
        Cmd::Features(_) => commands::features::features().map(|()| 0),
        Cmd::Update(a) => commands::update::update(a, g).map(|()| 0),
    }
}

/// Makes sure the state root exists (0700, like runc's) and returns it.
pub fn ensure_root(root: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .map_err(|e| RuncError::io(format!("cannot create state root {}", root.display()), e))?;
    Ok(root.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("berth-runc").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn containerd_style_create_parses() {
        let cli = parse(&[
            "--root",
            "/run/x",
            "--log",
            "/tmp/log.json",
            "--log-format",
            "json",
            "--systemd-cgroup",
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/p",
            "--console-socket",
            "/s",
            "c1",
        ]);
        assert_eq!(cli.global.root.as_deref(), Some(Path::new("/run/x")));
        assert_eq!(cli.global.log_format.as_deref(), Some("json"));
        assert!(cli.global.systemd_cgroup);
        match cli.cmd {
            Some(Cmd::Create(c)) => {
                assert_eq!(c.bundle, Path::new("/b"));
                assert_eq!(c.pid_file.as_deref(), Some(Path::new("/p")));
                assert_eq!(c.console_socket.as_deref(), Some(Path::new("/s")));
                assert_eq!(c.container_id, "c1");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn kill_signal_defaults_to_term() {
        match parse(&["kill", "c1"]).cmd {
            Some(Cmd::Kill(k)) => {
                assert_eq!(k.signal, "SIGTERM");
                assert!(!k.all);
            }
            other => panic!("{other:?}"),
        }
        match parse(&["kill", "--all", "c1", "KILL"]).cmd {
            Some(Cmd::Kill(k)) => {
                assert_eq!(k.signal, "KILL");
                assert!(k.all);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn exec_with_process_file_parses() {
        match parse(&[
            "exec",
            "--process",
            "/p.json",
            "--detach",
            "--pid-file",
            "/x",
            "c1",
        ])
        .cmd
        {
            Some(Cmd::Exec(e)) => {
                assert!(e.detach);
                assert_eq!(e.process.as_deref(), Some(Path::new("/p.json")));
                assert!(e.command.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn forking_commands_refuse_a_threaded_process() {
        // Make sure of a second thread, whatever the harness does.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || rx.recv());
        let cli = parse(&["create", "c1"]);
        let err = prepare_to_fork(cli.cmd.as_ref().unwrap()).unwrap_err();
        drop(tx);
        let _ = other.join();
        assert!(err.contains("single-threaded"), "{err}");
        // Commands that do not fork do not care.
        let cli = parse(&["state", "c1"]);
        assert!(prepare_to_fork(cli.cmd.as_ref().unwrap()).is_ok());
    }

    #[test]
    fn list_short_format_flag() {
        match parse(&["list", "-f", "json", "-q"]).cmd {
            Some(Cmd::List(l)) => {
                assert_eq!(l.format, "json");
                assert!(l.quiet);
            }
            other => panic!("{other:?}"),
        }
    }
}
