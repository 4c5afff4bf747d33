//! The Engine API routes berth does not serve yet. Each answers with a
//! message that names the missing feature, so a user reads "berth does not
//! support docker exec yet" where a bare 404 would read like a typo or a
//! missing container. Routes that dockerd itself refuses outside swarm mode
//! answer as dockerd does there (503, "not a swarm manager"), which is what
//! clients test for.

use berth_types::Error;

/// One unserved route: a method ("*" for any), a path pattern and what a
/// user would call the feature. In a pattern `{}` is one path segment and
/// `{*}` one or more (image names have slashes).
struct Unserved {
    method: &'static str,
    path: &'static str,
    feature: &'static str,
}

const fn u(method: &'static str, path: &'static str, feature: &'static str) -> Unserved {
    Unserved {
        method,
        path,
        feature,
    }
}

const TABLE: &[Unserved] = &[
    u("POST", "/containers/{}/exec", "docker exec"),
    u("POST", "/exec/{}/start", "docker exec"),
    u("POST", "/exec/{}/resize", "docker exec"),
    u("GET", "/exec/{}/json", "docker exec"),
    u("*", "/containers/{}/archive", "docker cp"),
    u("GET", "/containers/{}/export", "docker export"),
    u("GET", "/containers/{}/top", "docker top"),
    u("GET", "/containers/{}/stats", "docker stats"),
    u("GET", "/containers/{}/changes", "docker diff"),
    u("POST", "/containers/{}/update", "docker update"),
    u("GET", "/containers/{}/attach/ws", "attach over a websocket"),
    u("*", "/containers/{}/checkpoints", "checkpoints"),
    u("*", "/containers/{}/checkpoints/{}", "checkpoints"),
    u("POST", "/commit", "docker commit"),
    u("POST", "/build", "docker build"),
    u("POST", "/build/prune", "the build cache"),
    u("POST", "/session", "BuildKit sessions"),
    u("POST", "/grpc", "BuildKit sessions"),
    u("POST", "/auth", "docker login"),
    u("GET", "/images/search", "docker search"),
    u("GET", "/distribution/{*}/json", "registry lookups"),
    u("POST", "/swarm/init", "swarm mode"),
    u("POST", "/swarm/join", "swarm mode"),
];

/// Path prefixes of swarm-mode objects: dockerd answers these with 503
/// when the node is not a manager, and so does berth, always.
const SWARM: &[&str] = &[
    "/swarm",
    "/nodes",
    "/services",
    "/tasks",
    "/secrets",
    "/configs",
];

/// The answer for a request no route served: a 501 naming the feature for
/// a route of the Engine API that berth lacks, dockerd's 503 for swarm
/// objects, or `None` (a plain 404) for anything else.
pub fn answer(method: &str, path: &str) -> Option<Error> {
    if let Some(row) = TABLE
        .iter()
        .find(|r| (r.method == "*" || r.method == method) && matches(r.path, path))
    {
        return Some(Error::not_implemented(format!(
            "berth does not support {} yet ({method} {})",
            row.feature, row.path
        )));
    }
    let swarm = SWARM
        .iter()
        .any(|p| path == *p || path.strip_prefix(p).is_some_and(|r| r.starts_with('/')));
    swarm.then(|| {
        Error::unavailable(
            "This node is not a swarm manager: berth does not support swarm mode yet",
        )
    })
}

fn matches(pattern: &str, path: &str) -> bool {
    let pat: Vec<&str> = pattern.trim_start_matches('/').split('/').collect();
    let seg: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match_segments(&pat, &seg)
}

fn match_segments(pat: &[&str], seg: &[&str]) -> bool {
    match (pat.split_first(), seg.split_first()) {
        (None, None) => true,
        (Some((&"{*}", rest)), Some(_)) => {
            // one or more segments, then the rest of the pattern
            (1..=seg.len()).any(|n| match_segments(rest, &seg[n..]))
                && seg.iter().all(|s| !s.is_empty())
        }
        (Some((&"{}", rest)), Some((s, more))) => !s.is_empty() && match_segments(rest, more),
        (Some((p, rest)), Some((s, more))) => p == s && match_segments(rest, more),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_types::ErrorKind;

    fn kind(method: &str, path: &str) -> Option<ErrorKind> {
        answer(method, path).map(|e| e.kind)
    }

    #[test]
    fn missing_features_are_named() {
        let e = answer("POST", "/containers/abc/exec").unwrap();
        assert_eq!(e.kind, ErrorKind::NotImplemented);
        assert_eq!(
            e.message,
            "berth does not support docker exec yet (POST /containers/{}/exec)"
        );
        for (m, p) in [
            ("PUT", "/containers/abc/archive"),
            ("HEAD", "/containers/abc/archive"),
            ("GET", "/containers/abc/stats"),
            ("POST", "/exec/0123/start"),
            ("POST", "/commit"),
            ("POST", "/build"),
            ("POST", "/auth"),
            ("GET", "/images/search"),
            ("GET", "/distribution/localhost:5000/a/b:t/json"),
            ("POST", "/swarm/init"),
        ] {
            assert_eq!(kind(m, p), Some(ErrorKind::NotImplemented), "{m} {p}");
        }
    }

    #[test]
    fn swarm_objects_answer_like_a_node_outside_swarm() {
        for p in [
            "/swarm",
            "/nodes",
            "/services/abc",
            "/tasks",
            "/secrets/create",
        ] {
            assert_eq!(kind("GET", p), Some(ErrorKind::Unavailable), "{p}");
        }
        assert_eq!(kind("GET", "/swarmy"), None);
    }

    #[test]
    fn anything_else_stays_a_plain_404() {
        for (m, p) in [
            ("GET", "/nosuch"),
            ("GET", "/containers//exec"),
            ("POST", "/containers/a/b/exec"),
            ("GET", "/containers/abc/exec"),
            ("GET", "/distribution/json"),
            ("GET", "/distribution//json"),
        ] {
            assert_eq!(kind(m, p), None, "{m} {p}");
        }
    }
}
