//! Finding a legacy plugin by name, where Docker looks: a socket in
//! `/run/docker/plugins` (`NAME.sock` or `NAME/NAME.sock`), then a `.spec`
//! (one URL) or `.json` file (URL plus TLS settings) in `/etc/docker/plugins`
//! and `/usr/lib/docker/plugins`. Only the named plugin is looked up.

use crate::error::{Error, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// TLS settings of a `.json` spec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct TlsConfig {
    #[serde(rename = "InsecureSkipVerify", default)]
    pub insecure_skip_verify: bool,
    #[serde(rename = "CAFile", default)]
    pub ca_file: String,
    #[serde(rename = "CertFile", default)]
    pub cert_file: String,
    #[serde(rename = "KeyFile", default)]
    pub key_file: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addr {
    Unix(PathBuf),
    /// `host:port`.
    Tcp(String),
}

/// Where a plugin listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub name: String,
    pub addr: Addr,
    pub tls: Option<TlsConfig>,
    /// The file that told us (socket or spec).
    pub source: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Discovery {
    socket_dirs: Vec<PathBuf>,
    spec_dirs: Vec<PathBuf>,
}

impl Default for Discovery {
    fn default() -> Self {
        Discovery::new(
            vec![PathBuf::from("/run/docker/plugins")],
            vec![
                PathBuf::from("/etc/docker/plugins"),
                PathBuf::from("/usr/lib/docker/plugins"),
            ],
        )
    }
}

#[derive(Deserialize)]
struct JsonSpec {
    #[serde(rename = "Name", default)]
    _name: String,
    #[serde(rename = "Addr")]
    addr: String,
    #[serde(rename = "TLSConfig", default)]
    tls: Option<TlsConfig>,
}

/// Whether `name` may be looked up on disk (no path tricks).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.contains('/')
        && name != "."
        && name != ".."
        && !name.contains('\0')
}

/// Parses a plugin URL: `unix:///path` or `tcp://host:port`.
pub fn parse_addr(url: &str) -> std::result::Result<Addr, String> {
    let url = url.trim();
    if let Some(p) = url.strip_prefix("unix://") {
        if !p.starts_with('/') {
            return Err(format!("unix socket path must be absolute: {url}"));
        }
        return Ok(Addr::Unix(PathBuf::from(p)));
    }
    for scheme in ["tcp://", "http://", "https://"] {
        if let Some(hp) = url.strip_prefix(scheme) {
            let hp = hp.trim_end_matches('/');
            if hp.is_empty() || !hp.contains(':') {
                return Err(format!("address needs host:port: {url}"));
            }
            return Ok(Addr::Tcp(hp.to_string()));
        }
    }
    Err(format!("unknown protocol in plugin address \"{url}\""))
}

impl Discovery {
    /// Searches `socket_dirs` for sockets, then `spec_dirs` for spec files.
    pub fn new(socket_dirs: Vec<PathBuf>, spec_dirs: Vec<PathBuf>) -> Self {
        Discovery {
            socket_dirs,
            spec_dirs,
        }
    }

    /// Looks up one plugin; `Ok(None)` when nothing on disk names it.
    pub fn find(&self, name: &str) -> Result<Option<Endpoint>> {
        if !valid_name(name) {
            return Ok(None);
        }
        for dir in &self.socket_dirs {
            for p in [
                dir.join(format!("{name}.sock")),
                dir.join(name).join(format!("{name}.sock")),
            ] {
                if is_socket(&p) {
                    return Ok(Some(Endpoint {
                        name: name.to_string(),
                        addr: Addr::Unix(p.clone()),
                        tls: None,
                        source: p,
                    }));
                }
            }
        }
        for dir in &self.spec_dirs {
            for ext in ["spec", "json"] {
                for p in [
                    dir.join(format!("{name}.{ext}")),
                    dir.join(name).join(format!("{name}.{ext}")),
                ] {
                    if p.is_file() {
                        return read_spec(name, &p).map(Some);
                    }
                }
            }
        }
        Ok(None)
    }

