//! The `filters` of `GET /events`, with dockerd's matching rules.
//!
//! Different keys AND together; the values of one key OR together, except
//! `label`, where (as in dockerd) every `key` / `key=value` must hold.
//!
//! * `type`, `scope`: exact.
//! * `event`: the action, exact; when one of the values is `exec_create`,
//!   `exec_start` or `health_status` (actions that carry a `: detail` suffix)
//!   every value matches as a prefix, so `exec_start` matches
//!   `exec_start: sh -c date`.
//! * `container`, `daemon`, `network`, `plugin`, `volume` (and the swarm
//!   kinds `node`, `service`, `secret`, `config`): a prefix of `Actor.ID` or
//!   of the `name` attribute. Like dockerd this is not limited to events of
//!   that type.
//! * `image`: `Actor.ID`, or the `image` attribute (the `name` attribute for
//!   image events), either as given or with its tag and default registry
//!   removed (`busybox` matches `docker.io/library/busybox:latest`).

use crate::Filters;
use berth_types::{Event, EventType, Result};

/// The keys `GET /events` accepts in `filters`.
pub const EVENT_FILTER_KEYS: &[&str] = &[
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];

/// Name-or-ID filters and the event kind whose name they are called after.
const NAME_KEYS: &[&str] = &[
    "container",
    "daemon",
    "network",
    "plugin",
    "volume",
    "node",
    "service",
    "secret",
    "config",
];

/// Actions that carry a `: detail` suffix, so an `event` filter naming one
/// of them matches by prefix.
const SUFFIXED_ACTIONS: &[&str] = &["exec_create", "exec_start", "health_status"];

/// A parsed, validated `filters` value for the event stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    filters: Filters,
    event_by_prefix: bool,
}

impl EventFilter {
    /// Takes the parsed `filters` parameter; an unknown key is a 400 with
    /// dockerd's `invalid filter 'KEY'` message.
    pub fn from_filters(f: &Filters) -> Result<Self> {
        f.validate(EVENT_FILTER_KEYS)?;
        let event_by_prefix = f.get("event").any(|v| SUFFIXED_ACTIONS.contains(&v));
        Ok(EventFilter {
            filters: f.clone(),
            event_by_prefix,
        })
    }

    /// True when `e` passes every filter.
    pub fn matches(&self, e: &Event) -> bool {
        let f = &self.filters;
        if f.is_empty() {
            return true;
        }
        let event_ok = if self.event_by_prefix {
            f.any("event", |v| e.action.starts_with(v))
        } else {
            f.exact_match("event", &e.action)
        };
        let name = e.actor.attributes.get("name").map(String::as_str);
        event_ok
            && f.exact_match("type", e.typ.as_str())
            && f.exact_match("scope", &e.scope)
            && NAME_KEYS.iter().all(|key| {
                f.any(key, |v| {
                    e.actor.id.starts_with(v) || name.is_some_and(|n| n.starts_with(v))
                })
            })
            && self.matches_image(e)
            && f.match_labels("label", &e.actor.attributes)
    }

    fn matches_image(&self, e: &Event) -> bool {
        let attr = if e.typ == EventType::Image {
            "name"
        } else {
            "image"
        };
        let image = e.actor.attributes.get(attr).map(String::as_str);
        let id = e.actor.id.as_str();
        self.filters.any("image", |v| {
            v == id
                || v == familiar_name(id)
                || image.is_some_and(|i| v == i || v == familiar_name(i))
        })
    }
}

