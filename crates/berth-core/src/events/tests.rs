//! Behaviour of the bus: replay, live delivery, catch-up, restarts.

use super::*;
use crate::Filters;
use std::time::{Duration, Instant};

fn attrs(i: usize) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    a.insert("i".to_string(), i.to_string());
    a.insert("name".to_string(), format!("c{i}"));
    a
}

fn index(e: &Event) -> usize {
    e.actor.attributes["i"].parse().unwrap()
}

fn publish_n(bus: &EventBus, range: std::ops::Range<usize>) -> Vec<Event> {
    range
        .map(|i| bus.publish(EventType::Container, "start", &format!("id{i}"), attrs(i)))
        .collect()
}

fn all_since(since: i64) -> EventQuery {
    EventQuery {
        since: Some(since),
        ..Default::default()
    }
}

/// Reads `n` events, failing on an error, an end, or a 10 s stall.
async fn take(sub: &mut Subscription, n: usize) -> Vec<Event> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match tokio::time::timeout(Duration::from_secs(10), sub.next()).await {
            Ok(Some(Ok(e))) => out.push(e),
            Ok(other) => panic!("after {} events: {other:?}", out.len()),
            Err(_) => panic!("stalled after {} events", out.len()),
        }
    }
    out
}

async fn assert_quiet(sub: &mut Subscription) {
    let r = tokio::time::timeout(Duration::from_millis(100), sub.next()).await;
    assert!(r.is_err(), "expected no further event, got {r:?}");
}

fn assert_contiguous(events: &[Event], first: usize) {
    for (k, e) in events.iter().enumerate() {
        assert_eq!(index(e), first + k, "gap or duplicate at position {k}");
    }
}

#[tokio::test]
async fn live_subscriber_gets_published_events_in_dockerd_shape() {
    let dir = tempfile::tempdir().unwrap();
    let bus = EventBus::open(dir.path(), JournalLimits::default()).unwrap();
    publish_n(&bus, 0..3); // before subscribing: not delivered without since
    let mut sub = bus.subscribe(EventQuery::default());
    assert_eq!(bus.listener_count(), 1);
    let before = now_nanos();
    let sent = publish_n(&bus, 3..6);
    let got = take(&mut sub, 3).await;
    assert_eq!(got, sent);
    assert_contiguous(&got, 3);
    let v = serde_json::to_value(&got[0]).unwrap();
    assert_eq!(v["Type"], "container");
    assert_eq!(v["Action"], "start");
    assert_eq!(v["Actor"]["ID"], "id3");
    assert_eq!(v["scope"], "local");
    let t = v["timeNano"].as_i64().unwrap();
    assert!(t >= before && t <= now_nanos());
    assert_eq!(v["time"].as_i64().unwrap(), t / 1_000_000_000);
    assert_quiet(&mut sub).await;
    drop(sub);
    assert_eq!(bus.listener_count(), 0);
}

#[tokio::test]
async fn since_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let start = now_nanos();
    {
        let bus = EventBus::open(dir.path(), JournalLimits::default()).unwrap();
        publish_n(&bus, 0..10);
    }
    let bus = EventBus::open(dir.path(), JournalLimits::default()).unwrap();
    publish_n(&bus, 10..15);
    let mut sub = bus.subscribe(EventQuery {
        since: Some(start),
        until: Some(now_nanos()),
        ..Default::default()
    });
    let got = take(&mut sub, 15).await;
    assert_contiguous(&got, 0);
    assert!(
        sub.next().await.is_none(),
        "until in the past ends the stream"
    );
}