    /// Names of every plugin on disk, without contacting any of them.
    pub fn scan_names(&self) -> Vec<String> {
        let mut names = std::collections::BTreeSet::new();
        let mut add = |dir: &Path, exts: &[&str]| {
            let Ok(rd) = std::fs::read_dir(dir) else {
                return;
            };
            for e in rd.flatten() {
                let path = e.path();
                let fname = e.file_name().to_string_lossy().into_owned();
                if path.is_dir() {
                    if exts
                        .iter()
                        .any(|x| path.join(format!("{fname}.{x}")).exists())
                    {
                        names.insert(fname);
                    }
                } else if let Some((stem, ext)) = fname.rsplit_once('.') {
                    if exts.contains(&ext) {
                        names.insert(stem.to_string());
                    }
                }
            }
        };
        for d in &self.socket_dirs {
            add(d, &["sock"]);
        }
        for d in &self.spec_dirs {
            add(d, &["spec", "json"]);
        }
        names.into_iter().collect()
    }
}

fn is_socket(p: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(p)
        .map(|m| m.file_type().is_socket())
        .unwrap_or(false)
}

fn read_spec(name: &str, path: &Path) -> Result<Endpoint> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let bad = |reason: String| Error::Spec {
        path: path.display().to_string(),
        reason,
    };
    let (url, tls) = if path.extension().is_some_and(|e| e == "json") {
        let spec: JsonSpec = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        (spec.addr, spec.tls)
    } else {
        (text.trim().to_string(), None)
    };
    let addr = parse_addr(&url).map_err(bad)?;
    let tls = match (&addr, tls) {
        (Addr::Tcp(_), tls) if url.trim().starts_with("https://") => Some(tls.unwrap_or_default()),
        (Addr::Tcp(_), tls) => tls,
        (Addr::Unix(_), _) => None,
    };
    Ok(Endpoint {
        name: name.to_string(),
        addr,
        tls,
        source: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> (tempfile::TempDir, Discovery) {
        let t = tempfile::tempdir().unwrap();
        let run = t.path().join("run");
        let etc = t.path().join("etc");
        let lib = t.path().join("lib");
        for d in [&run, &etc, &lib] {
            std::fs::create_dir_all(d).unwrap();
        }
        let d = Discovery::new(vec![run], vec![etc, lib]);
        (t, d)
    }

    #[test]
    fn parses_plugin_urls() {
        assert_eq!(
            parse_addr("unix:///run/x.sock\n").unwrap(),
            Addr::Unix("/run/x.sock".into())
        );
        assert_eq!(
            parse_addr("tcp://127.0.0.1:8080").unwrap(),
            Addr::Tcp("127.0.0.1:8080".into())
        );
        assert!(parse_addr("/run/x.sock").is_err());
        assert!(parse_addr("tcp://nohost").is_err());
        assert!(parse_addr("unix://relative").is_err());
    }

    #[test]
    fn search_order_socket_then_spec_then_json() {
        let (t, d) = layout();
        assert_eq!(d.find("p").unwrap(), None);
        // A .json in the second spec dir.
        std::fs::write(
            t.path().join("lib/p.json"),
            r#"{"Name":"p","Addr":"tcp://127.0.0.1:9","TLSConfig":{"InsecureSkipVerify":true}}"#,
        )
        .unwrap();
        let e = d.find("p").unwrap().unwrap();
        assert_eq!(e.addr, Addr::Tcp("127.0.0.1:9".into()));
        assert!(e.tls.unwrap().insecure_skip_verify);
        // A .spec in the first spec dir wins.
        std::fs::write(t.path().join("etc/p.spec"), "unix:///tmp/p.sock\n").unwrap();
        assert_eq!(
            d.find("p").unwrap().unwrap().addr,
            Addr::Unix("/tmp/p.sock".into())
        );
        // A socket in a subdirectory of the socket dir wins over both.
        std::fs::create_dir_all(t.path().join("run/p")).unwrap();
        let sock = t.path().join("run/p/p.sock");
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        assert_eq!(d.find("p").unwrap().unwrap().addr, Addr::Unix(sock));
        // A regular file named like a socket is not a socket.
        std::fs::write(t.path().join("run/q.sock"), "").unwrap();
        assert_eq!(d.find("q").unwrap(), None);
        assert_eq!(d.scan_names(), vec!["p".to_string(), "q".to_string()]);
    }

    #[test]
    fn rejects_path_tricks_and_bad_specs() {
        let (t, d) = layout();
        assert_eq!(d.find("../etc/passwd").unwrap(), None);
        std::fs::write(t.path().join("etc/bad.spec"), "ftp://x").unwrap();
        let e = d.find("bad").unwrap_err().to_string();
        assert!(e.contains("unknown protocol"), "{e}");
        std::fs::write(t.path().join("etc/bj.json"), "{not json").unwrap();
        assert!(d.find("bj").is_err());
    }
}
