//! The event bus: one in-process bus every subsystem publishes to, backed by
//! a bounded on-disk journal under the data root.
//!
//! Publishing appends one line to the journal under a short mutex and hands
//! the event to live subscribers through a bounded broadcast channel; it
//! never waits for a subscriber.
//!
//! A [`Subscription`] delivers, in sequence order and without gaps or
//! duplicates: first the journal's events in the `since`/`until` window,
//! then live events. A subscriber that falls behind the channel re-reads
//! what it missed from the journal and carries on. If what it missed has
//! already been rotated out of the journal, [`Subscription::next`] returns
//! one `Err` (kind `Unavailable`) and the stream ends: it never silently
//! skips an event.
//!
//! Unlike dockerd, `since` also applies to live events (an event stamped
//! before `since` is never delivered), and the stream ends early when a live
//! event is stamped after `until`.

mod filter;
mod journal;
mod time;

#[cfg(test)]
mod tests;

pub use filter::{EventFilter, EVENT_FILTER_KEYS};
pub use journal::{JournalLimits, SEGMENTS_PER_JOURNAL};
pub use time::{now_nanos, parse_time};

use berth_types::{Error, ErrorKind, Event, EventType, Result};
use journal::Journal;
use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{broadcast, watch};

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

/// One call of [`EventSink::emit`] as [`RecordingSink`] keeps it:
/// (type, action, actor id, attributes).
pub type RecordedEvent = (EventType, String, String, BTreeMap<String, String>);

/// An [`EventSink`] that keeps what it is given, for unit tests.
#[derive(Default)]
pub struct RecordingSink {
    pub events: std::sync::Mutex<Vec<RecordedEvent>>,
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

/// How many events the live channel buffers per subscriber before that
/// subscriber has to catch up from the journal.
const LIVE_CAPACITY: usize = 1024;

/// What a subscriber asks for. Times are unix nanoseconds. With neither
/// `since` nor `until` only live events are delivered (dockerd's
/// behaviour); with either, the journal is replayed first. An `until` in
/// the past ends the stream after the replay; one in the future ends it
/// when that time comes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventQuery {
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub filter: EventFilter,
}

struct Entry {
    seq: u64,
    event: Event,
}

struct Shared {
    journal: Mutex<Journal>,
    live: broadcast::Sender<Arc<Entry>>,
    /// The last sequence number handed out (0: none yet).
    last_seq: AtomicU64,
    shutdown: watch::Sender<bool>,
}

impl Shared {
    fn journal(&self) -> MutexGuard<'_, Journal> {
        self.journal.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The daemon's one event bus.
pub struct EventBus {
    shared: Arc<Shared>,
}

impl EventBus {
    /// Opens the journal in `dir` (normally `<data-root>/events`), recovering
    /// from a torn last line, and starts the bus.
    pub fn open(dir: &Path, limits: JournalLimits) -> std::io::Result<Arc<EventBus>> {
        let journal = Journal::open(dir, limits)?;
        let last = journal.next_seq() - 1;
        let (live, _) = broadcast::channel(LIVE_CAPACITY);
        let (shutdown, _) = watch::channel(false);
        Ok(Arc::new(EventBus {
            shared: Arc::new(Shared {
                journal: Mutex::new(journal),
                live,
                last_seq: AtomicU64::new(last),
                shutdown,
            }),
        }))
    }

    /// Stamps an event with the current time, journals it and hands it to
    /// live subscribers. Never waits for a subscriber. A journal write
    /// failure is logged; live subscribers still get the event.
    pub fn publish(
        &self,
        typ: EventType,
        action: &str,
        actor_id: &str,
        attributes: BTreeMap<String, String>,
    ) -> Event {
        let mut journal = self.shared.journal();
        // Stamped under the lock so that time order follows sequence order.
        let event = Event::new(typ, action, actor_id, attributes, now_nanos());
        let (seq, written) = journal.append(&event);
        if let Err(e) = written {
            tracing::error!(seq, error = %e, "cannot write event to the journal");
        }
        self.shared.last_seq.store(seq, Ordering::Release);
        let entry = Arc::new(Entry { seq, event });
        // Sent under the lock so the channel carries events in sequence order.
        // An error only means there is no subscriber.
        let _ = self.shared.live.send(entry.clone());
        drop(journal);
        entry.event.clone()
    }