#[tokio::test]
async fn since_until_window_and_filters_apply_to_replay() {
    let dir = tempfile::tempdir().unwrap();
    let bus = EventBus::open(dir.path(), JournalLimits::default()).unwrap();
    let sent = publish_n(&bus, 0..10);
    let (since, until) = (sent[3].time_nano, sent[6].time_nano);
    let mut sub = bus.subscribe(EventQuery {
        since: Some(since),
        until: Some(until),
        ..Default::default()
    });
    let got = take(&mut sub, 4).await;
    assert_contiguous(&got, 3);
    assert!(sub.next().await.is_none());

    let f = Filters::parse(r#"{"container":["c2","c7"]}"#).unwrap();
    let mut sub = bus.subscribe(EventQuery {
        since: Some(0),
        until: Some(now_nanos()),
        filter: EventFilter::from_filters(&f).unwrap(),
    });
    let got = take(&mut sub, 2).await;
    assert_eq!(
        got.iter().map(index).collect::<Vec<_>>(),
        vec![2, 7],
        "repeated key ORs"
    );
    assert!(sub.next().await.is_none());
}

#[tokio::test]
async fn until_only_replays_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let bus = EventBus::open(dir.path(), JournalLimits::default()).unwrap();
    let sent = publish_n(&bus, 0..5);
    let mut sub = bus.subscribe(EventQuery {
        until: Some(sent[1].time_nano),
        ..Default::default()
    });
    let got = take(&mut sub, 2).await;
    assert_contiguous(&got, 0);
    assert!(sub.next().await.is_none());
}

#[tokio::test]
async fn future_until_streams_live_then_ends() {
    let dir = tempfile::tempdir().unwrap();
    let bus = EventBus::open(dir.path(), JournalLimits::default()).unwrap();
    publish_n(&bus, 0..2);
    let t0 = Instant::now();
    let mut sub = bus.subscribe(EventQuery {
        until: Some(now_nanos() + 400_000_000),
        ..Default::default()
    });
    let got = take(&mut sub, 2).await; // the replay
    assert_contiguous(&got, 0);
    publish_n(&bus, 2..3);
    assert_eq!(index(&take(&mut sub, 1).await[0]), 2);
    assert!(sub.next().await.is_none());
    let waited = t0.elapsed();
    assert!(waited >= Duration::from_millis(350), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_hands_over_to_live_without_gap_or_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let bus = EventBus::open(dir.path(), JournalLimits::default()).unwrap();
    publish_n(&bus, 0..3000);
    let mut sub = bus.subscribe(all_since(0));
    // Keep publishing while the subscriber replays.
    let b = bus.clone();
    let publisher = std::thread::spawn(move || {
        publish_n(&b, 3000..6000);
    });
    let got = take(&mut sub, 6000).await;
    publisher.join().unwrap();
    assert_contiguous(&got, 0);
    assert_quiet(&mut sub).await;
}

#[tokio::test]
async fn slow_subscriber_catches_up_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let bus = EventBus::open(dir.path(), JournalLimits::default()).unwrap();
    let mut sub = bus.subscribe(EventQuery::default());
    let f = Filters::parse(r#"{"event":["start"]}"#).unwrap();
    let mut filtered = bus.subscribe(EventQuery {
        filter: EventFilter::from_filters(&f).unwrap(),
        ..Default::default()
    });
    // 50k events while nobody reads: far beyond the live channel.
    publish_n(&bus, 0..50_000);
    bus.publish(EventType::Container, "die", "x", attrs(50_000));
    publish_n(&bus, 50_001..50_010);
    let got = take(&mut sub, 50_010).await;
    assert_contiguous(&got, 0);
    assert_quiet(&mut sub).await;
    let got = take(&mut filtered, 50_009).await;
    assert!(got.iter().all(|e| e.action == "start"));
    assert_eq!(index(&got[50_000]), 50_001);
    assert_quiet(&mut filtered).await;
    // Live again afterwards.
    publish_n(&bus, 50_010..50_011);
    assert_eq!(index(&take(&mut sub, 1).await[0]), 50_010);
}

#[tokio::test]
async fn subscriber_behind_the_journal_gets_an_explicit_error() {
    let dir = tempfile::tempdir().unwrap();
    let limits = JournalLimits {
        max_events: 1000,
        max_bytes: 64 << 20,
    };
    let bus = EventBus::open(dir.path(), limits).unwrap();
    let mut sub = bus.subscribe(EventQuery::default());
    publish_n(&bus, 0..5000);
    match sub.next().await {
        Some(Err(e)) => {
            assert_eq!(e.kind, ErrorKind::Unavailable);
            assert!(e.message.contains("fell behind"), "{}", e.message);
        }
        other => panic!("expected an error, got {other:?}"),
    }
    assert!(
        sub.next().await.is_none(),
        "the stream ends after the error"
    );

    // A subscriber that read in time is unaffected.
    let mut ok = bus.subscribe(EventQuery::default());
    publish_n(&bus, 5000..5500);
    assert_contiguous(&take(&mut ok, 500).await, 5000);
}

#[tokio::test]
async fn replay_subscriber_overtaken_by_rotation_gets_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let limits = JournalLimits {
        max_events: 800,
        max_bytes: 64 << 20,
    };
    let bus = EventBus::open(dir.path(), limits).unwrap();
    publish_n(&bus, 0..800);
    let mut sub = bus.subscribe(all_since(0));
    // Reads the first segment (100 events), then falls behind.
    let first = take(&mut sub, 1).await;
    assert_eq!(index(&first[0]), 0);
    publish_n(&bus, 800..2000);
    let mut seen = 1;
    let err = loop {
        match sub.next().await {
            Some(Ok(e)) => {
                assert_eq!(index(&e), seen);
                seen += 1;
            }
            Some(Err(e)) => break e,
            None => panic!("ended without an error"),
        }
    };
    assert_eq!(seen, 100, "delivered exactly what was buffered");
    assert!(err.message.contains("event 101 "), "{}", err.message);
    assert!(sub.next().await.is_none());
}

