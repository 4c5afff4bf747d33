//! Request targets: one spelling per name (see [`check_target`]), the
//! path the router will see, and the upload routes whose body is streamed.

use crate::version::{split_prefix, Prefix};
use axum::http::{Method, Uri};

/// The path the router will see: the target's path with its version prefix
/// removed, exactly as `App` strips it.
pub fn routed_path(path: &str) -> &str {
    match split_prefix(path) {
        Ok(Prefix::Versioned(_, rest)) => rest,
        _ => path,
    }
}

/// Routes whose request body is a tar stream the handler reads as such:
/// authorized without their body, which is streamed (see the module docs).
pub fn is_upload(method: &Method, routed: &str) -> bool {
    let segs: Vec<&str> = routed.trim_start_matches('/').split('/').collect();
    match (method.as_str(), segs.as_slice()) {
        ("POST", ["images", "load"] | ["build"] | ["images", "create"] | ["plugins", "create"]) => {
            true
        }
        ("PUT", ["containers", id, "archive"]) => !id.is_empty(),
        _ => false,
    }
}

/// Refuses request targets that could be read two ways.
pub fn check_target(uri: &Uri) -> Result<(), String> {
    let bad = |why: &str| Err(format!("invalid request path: {why}"));
    if uri.scheme().is_some() || uri.authority().is_some() {
        return bad("only origin-form request targets are accepted");
    }
    let path = uri.path();
    if !path.starts_with('/') {
        return bad("the path must start with /");
    }
    let segs: Vec<&str> = path[1..].split('/').collect();
    for (i, seg) in segs.iter().enumerate() {
        if seg.is_empty() && i + 1 < segs.len() {
            return bad("empty path segment");
        }
        if *seg == "." || *seg == ".." {
            return bad("dot segment");
        }
    }
    check_escapes(path, true)?;
    if let Some(q) = uri.query() {
        check_escapes(q, false)?;
    }
    Ok(())
}

/// Bytes a path carries as they are (RFC 3986 `pchar` and `/`); every
/// other byte must be percent-encoded.
fn path_raw(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&c)
}

/// Each name has one spelling in a path: the raw bytes are those of
/// [`path_raw`], and an escape may only stand for a byte that is not raw
/// (except `!'()*`, which Go's client escapes) and is not `/`, `\`, `%` or a
/// control. In the query, raw non-ASCII and escaped letters, digits and
/// `-._` are refused. So decoding cannot turn what a plugin saw into
/// another name.
fn check_escapes(s: &str, in_path: bool) -> Result<(), String> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            let Some(c) = hex else {
                return Err("invalid request path: malformed percent escape".into());
            };
            let forbidden = if in_path {
                (path_raw(c) && !b"!'()*".contains(&c))
                    || matches!(c, b'\\' | b'%')
                    || c < 0x20
                    || c == 0x7f
            } else {
                c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_')
            };
            if forbidden {
                return Err(format!(
                    "invalid request path: percent-encoded {:?} is not accepted",
                    c as char
                ));
            }
            i += 3;
        } else {
            let ok = if in_path {
                path_raw(b[i])
            } else {
                b[i].is_ascii()
            };
            if !ok {
                return Err(format!(
                    "invalid request path: {:?} must be percent-encoded",
                    String::from_utf8_lossy(&b[i..=i])
                ));
            }
            i += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(s: &str) -> Result<(), String> {
        check_target(&s.parse::<Uri>().unwrap())
    }

    #[test]
    fn canonical_targets_pass() {
        for t in [
            "/_ping",
            "/",
            "/v1.41/containers/create?name=web",
            "/containers/json?filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D",
            "/images/localhost:5000/busybox:latest/json",
            "/volumes/with%20space",
            "/containers/json?x=%7E",
            "/volumes/a%22b",
            "/volumes/%C3%BC",
            "/images/sha256:abc/json",
            "/images/a@sha256:abc/json",
            "/volumes/a%21b",
        ] {
            assert_eq!(target(t), Ok(()), "{t}");
        }
    }

    #[test]
    fn ambiguous_targets_are_refused() {
        for t in [
            "/v1.41/../containers/create",
            "/v1.41/./containers/create",
            "//containers/create",
            "/v1.41//containers/create",
            "/containers/x/..",
            "/containers/%2e%2e/json",
            "/volumes/my%2dvol",
            "/volumes/a%2Fb",
            "/volumes/%41",
            "/volumes/%25",
            "/volumes/%00",
            "/volumes/%zz",
            "/volumes/%4",
            "/volumes/x?force=%31",
            "/volumes/x?force=%74rue",
            "/volumes/a\\b",
            "/volumes/a%5Cb",
            "/volumes/a\"b",
            "/volumes/{x}",
            "/volumes/ü",
            "/volumes/a%3Ab",
            "/volumes/a%40b",
            "/containers/json?x=ü",
            "http://berth/containers/create",
        ] {
            assert!(target(t).is_err(), "{t} was accepted");
        }
    }

    #[test]
    fn routed_path_strips_one_prefix() {
        assert_eq!(routed_path("/v1.41/containers/json"), "/containers/json");
        assert_eq!(routed_path("/containers/json"), "/containers/json");
        assert_eq!(routed_path("/v1.41/v1.40/_ping"), "/v1.40/_ping");
        assert_eq!(routed_path("/v1.41"), "/");
    }

    #[test]
    fn uploads_are_a_closed_list() {
        assert!(is_upload(&Method::POST, "/images/load"));
        assert!(is_upload(&Method::PUT, "/containers/abc/archive"));
        assert!(!is_upload(&Method::PUT, "/containers//archive"));
        assert!(!is_upload(&Method::POST, "/containers/create"));
        assert!(!is_upload(&Method::GET, "/images/load"));
        assert!(!is_upload(&Method::POST, "/images/load/x"));
        assert!(!is_upload(&Method::POST, "/volumes/create"));
    }
}
