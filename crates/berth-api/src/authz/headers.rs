//! Headers as plugins get them.

use axum::http::HeaderMap;
use std::collections::BTreeMap;

/// Headers as plugins get them: Go's canonical names, credentials left out,
/// repeated values joined with ", ".
pub fn header_map(headers: &HeaderMap) -> BTreeMap<String, String> {
    const SECRET: [&str; 5] = [
        "authorization",
        "proxy-authorization",
        "x-registry-auth",
        "x-registry-config",
        "cookie",
    ];
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in headers {
        if SECRET.contains(&k.as_str()) {
            continue;
        }
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        out.entry(canonical_header(k.as_str()))
            .and_modify(|e| {
                e.push_str(", ");
                e.push_str(&v);
            })
            .or_insert(v);
    }
    out
}

/// `content-type` → `Content-Type`, as Go's `CanonicalMIMEHeaderKey`.
fn canonical_header(k: &str) -> String {
    let mut up = true;
    k.chars()
        .map(|c| {
            let o = if up {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            up = c == '-';
            o
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn headers_drop_credentials_and_take_go_names() {
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        h.insert("authorization", HeaderValue::from_static("Bearer x"));
        h.insert("x-registry-auth", HeaderValue::from_static("secret"));
        h.insert("X-REGISTRY-CONFIG", HeaderValue::from_static("secret"));
        h.append("x-multi", HeaderValue::from_static("a"));
        h.append("x-multi", HeaderValue::from_static("b"));
        let m = header_map(&h);
        assert_eq!(
            m.into_iter().collect::<Vec<_>>(),
            vec![
                ("Content-Type".to_string(), "application/json".to_string()),
                ("X-Multi".to_string(), "a, b".to_string()),
            ]
        );
    }
}
