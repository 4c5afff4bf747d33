//! Query-string helpers with dockerd's parsing rules.

use berth_types::{Error, Result};
use std::collections::HashMap;

pub type Query = HashMap<String, String>;

/// dockerd's boolean: absent, "", "0", "no", "false" and "none" are false;
/// anything else is true.
pub fn bool_param(q: &Query, key: &str) -> bool {
    match q.get(key) {
        None => false,
        Some(v) => !matches!(
            v.to_ascii_lowercase().as_str(),
            "" | "0" | "no" | "false" | "none"
        ),
    }
}

/// An optional integer; a present but malformed value is a 400.
pub fn int_param(q: &Query, key: &str) -> Result<Option<i64>> {
    match q.get(key).map(|s| s.trim()) {
        None | Some("") => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .map(Some)
            .map_err(|_| Error::invalid(format!("invalid value for {key}: {v:?}"))),
    }
}

pub fn str_param<'a>(q: &'a Query, key: &str) -> Option<&'a str> {
    q.get(key).map(String::as_str).filter(|s| !s.is_empty())
}

pub fn filters_param(q: &Query) -> Result<berth_core::Filters> {
    berth_core::Filters::parse(q.get("filters").map(String::as_str).unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerd_booleans_and_ints() {
        let q: Query = [
            ("a", "1"),
            ("b", "False"),
            ("c", "yes"),
            ("d", ""),
            ("n", "x7"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert!(bool_param(&q, "a"));
        assert!(!bool_param(&q, "b"));
        assert!(bool_param(&q, "c"));
        assert!(!bool_param(&q, "d"));
        assert!(!bool_param(&q, "zz"));
        assert!(int_param(&q, "n").is_err());
        assert_eq!(int_param(&q, "a").unwrap(), Some(1));
        assert_eq!(int_param(&q, "zz").unwrap(), None);
    }
}
