//! The event bus: one in-process bus every subsystem publishes to, backed by
//! a bounded on-disk journal under the data root.

use berth_types::EventType;
use std::collections::BTreeMap;

/// What a subsystem needs to announce an operation. The bus implements it;
/// tests may use [`RecordingSink`].
pub trait EventSink: Send + Sync {
    fn emit(
        &self,
        typ: EventType,
        action: &str,
        actor_id: &str,
        attributes: BTreeMap<String, String>,
    );
}

/// An [`EventSink`] that keeps what it is given, for unit tests.
#[derive(Default)]
pub struct RecordingSink {
    pub events: std::sync::Mutex<Vec<(EventType, String, String, BTreeMap<String, String>)>>,
}

impl EventSink for RecordingSink {
    fn emit(
        &self,
        typ: EventType,
        action: &str,
        actor_id: &str,
        attributes: BTreeMap<String, String>,
    ) {
        self.events.lock().unwrap().push((
            typ,
            action.to_string(),
            actor_id.to_string(),
            attributes,
        ));
    }
}
