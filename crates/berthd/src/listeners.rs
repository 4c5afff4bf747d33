//! `-H` endpoints: unix sockets with safe takeover of a leftover socket file,
//! plain TCP on loopback only, and TLS (rustls) everywhere else.

use crate::config::Config;
use anyhow::{bail, Context, Result};
use berth_api::serve::Endpoint;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A parsed `-H` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Unix(PathBuf),
    Tcp(String),
}

pub fn parse_host(s: &str) -> Result<Host> {
    if let Some(p) = s.strip_prefix("unix://") {
        if p.is_empty() {
            bail!("invalid host {s:?}: unix socket path is empty");
        }
        return Ok(Host::Unix(PathBuf::from(p)));
    }
    if let Some(a) = s.strip_prefix("tcp://") {
        let a = a.trim_end_matches('/');
        if a.is_empty() {
            bail!("invalid host {s:?}: address is empty");
        }
        let a = if a.starts_with(':') {
            format!("127.0.0.1{a}")
        } else if a.rsplit_once(':').is_none_or(|(_, p)| p.contains(']')) {
            format!("{a}:2375")
        } else {
            a.to_string()
        };
        return Ok(Host::Tcp(a));
    }
    if s.starts_with('/') {
        return Ok(Host::Unix(PathBuf::from(s)));
    }
    bail!("invalid host {s:?}: use unix://PATH or tcp://HOST:PORT")
}

/// True when every address `addr` resolves to is a loopback address.
pub fn is_loopback(addrs: &[SocketAddr]) -> bool {
    !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback())
}

fn resolve(addr: &str) -> Result<Vec<SocketAddr>> {
    Ok(addr
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {addr}"))?
        .collect())
}

/// Checks every host before anything is bound, so a bad `-H` fails start-up
/// without side effects.
pub fn check_hosts(cfg: &Config) -> Result<Vec<Host>> {
    let mut out = Vec::new();
    for h in &cfg.hosts {
        let host = parse_host(h)?;
        if let Host::Tcp(a) = &host {
            let addrs = resolve(a)?;
            let unspecified = addrs.iter().any(|s| s.ip().is_unspecified());
            if (unspecified || !is_loopback(&addrs)) && !cfg.tlsverify {
                bail!(
                    "refusing to listen on tcp://{a} without --tlsverify: plain TCP is allowed only on a loopback address. \
                     An unauthenticated Docker API port gives anyone who can reach it root on this host \
                     (a well-known way hosts get taken over). Use --tlsverify with --tlscacert, --tlscert and --tlskey, \
                     or listen on 127.0.0.1"
                );
            }
        }
        out.push(host);
    }
    if cfg.tlsverify && (cfg.tlscacert.is_none() || cfg.tlscert.is_none() || cfg.tlskey.is_none()) {
        bail!("--tlsverify needs --tlscacert, --tlscert and --tlskey");
    }
    if cfg.tls && !cfg.tlsverify && (cfg.tlscert.is_none() || cfg.tlskey.is_none()) {
        bail!("--tls needs --tlscert and --tlskey");
    }
    Ok(out)
}