/// A reference without tag, digest and default registry: what dockerd
/// calls the familiar name (`docker.io/library/busybox:1` -> `busybox`).
/// IDs (`sha256:...`) are returned as they are.
fn familiar_name(reference: &str) -> &str {
    if reference.starts_with("sha256:") {
        return reference;
    }
    let mut r = reference.split_once('@').map_or(reference, |(n, _)| n);
    if let Some(colon) = r.rfind(':') {
        if !r[colon..].contains('/') {
            r = &r[..colon];
        }
    }
    for prefix in [
        "docker.io/library/",
        "index.docker.io/library/",
        "docker.io/",
        "index.docker.io/",
    ] {
        if let Some(rest) = r.strip_prefix(prefix) {
            return rest;
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn ev(typ: EventType, action: &str, id: &str, attrs: &[(&str, &str)]) -> Event {
        let attributes: BTreeMap<String, String> = attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Event::new(typ, action, id, attributes, 1)
    }

    fn filter(json: &str) -> EventFilter {
        EventFilter::from_filters(&Filters::parse(json).unwrap()).unwrap()
    }

    #[test]
    fn empty_filter_matches_everything() {
        let f = filter("");
        assert!(f.matches(&ev(EventType::Volume, "create", "v", &[])));
    }

    #[test]
    fn repeated_key_is_or_and_different_keys_are_and() {
        let start = ev(EventType::Container, "start", "abc123", &[("name", "web")]);
        let die = ev(EventType::Container, "die", "abc123", &[("name", "web")]);
        let create = ev(EventType::Container, "create", "abc123", &[("name", "web")]);
        let vol = ev(EventType::Volume, "create", "data", &[("driver", "local")]);

        let f = filter(r#"{"event":{"start":true,"die":true}}"#);
        assert!(f.matches(&start));
        assert!(f.matches(&die));
        assert!(!f.matches(&create));

        let f = filter(r#"{"type":["container"],"event":["create"]}"#);
        assert!(f.matches(&create));
        assert!(!f.matches(&start), "type matches but event does not");
        assert!(!f.matches(&vol), "event matches but type does not");

        let f = filter(r#"{"type":["container","volume"]}"#);
        assert!(f.matches(&create) && f.matches(&vol));
        assert!(!f.matches(&ev(EventType::Network, "create", "n", &[])));
    }

    #[test]
    fn container_matches_id_prefix_or_name() {
        let e = ev(EventType::Container, "start", "abc123", &[("name", "web")]);
        assert!(filter(r#"{"container":["abc"]}"#).matches(&e));
        assert!(filter(r#"{"container":["web"]}"#).matches(&e));
        assert!(filter(r#"{"container":["zzz","web"]}"#).matches(&e));
        assert!(!filter(r#"{"container":["zzz"]}"#).matches(&e));
        assert!(!filter(r#"{"container":["bc1"]}"#).matches(&e));
        // Volume, network, plugin, daemon work the same way.
        let v = ev(EventType::Volume, "mount", "data", &[("container", "abc")]);
        assert!(filter(r#"{"volume":["data"]}"#).matches(&v));
        assert!(!filter(r#"{"volume":["other"]}"#).matches(&v));
        let n = ev(EventType::Network, "connect", "n1d", &[("name", "br0")]);
        assert!(filter(r#"{"network":["br0"]}"#).matches(&n));
        assert!(filter(r#"{"network":["n1"]}"#).matches(&n));
        let d = ev(
            EventType::Daemon,
            "reload",
            "DAEMONID",
            &[("name", "host1")],
        );
        assert!(filter(r#"{"daemon":["host1"]}"#).matches(&d));
        assert!(!filter(r#"{"plugin":["x"]}"#).matches(&d));
    }

    #[test]
    fn image_matches_attribute_id_and_familiar_name() {
        let c = ev(
            EventType::Container,
            "create",
            "c1",
            &[("image", "docker.io/library/busybox:latest")],
        );
        assert!(filter(r#"{"image":["busybox"]}"#).matches(&c));
        assert!(filter(r#"{"image":["docker.io/library/busybox:latest"]}"#).matches(&c));
        assert!(!filter(r#"{"image":["alpine"]}"#).matches(&c));
        let i = ev(
            EventType::Image,
            "pull",
            "sha256:0123",
            &[("name", "registry:5000/app:v1")],
        );
        assert!(filter(r#"{"image":["sha256:0123"]}"#).matches(&i));
        assert!(filter(r#"{"image":["registry:5000/app"]}"#).matches(&i));
        assert!(filter(r#"{"image":["registry:5000/app:v1"]}"#).matches(&i));
        assert!(!filter(r#"{"image":["registry"]}"#).matches(&i));
        assert!(!filter(r#"{"image":["sha256"]}"#).matches(&i));
    }

    #[test]
    fn event_prefix_for_suffixed_actions() {
        let e = ev(EventType::Container, "exec_start: sh -c date", "c", &[]);
        assert!(filter(r#"{"event":["exec_start"]}"#).matches(&e));
        assert!(!filter(r#"{"event":["exec_create"]}"#).matches(&e));
        assert!(
            !filter(r#"{"event":["exec"]}"#).matches(&e),
            "exact otherwise"
        );
        assert!(filter(r#"{"event":["exec_start: sh -c date"]}"#).matches(&e));
    }

    #[test]
    fn labels_are_anded_and_scope_is_exact() {
        let e = ev(
            EventType::Container,
            "start",
            "c",
            &[("com.x", "1"), ("tier", "web")],
        );
        assert!(filter(r#"{"label":["com.x"]}"#).matches(&e));
        assert!(filter(r#"{"label":["com.x=1","tier=web"]}"#).matches(&e));
        assert!(!filter(r#"{"label":["com.x=2"]}"#).matches(&e));
        assert!(!filter(r#"{"label":["com.x","missing"]}"#).matches(&e));
        assert!(filter(r#"{"scope":["local"]}"#).matches(&e));
        assert!(!filter(r#"{"scope":["swarm"]}"#).matches(&e));
    }

    #[test]
    fn unknown_key_is_invalid() {
        let err = EventFilter::from_filters(&Filters::parse(r#"{"colour":["red"]}"#).unwrap())
            .unwrap_err();
        assert_eq!(err.kind, berth_types::ErrorKind::InvalidParameter);
        assert_eq!(err.message, "invalid filter 'colour'");
    }

    #[test]
    fn familiar_names() {
        assert_eq!(familiar_name("docker.io/library/busybox:1.36"), "busybox");
        assert_eq!(familiar_name("docker.io/me/app"), "me/app");
        assert_eq!(familiar_name("busybox@sha256:abcd"), "busybox");
        assert_eq!(familiar_name("localhost:5000/app"), "localhost:5000/app");
        assert_eq!(familiar_name("sha256:abcd"), "sha256:abcd");
    }
}