#[test]
fn publish_never_waits_for_a_subscriber() {
    let dir = tempfile::tempdir().unwrap();
    let bus = EventBus::open(dir.path(), JournalLimits::default()).unwrap();
    // Subscribers that never read, and no runtime driving them at all.
    let _subs: Vec<_> = (0..4)
        .map(|_| bus.subscribe(EventQuery::default()))
        .collect();
    let (tx, rx) = std::sync::mpsc::channel();
    let b = bus.clone();
    std::thread::spawn(move || {
        let t0 = Instant::now();
        let mut worst = Duration::ZERO;
        for i in 0..20_000 {
            let t = Instant::now();
            b.publish(
                EventType::Volume,
                "create",
                &format!("v{i}"),
                BTreeMap::new(),
            );
            worst = worst.max(t.elapsed());
        }
        tx.send((t0.elapsed(), worst)).unwrap();
    });
    let (total, worst) = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("publish blocked");
    let per_event = total / 20_000;
    eprintln!("publish: {per_event:?} per event, worst {worst:?}");
    assert!(per_event < Duration::from_millis(1), "{per_event:?}");
}

#[tokio::test]
async fn shutdown_ends_subscriptions() {
    let dir = tempfile::tempdir().unwrap();
    let bus = EventBus::open(dir.path(), JournalLimits::default()).unwrap();
    let mut sub = bus.subscribe(EventQuery::default());
    let waiter = tokio::spawn(async move { sub.next().await.is_none() });
    tokio::time::sleep(Duration::from_millis(20)).await;
    bus.shutdown();
    assert!(tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .unwrap()
        .unwrap());
}

#[tokio::test]
async fn bus_is_an_event_sink() {
    let dir = tempfile::tempdir().unwrap();
    let bus = EventBus::open(dir.path(), JournalLimits::default()).unwrap();
    let mut sub = bus.subscribe(EventQuery::default());
    let sink: Arc<dyn EventSink> = bus.clone();
    sink.emit(EventType::Network, "create", "n1", BTreeMap::new());
    let e = take(&mut sub, 1).await.remove(0);
    assert_eq!((e.typ, e.action.as_str()), (EventType::Network, "create"));
}
