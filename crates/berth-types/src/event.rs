//! The event record of `GET /events`, in dockerd's JSON shape.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The object kinds an event can be about (`Type` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Builder,
    Config,
    Container,
    Daemon,
    Image,
    Network,
    Node,
    Plugin,
    Secret,
    Service,
    Volume,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Builder => "builder",
            EventType::Config => "config",
            EventType::Container => "container",
            EventType::Daemon => "daemon",
            EventType::Image => "image",
            EventType::Network => "network",
            EventType::Node => "node",
            EventType::Plugin => "plugin",
            EventType::Secret => "secret",
            EventType::Service => "service",
            EventType::Volume => "volume",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The object an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes", default)]
    pub attributes: BTreeMap<String, String>,
}

/// One event as `GET /events` streams it. `status`, `id` and `from` are the
/// pre-1.22 fields that dockerd still sends for container and image events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "status", skip_serializing_if = "Option::is_none", default)]
    pub status: Option<String>,
    #[serde(rename = "id", skip_serializing_if = "Option::is_none", default)]
    pub id: Option<String>,
    #[serde(rename = "from", skip_serializing_if = "Option::is_none", default)]
    pub from: Option<String>,
    #[serde(rename = "Type")]
    pub typ: EventType,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    /// "local" or "swarm".
    pub scope: String,
    /// Unix seconds.
    pub time: i64,
    /// Unix nanoseconds.
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

impl Event {
    /// Builds a local-scope event stamped with `time_nano`, filling in the
    /// legacy fields the way dockerd does for containers and images.
    pub fn new(
        typ: EventType,
        action: impl Into<String>,
        actor_id: impl Into<String>,
        attributes: BTreeMap<String, String>,
        time_nano: i64,
    ) -> Self {
        let action = action.into();
        let actor_id = actor_id.into();
        let (status, id, from) = match typ {
            EventType::Container => (
                Some(action.clone()),
                Some(actor_id.clone()),
                attributes.get("image").cloned(),
            ),
            EventType::Image => (Some(action.clone()), Some(actor_id.clone()), None),
            _ => (None, None, None),
        };
        Event {
            status,
            id,
            from,
            typ,
            action,
            actor: Actor {
                id: actor_id,
                attributes,
            },
            scope: "local".to_string(),
            time: time_nano.div_euclid(1_000_000_000),
            time_nano,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_event_has_dockerd_shape() {
        let mut attrs = BTreeMap::new();
        attrs.insert("image".into(), "busybox".into());
        attrs.insert("name".into(), "c1".into());
        let ev = Event::new(
            EventType::Container,
            "start",
            "abc",
            attrs,
            1_700_000_000_123_456_789,
        );
        let v = serde_json::to_value(&ev).unwrap();
        assert_eq!(v["Type"], "container");
        assert_eq!(v["Action"], "start");
        assert_eq!(v["status"], "start");
        assert_eq!(v["from"], "busybox");
        assert_eq!(v["Actor"]["ID"], "abc");
        assert_eq!(v["Actor"]["Attributes"]["name"], "c1");
        assert_eq!(v["scope"], "local");
        assert_eq!(v["time"], 1_700_000_000);
        assert_eq!(v["timeNano"], 1_700_000_000_123_456_789i64);
    }

    #[test]
    fn daemon_event_has_no_legacy_fields() {
        let ev = Event::new(EventType::Daemon, "reload", "id", BTreeMap::new(), 5);
        let v = serde_json::to_value(&ev).unwrap();
        assert!(v.get("status").is_none());
        assert!(v.get("from").is_none());
        assert_eq!(EventType::parse("volume"), Some(EventType::Volume));
        assert_eq!(EventType::parse("bogus"), None);
    }
}