/// Binds a unix socket at `path`. A leftover socket file is removed only when
/// nothing answers on it; a live one means another daemon owns it.
pub fn bind_unix(path: &Path, group: &str) -> Result<std::os::unix::net::UnixListener> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            bail!(
                "{} exists and is not a socket; refusing to remove it",
                path.display()
            );
        }
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => bail!(
                "another daemon is already listening on {}; stop it first",
                path.display()
            ),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                tracing::info!("removing stale socket {}", path.display());
                std::fs::remove_file(path)
                    .with_context(|| format!("removing stale socket {}", path.display()))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("checking socket {}", path.display())),
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let l = std::os::unix::net::UnixListener::bind(path)
        .with_context(|| format!("listening on {}", path.display()))?;
    let gid = nix::unistd::Group::from_name(group)
        .ok()
        .flatten()
        .map(|g| g.gid)
        .unwrap_or_else(|| nix::unistd::Gid::from_raw(0));
    nix::unistd::chown(path, Some(nix::unistd::Uid::from_raw(0)), Some(gid))
        .with_context(|| format!("chown {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    l.set_nonblocking(true)?;
    Ok(l)
}

fn tls_acceptor(cfg: &Config) -> Result<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let read = |p: &Option<PathBuf>, what: &str| -> Result<Vec<u8>> {
        let p = p
            .as_ref()
            .with_context(|| format!("--{what} is required for TLS"))?;
        std::fs::read(p).with_context(|| format!("reading {}", p.display()))
    };
    let certs: Vec<CertificateDer<'static>> =
        rustls_pemfile::certs(&mut &read(&cfg.tlscert, "tlscert")?[..])
            .collect::<Result<_, _>>()
            .context("parsing --tlscert")?;
    if certs.is_empty() {
        bail!("--tlscert holds no certificate");
    }
    let key: PrivateKeyDer<'static> =
        rustls_pemfile::private_key(&mut &read(&cfg.tlskey, "tlskey")?[..])
            .context("parsing --tlskey")?
            .context("--tlskey holds no private key")?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let server = if cfg.tlsverify {
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pemfile::certs(&mut &read(&cfg.tlscacert, "tlscacert")?[..]) {
            roots.add(c.context("parsing --tlscacert")?)?;
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .context("building the client certificate verifier")?;
        builder
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs, key)?
    } else {
        builder.with_no_client_auth().with_single_cert(certs, key)?
    };
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(server)))
}

/// Binds every endpoint. Must run inside the tokio runtime.
pub fn bind_all(cfg: &Config, hosts: &[Host]) -> Result<(Vec<Endpoint>, Vec<PathBuf>)> {
    let mut eps = Vec::new();
    let mut sockets = Vec::new();
    let acceptor = if cfg.tls || cfg.tlsverify {
        Some(tls_acceptor(cfg)?)
    } else {
        None
    };
    for h in hosts {
        match h {
            Host::Unix(p) => {
                let l = bind_unix(p, &cfg.group)?;
                eps.push(Endpoint::Unix(tokio::net::UnixListener::from_std(l)?));
                sockets.push(p.clone());
            }
            Host::Tcp(a) => {
                let l = std::net::TcpListener::bind(a.as_str())
                    .with_context(|| format!("listening on tcp://{a}"))?;
                l.set_nonblocking(true)?;
                let l = tokio::net::TcpListener::from_std(l)?;
                match &acceptor {
                    Some(acc) => eps.push(Endpoint::Tls(l, acc.clone())),
                    None => eps.push(Endpoint::Tcp(l)),
                }
            }
        }
    }
    Ok((eps, sockets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts() {
        assert_eq!(
            parse_host("unix:///run/x.sock").unwrap(),
            Host::Unix("/run/x.sock".into())
        );
        assert_eq!(
            parse_host("tcp://127.0.0.1:2375").unwrap(),
            Host::Tcp("127.0.0.1:2375".into())
        );
        assert_eq!(
            parse_host("tcp://:2376").unwrap(),
            Host::Tcp("127.0.0.1:2376".into())
        );
        assert_eq!(
            parse_host("tcp://localhost").unwrap(),
            Host::Tcp("localhost:2375".into())
        );
        assert!(parse_host("http://x").is_err());
        assert!(parse_host("unix://").is_err());
    }

    #[test]
    fn loopback_rule() {
        assert!(is_loopback(&resolve("127.0.0.1:1").unwrap()));
        assert!(is_loopback(&resolve("[::1]:1").unwrap()));
        assert!(!is_loopback(&resolve("0.0.0.0:1").unwrap()));
        assert!(!is_loopback(&resolve("10.1.2.3:1").unwrap()));
        assert!(!is_loopback(&[]));
    }
}
