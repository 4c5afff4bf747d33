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

// --- temporary minimal bus, replaced by the journaled bus ---
use berth_types::Event;
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, Clone, Copy)]
pub struct JournalLimits {
    pub max_events: usize,
    pub max_bytes: u64,
}

impl Default for JournalLimits {
    fn default() -> Self {
        JournalLimits {
            max_events: 100_000,
            max_bytes: 64 << 20,
        }
    }
}

pub struct EventBus {
    tx: tokio::sync::broadcast::Sender<Event>,
}

impl EventBus {
    pub fn open(_dir: &Path, _limits: JournalLimits) -> std::io::Result<Arc<EventBus>> {
        Ok(Arc::new(EventBus {
            tx: tokio::sync::broadcast::channel(1024).0,
        }))
    }
    pub fn publish(
        &self,
        typ: EventType,
        action: &str,
        actor_id: &str,
        attributes: BTreeMap<String, String>,
    ) -> Event {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64;
        let e = Event::new(typ, action, actor_id, attributes, now);
        let _ = self.tx.send(e.clone());
        e
    }
    pub fn listener_count(&self) -> usize {
        self.tx.receiver_count()
    }
}
