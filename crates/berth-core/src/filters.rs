//! The `filters` query parameter shared by every list endpoint and `/events`.
//!
//! Docker clients send a JSON object whose values are either a map of
//! `value -> true` (current form) or a list of values (the form of API < 1.22).
//! A repeated key means OR between its values; different keys mean AND.

use berth_types::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    map: BTreeMap<String, BTreeSet<String>>,
}

impl Filters {
    /// Parses the raw (already URL-decoded) `filters` parameter. An empty
    /// string means no filters.
    pub fn parse(raw: &str) -> Result<Self> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(Filters::default());
        }
        let value: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| Error::invalid(format!("invalid filter: {e}")))?;
        let obj = value
            .as_object()
            .ok_or_else(|| Error::invalid("invalid filter: filters must be a JSON object"))?;
        let mut map = BTreeMap::new();
        for (key, v) in obj {
            let mut set = BTreeSet::new();
            match v {
                serde_json::Value::Object(m) => {
                    for (val, on) in m {
                        match on {
                            serde_json::Value::Bool(true) => {
                                set.insert(val.clone());
                            }
                            serde_json::Value::Bool(false) => {}
                            _ => {
                                return Err(Error::invalid(format!(
                                    "invalid filter: value of '{key}={val}' must be a boolean"
                                )))
                            }
                        }
                    }
                }
                serde_json::Value::Array(a) => {
                    for item in a {
                        let s = item.as_str().ok_or_else(|| {
                            Error::invalid(format!(
                                "invalid filter: values of '{key}' must be strings"
                            ))
                        })?;
                        set.insert(s.to_string());
                    }
                }
                _ => {
                    return Err(Error::invalid(format!(
                        "invalid filter: '{key}' must map to an object or a list"
                    )))
                }
            }
            map.insert(key.clone(), set);
        }
        Ok(Filters { map })
    }

    /// Fails with dockerd's message when a key is not one the endpoint knows.
    pub fn validate(&self, accepted: &[&str]) -> Result<()> {
        for key in self.map.keys() {
            if !accepted.contains(&key.as_str()) {
                return Err(Error::invalid(format!("invalid filter '{key}'")));
            }
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.map.get(key).is_some_and(|s| !s.is_empty())
    }

    pub fn get(&self, key: &str) -> impl Iterator<Item = &str> {
        self.map.get(key).into_iter().flatten().map(String::as_str)
    }

    pub fn insert(&mut self, key: &str, value: &str) {
        self.map
            .entry(key.to_string())
            .or_default()
            .insert(value.to_string());
    }

    /// True when `key` is absent, or when one of its values equals `value`.
    pub fn exact_match(&self, key: &str, value: &str) -> bool {
        match self.map.get(key) {
            None => true,
            Some(s) if s.is_empty() => true,
            Some(s) => s.contains(value),
        }
    }

    /// True when `key` is absent, or one of its values passes `pred`.
    pub fn any(&self, key: &str, mut pred: impl FnMut(&str) -> bool) -> bool {
        match self.map.get(key) {
            None => true,
            Some(s) if s.is_empty() => true,
            Some(s) => s.iter().any(|v| pred(v)),
        }
    }

    /// `label` filters: each value is `key` or `key=value`; every one must
    /// hold (dockerd ANDs label filters), against `labels`.
    pub fn match_labels(&self, key: &str, labels: &BTreeMap<String, String>) -> bool {
        let Some(wanted) = self.map.get(key) else {
            return true;
        };
        wanted.iter().all(|w| match w.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|lv| lv == v),
            None => labels.contains_key(w.as_str()),
        })
    }

    /// Boolean filters such as `dangling=true`; `None` when absent.
    pub fn bool_value(&self, key: &str) -> Result<Option<bool>> {
        let Some(set) = self.map.get(key) else {
            return Ok(None);
        };
        let mut out = None;
        for v in set {
            let b = match v.to_ascii_lowercase().as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => {
                    return Err(Error::invalid(format!(
                        "invalid filter '{key}={v}': expected a boolean"
                    )))
                }
            };
            if out.is_some_and(|o| o != b) {
                return Err(Error::invalid(format!(
                    "conflicting values for filter '{key}'"
                )));
            }
            out = Some(b);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_wire_forms() {
        let a = Filters::parse(r#"{"type":{"container":true,"image":true}}"#).unwrap();
        let b = Filters::parse(r#"{"type":["container","image"]}"#).unwrap();
        assert_eq!(a, b);
        assert!(a.exact_match("type", "image"));
        assert!(!a.exact_match("type", "volume"));
        assert!(a.exact_match("event", "anything"));
    }

    #[test]
    fn rejects_bad_shapes() {
        assert!(Filters::parse("[1]").is_err());
        assert!(Filters::parse("{").is_err());
        assert!(Filters::parse(r#"{"a":3}"#).is_err());
        assert!(Filters::parse(r#"{"a":[3]}"#).is_err());
        assert!(Filters::parse(r#"{"a":{"b":"x"}}"#).is_err());
        assert!(Filters::parse("").unwrap().is_empty());
    }

    #[test]
    fn labels_and_bools() {
        let f = Filters::parse(r#"{"label":{"a=1":true,"b":true},"dangling":["true"]}"#).unwrap();
        let mut l = BTreeMap::new();
        l.insert("a".to_string(), "1".to_string());
        assert!(!f.match_labels("label", &l));
        l.insert("b".to_string(), "".to_string());
        assert!(f.match_labels("label", &l));
        assert_eq!(f.bool_value("dangling").unwrap(), Some(true));
        assert!(f.validate(&["label"]).is_err());
        assert!(f.validate(&["label", "dangling"]).is_ok());
    }
}