    /// Starts a subscription; see [`EventQuery`] for what it delivers.
    pub fn subscribe(&self, query: EventQuery) -> Subscription {
        let now = now_nanos();
        let (rx, last, oldest) = {
            let journal = self.shared.journal();
            // Subscribing under the lock: the channel then carries exactly
            // the events after `last`.
            let rx = self.shared.live.subscribe();
            (
                rx,
                self.shared.last_seq.load(Ordering::Acquire),
                journal.oldest_seq(),
            )
        };
        let replay = query.since.is_some() || query.until.is_some();
        let next_seq = if replay {
            oldest.unwrap_or(last + 1).min(last + 1)
        } else {
            last + 1
        };
        let live = query.until.is_none_or(|u| u >= now);
        let deadline = query.until.filter(|_| live).map(|u| {
            tokio::time::Instant::now()
                + std::time::Duration::from_nanos(u.saturating_sub(now).max(0) as u64)
        });
        Subscription {
            shared: self.shared.clone(),
            rx,
            shutdown: self.shared.shutdown.subscribe(),
            since: query.since,
            until: query.until,
            filter: query.filter,
            next_seq,
            replay_upto: last,
            live,
            deadline,
            pending: VecDeque::new(),
            done: false,
        }
    }

    /// How many subscriptions are open (`NEventsListener` in `/info`).
    pub fn listener_count(&self) -> usize {
        self.shared.live.receiver_count()
    }

    /// Ends every open subscription (their `next` returns `None`), for
    /// daemon shutdown. Publishing still works.
    pub fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
    }

    /// Flushes the journal's active segment to disk.
    pub fn sync(&self) -> std::io::Result<()> {
        self.shared.journal().sync()
    }
}

impl EventSink for EventBus {
    fn emit(
        &self,
        typ: EventType,
        action: &str,
        actor_id: &str,
        attributes: BTreeMap<String, String>,
    ) {
        self.publish(typ, action, actor_id, attributes);
    }
}

/// One reader of the bus. Dropping it unsubscribes.
pub struct Subscription {
    shared: Arc<Shared>,
    rx: broadcast::Receiver<Arc<Entry>>,
    shutdown: watch::Receiver<bool>,
    since: Option<i64>,
    until: Option<i64>,
    filter: EventFilter,
    /// Every sequence number below this has been dealt with.
    next_seq: u64,
    /// Read from the journal while `next_seq <= replay_upto`.
    replay_upto: u64,
    /// Whether live events follow the replay.
    live: bool,
    deadline: Option<tokio::time::Instant>,
    /// Events read from the journal that passed the filter, not yet returned.
    pending: VecDeque<Event>,
    done: bool,
}

