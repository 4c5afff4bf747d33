//! Flags and daemon.json, merged the way dockerd merges them: a key in the
//! file that dockerd does not know is an error, and so is a setting given
//! both as a flag and in the file.

use crate::daemon_json::{apply_file, check_keys, read_config_file};
use crate::flags::{flag_value, is_explicit, validate_log_level, Flags, DEFAULT_SOCKET, FLAG_KEYS};
use anyhow::Result;
use clap::{ArgMatches, CommandFactory, FromArgMatches};
use serde_json::{Map, Value};
use std::path::PathBuf;

pub use crate::daemon_json::Reloadable;
pub use berth_engine::Config;

/// Parses the command line (without argv[0]'s multicall handling).
pub fn load(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<Config> {
    // Let clap print help, version and usage errors itself.
    let matches = Flags::command()
        .try_get_matches_from(args)
        .unwrap_or_else(|e| e.exit());
    let flags = Flags::from_arg_matches(&matches)?;
    let explicit_config = is_explicit(&matches, "config_file");
    let file = read_config_file(&flags.config_file, explicit_config)?;
    merge(
        &flags,
        &matches,
        file.map(|m| (flags.config_file.clone(), m)),
    )
}

fn merge(
    flags: &Flags,
    matches: &ArgMatches,
    file: Option<(PathBuf, Map<String, Value>)>,
) -> Result<Config> {
    let explicit: Vec<&str> = FLAG_KEYS
        .iter()
        .filter(|(id, _)| is_explicit(matches, id))
        .map(|(_, k)| *k)
        .collect();
    let flag_value = |key: &str| flag_value(matches, key);
    let mut cfg = flags.to_config()?;
    if let Some((path, file)) = file {
        let prefix = format!(
            "unable to configure the berth daemon with file {}",
            path.display()
        );
        cfg.ignored_keys = check_keys(&file, &explicit, &flag_value)
            .map_err(|e| anyhow::anyhow!("{prefix}: {e}"))?;
        apply_file(&mut cfg, &file).map_err(|e| anyhow::anyhow!("{prefix}: {e}"))?;
        cfg.config_file = Some(path);
    }
    if cfg.hosts.is_empty() {
        cfg.hosts.push(DEFAULT_SOCKET.to_string());
    }
    if cfg.debug {
        cfg.log_level = "debug".into();
    }
    validate_log_level(&cfg.log_level)?;
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], file: Option<&str>) -> Result<Config> {
        let mut argv = vec!["berthd".to_string()];
        argv.extend(args.iter().map(|s| s.to_string()));
        let matches = Flags::command().try_get_matches_from(argv)?;
        let flags = Flags::from_arg_matches(&matches)?;
        let file = file.map(|f| {
            (
                PathBuf::from("/x/daemon.json"),
                serde_json::from_str::<Map<String, Value>>(f).unwrap(),
            )
        });
        merge(&flags, &matches, file)
    }

    #[test]
    fn defaults() {
        let c = run(&[], None).unwrap();
        assert_eq!(c.hosts, vec![DEFAULT_SOCKET]);
        assert_eq!(c.data_root, PathBuf::from("/var/lib/berth"));
        assert!(c.iptables);
    }

    #[test]
    fn unknown_key_is_an_error() {
        let e = run(&[], Some(r#"{"debug":true,"bogus-key":1}"#)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unable to configure the berth daemon with file /x/daemon.json: the following directives don't match any configuration option: bogus-key"
        );
    }

    #[test]
    fn flag_and_key_conflict() {
        let e = run(
            &["-H", "unix:///tmp/a.sock"],
            Some(r#"{"hosts":["unix:///tmp/b.sock"]}"#),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("specified both as a flag and in the configuration file: hosts: (from flag: unix:///tmp/a.sock, from file: [unix:///tmp/b.sock])"),
            "{e}"
        );
        // The same key without the flag is fine.
        let c = run(&[], Some(r#"{"hosts":["unix:///tmp/b.sock"]}"#)).unwrap();
        assert_eq!(c.hosts, vec!["unix:///tmp/b.sock"]);
    }

    #[test]
    fn file_values_apply_and_dockerd_keys_are_reported() {
        let c = run(
            &["--debug"],
            Some(r#"{"labels":["a=b"],"runtimes":{"x":{"path":"/bin/x","runtimeArgs":["--y"]}},"mtu":1400,"iptables":false}"#),
        )
        .unwrap();
        assert_eq!(c.labels, vec!["a=b"]);
        assert_eq!(c.runtimes["x"].runtime_args, vec!["--y"]);
        assert_eq!(c.ignored_keys, vec!["mtu"]);
        assert_eq!(c.log_level, "debug");
        assert!(!c.iptables);
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(run(&[], Some(r#"{"debug":"yes"}"#)).is_err());
        assert!(run(&[], Some(r#"{"log-level":"loud"}"#)).is_err());
        assert!(run(&["--add-runtime", "noequals"], None).is_err());
        assert!(run(&["--add-runtime", "a=/x", "--add-runtime", "a=/y"], None).is_err());
        let c = run(
            &["--add-runtime", "custom=/opt/rt", "--iptables=false"],
            None,
        )
        .unwrap();
        assert_eq!(c.runtimes["custom"].path, "/opt/rt");
        assert!(!c.iptables);
    }
}