impl Subscription {
    /// The next event, `Some(Err)` once if the subscriber fell behind the
    /// journal, `None` when the stream has ended (`until` reached, replay of
    /// a past window finished, or the bus shut down). Cancel-safe.
    pub async fn next(&mut self) -> Option<Result<Event>> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Some(Ok(ev));
            }
            if self.done || *self.shutdown.borrow() {
                self.done = true;
                return None;
            }
            if self.next_seq <= self.replay_upto {
                if let Err(e) = self.catch_up().await {
                    self.done = true;
                    return Some(Err(e));
                }
                continue;
            }
            if !self.live {
                self.done = true;
                return None;
            }
            let deadline = self.deadline;
            let received = tokio::select! {
                r = self.rx.recv() => r,
                _ = sleep_until(deadline) => {
                    self.done = true;
                    return None;
                }
                _ = self.shutdown.changed() => {
                    self.done = true;
                    return None;
                }
            };
            match received {
                Ok(entry) => {
                    if entry.seq < self.next_seq {
                        continue; // already delivered from the journal
                    }
                    if entry.seq > self.next_seq {
                        // Missed some without a lag report: fetch them (and
                        // this one) from the journal.
                        self.replay_upto = entry.seq;
                        continue;
                    }
                    self.next_seq += 1;
                    if self.until.is_some_and(|u| entry.event.time_nano > u) {
                        self.done = true;
                        return None;
                    }
                    if self.wanted(&entry.event) {
                        return Some(Ok(entry.event.clone()));
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    self.replay_upto = self.shared.last_seq.load(Ordering::Acquire);
                }
                Err(broadcast::error::RecvError::Closed) => {
                    self.done = true;
                    return None;
                }
            }
        }
    }

    /// An event already read from the journal, without waiting; lets a
    /// writer batch a replay. `None` does not mean the stream ended.
    pub fn next_buffered(&mut self) -> Option<Event> {
        self.pending.pop_front()
    }

    fn wanted(&self, e: &Event) -> bool {
        in_window(e, self.since, self.until) && self.filter.matches(e)
    }

    /// Reads the next segment's worth of `next_seq..=replay_upto` from the
    /// journal into `pending`.
    async fn catch_up(&mut self) -> Result<()> {
        let shared = self.shared.clone();
        let (from, upto) = (self.next_seq, self.replay_upto);
        let window = (self.since, self.until);
        let filter = self.filter.clone();
        let (events, next) =
            tokio::task::spawn_blocking(move || read_batch(&shared, from, upto, window, &filter))
                .await
                .map_err(|e| Error::internal(format!("event journal reader failed: {e}")))??;
        self.pending.extend(events);
        self.next_seq = next;
        Ok(())
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn fell_behind(from: u64, oldest: Option<u64>) -> Error {
    let oldest = oldest.map_or_else(|| "none".to_string(), |o| o.to_string());
    Error::new(
        ErrorKind::Unavailable,
        format!(
            "event stream fell behind: event {from} is no longer in the event journal \
             (oldest kept: {oldest}); reconnect with a later since"
        ),
    )
}

/// Reads the events `from..=upto` held by the one segment that contains
/// `from`, and returns those in the time window that pass `filter`, plus
/// the next sequence number to read. A segment wholly outside the window
/// is skipped without being read.
fn read_batch(
    shared: &Shared,
    from: u64,
    upto: u64,
    (since, until): (Option<i64>, Option<i64>),
    filter: &EventFilter,
) -> Result<(Vec<Event>, u64)> {
    let (segment, oldest) = {
        let journal = shared.journal();
        (
            journal.segments_from(from).into_iter().next(),
            journal.oldest_seq(),
        )
    };
    let missing = |seq: u64| {
        if oldest.is_none_or(|o| seq < o) {
            fell_behind(seq, oldest)
        } else {
            Error::new(
                ErrorKind::Unavailable,
                format!("event stream interrupted: event {seq} is missing from the event journal"),
            )
        }
    };
    let Some(seg) = segment else {
        return Err(missing(from));
    };
    if seg.first_seq > from {
        return Err(missing(from));
    }
    let end = seg.last_seq.min(upto);
    if since.is_some_and(|s| seg.max_time < s) || until.is_some_and(|u| seg.min_time > u) {
        return Ok((Vec::new(), end + 1));
    }
    let mut out = Vec::new();
    let mut expect = from;
    let res = journal::read_segment(&seg.path, from, end, |seq, ev| {
        if seq != expect {
            return Err(std::io::Error::other("gap"));
        }
        expect += 1;
        if in_window(&ev, since, until) && filter.matches(&ev) {
            out.push(ev);
        }
        Ok(())
    });
    match res {
        Ok(()) if expect > end => Ok((out, expect)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(fell_behind(from, oldest)),
        Ok(()) | Err(_) => Err(missing(expect)),
    }
}

fn in_window(e: &Event, since: Option<i64>, until: Option<i64>) -> bool {
    since.is_none_or(|s| e.time_nano >= s) && until.is_none_or(|u| e.time_nano <= u)
}
