//! `GET /events`: the event stream as newline-delimited JSON.
//!
//! The response is `200 application/json` with one event object and `\n`
//! per event, sent as each event arrives (a streamed, chunked body). If the
//! subscriber falls so far behind that the events it missed have left the
//! journal, the stream ends with one error line, `{"message": "..."}`, then
//! closes; see [`berth_core::events`].
//!
//! Query parameters: `since`, `until` (unix seconds with an optional
//! fraction, RFC3339, or a duration such as `10m`) and `filters`. A bad
//! value is a 400 before the stream starts.

use crate::error::ApiResult;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use berth_core::events::{parse_time, EventBus, EventFilter, EventQuery, Subscription};
use berth_core::Filters;
use berth_types::error::ErrorResponse;
use berth_types::{Error, Result};
use bytes::Bytes;
use std::convert::Infallible;
use std::sync::Arc;

/// A chunk grows to about this size when events are already at hand (a
/// replay), instead of one chunk per event.
const CHUNK_TARGET: usize = 64 * 1024;

/// The `/events` route (unversioned; the caller strips `/v1.NN`).
pub fn routes(bus: Arc<EventBus>) -> Router {
    Router::new()
        .route("/events", get(get_events))
        .with_state(bus)
}

async fn get_events(
    State(bus): State<Arc<EventBus>>,
    query: std::result::Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(params) = query.map_err(|e| Error::invalid(format!("invalid query: {e}")))?;
    let query = parse_query(&params, berth_core::events::now_nanos())?;
    let sub = bus.subscribe(query);
    let stream = futures_util::stream::unfold(Some(sub), next_chunk);
    let response = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(stream))
        .map_err(|e| Error::internal(e.to_string()))?;
    Ok(response)
}

/// The next piece of the body: one event, or several when a replay has
/// them ready; an error line ends the stream.
async fn next_chunk(
    sub: Option<Subscription>,
) -> Option<(std::result::Result<Bytes, Infallible>, Option<Subscription>)> {
    let mut sub = sub?;
    let mut buf = Vec::new();
    match sub.next().await? {
        Ok(ev) => write_line(&mut buf, &ev),
        Err(e) => {
            write_line(&mut buf, &ErrorResponse { message: e.message });
            return Some((Ok(Bytes::from(buf)), None));
        }
    }
    while buf.len() < CHUNK_TARGET {
        match sub.next_buffered() {
            Some(ev) => write_line(&mut buf, &ev),
            None => break,
        }
    }
    Some((Ok(Bytes::from(buf)), Some(sub)))
}

fn write_line<T: serde::Serialize>(buf: &mut Vec<u8>, value: &T) {
    // Serialising these plain structs cannot fail.
    let _ = serde_json::to_writer(&mut *buf, value);
    buf.push(b'\n');
}

/// Turns the query parameters into a subscription request. Empty values
/// count as absent; for a repeated parameter the last one wins.
pub fn parse_query(params: &[(String, String)], now_nanos: i64) -> Result<EventQuery> {
    let last = |key: &str| {
        params
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.trim().is_empty())
    };
    let time = |key: &str| -> Result<Option<i64>> {
        last(key)
            .map(|v| {
                parse_time(v, now_nanos)
                    .map_err(|e| Error::invalid(format!("invalid {key} timestamp: {}", e.message)))
            })
            .transpose()
    };
    let since = time("since")?;
    let until = time("until")?;
    if let (Some(s), Some(u)) = (since, until) {
        if u < s {
            return Err(Error::invalid(format!(
                "`since` time ({}) cannot be after `until` time ({})",
                last("since").unwrap_or_default(),
                last("until").unwrap_or_default()
            )));
        }
    }
    let filters = Filters::parse(last("filters").unwrap_or_default())?;
    let filter = EventFilter::from_filters(&filters)?;
    Ok(EventQuery {
        since,
        until,
        filter,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;
    use berth_core::events::JournalLimits;
    use berth_types::{Event, EventType};
    use http_body_util::BodyExt;
    use std::collections::BTreeMap;
    use std::time::Duration;
    use tower::ServiceExt;

    const NOW: i64 = 1_700_000_000_000_000_000;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_times_and_filters() {
        let q = parse_query(
            &params(&[
                ("since", "1699999400.5"),
                ("until", "2023-11-14T22:13:20Z"),
                ("filters", r#"{"type":{"container":true}}"#),
            ]),
            NOW,
        )
        .unwrap();
        assert_eq!(q.since, Some(NOW - 600_000_000_000 + 500_000_000));
        assert_eq!(q.until, Some(NOW));
        let ev = |t| Event::new(t, "start", "x", BTreeMap::new(), 1);
        assert!(q.filter.matches(&ev(EventType::Container)));
        assert!(!q.filter.matches(&ev(EventType::Image)));

        let q = parse_query(&params(&[("since", "10m"), ("until", "")]), NOW).unwrap();
        assert_eq!(q.since, Some(NOW - 600_000_000_000));
        assert_eq!(q.until, None);
        assert_eq!(parse_query(&[], NOW).unwrap(), EventQuery::default());
    }

    #[test]
    fn rejects_bad_values() {
        let err = |p: &[(&str, &str)]| parse_query(&params(p), NOW).unwrap_err();
        let e = err(&[("since", "yesterday")]);
        assert_eq!(e.kind, berth_types::ErrorKind::InvalidParameter);
        assert!(e.message.starts_with("invalid since timestamp:"), "{e}");
        assert!(err(&[("until", "5x")])
            .message
            .starts_with("invalid until timestamp:"));
        assert_eq!(
            err(&[("since", "20"), ("until", "10")]).message,
            "`since` time (20) cannot be after `until` time (10)"
        );
        assert_eq!(
            err(&[("filters", r#"{"nope":["x"]}"#)]).message,
            "invalid filter 'nope'"
        );
        assert!(err(&[("filters", "{")])
            .message
            .starts_with("invalid filter"));
    }

    fn bus() -> (tempfile::TempDir, Arc<EventBus>) {
        let dir = tempfile::tempdir().unwrap();
        let bus = EventBus::open(&dir.path().join("events"), JournalLimits::default()).unwrap();
        (dir, bus)
    }

    fn get(uri: &str) -> Request<Body> {
        Request::builder().uri(uri).body(Body::empty()).unwrap()
    }

    fn publish(bus: &EventBus, action: &str, id: &str) -> Event {
        let mut attrs = BTreeMap::new();
        attrs.insert("name".to_string(), format!("n-{id}"));
        bus.publish(EventType::Container, action, id, attrs)
    }

    /// Reads body frames until `n` complete lines have arrived.
    async fn read_lines(body: &mut Body, n: usize) -> Vec<serde_json::Value> {
        let mut text = Vec::new();
        while text.iter().filter(|&&b| b == b'\n').count() < n {
            let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
                .await
                .expect("stream stalled")
                .expect("stream ended early")
                .unwrap();
            if let Ok(data) = frame.into_data() {
                text.extend_from_slice(&data);
            }
        }
        text.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn streams_replay_then_live_as_ndjson() {
        let (_dir, bus) = bus();
        let old = publish(&bus, "create", "aaa");
        publish(&bus, "create", "bbb");
        let app = routes(bus.clone());
        let resp = app
            .oneshot(get(&format!(
                "/events?since={}&filters=%7B%22container%22%3A%5B%22aaa%22%5D%7D",
                old.time - 1
            )))
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(bus.listener_count(), 1);
        let mut body = resp.into_body();
        let lines = read_lines(&mut body, 1).await;
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["Type"], "container");
        assert_eq!(lines[0]["Action"], "create");
        assert_eq!(lines[0]["Actor"]["ID"], "aaa");
        assert_eq!(lines[0]["Actor"]["Attributes"]["name"], "n-aaa");
        assert_eq!(lines[0]["scope"], "local");
        assert_eq!(lines[0]["timeNano"], old.time_nano);
        assert_eq!(lines[0]["time"], old.time);

        // Live: only the matching event comes through.
        publish(&bus, "start", "bbb");
        let live = publish(&bus, "start", "aaa");
        let lines = read_lines(&mut body, 1).await;
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["Action"], "start");
        assert_eq!(lines[0]["timeNano"], live.time_nano);

        drop(body);
        assert_eq!(bus.listener_count(), 0, "a closed client unsubscribes");
    }

    #[tokio::test]
    async fn past_until_returns_the_window_and_ends() {
        let (_dir, bus) = bus();
        for i in 0..300 {
            publish(&bus, "create", &format!("c{i}"));
        }
        let now = berth_core::events::now_nanos();
        let until = format!("{}.{:09}", now / 1_000_000_000, now % 1_000_000_000);
        let t0 = std::time::Instant::now();
        let resp = routes(bus.clone())
            .oneshot(get(&format!("/events?since=0&until={until}")))
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let deadline = Duration::from_secs(10);
        let bytes = tokio::time::timeout(deadline, resp.into_body().collect())
            .await
            .expect("stream did not end")
            .unwrap()
            .to_bytes();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(text.ends_with('\n'));
        let ids: Vec<String> = text
            .lines()
            .map(|l| serde_json::from_str::<Event>(l).unwrap().actor.id)
            .collect();
        let want: Vec<String> = (0..300).map(|i| format!("c{i}")).collect();
        assert_eq!(ids, want);
        assert!(t0.elapsed() < Duration::from_secs(5), "ended at once");
    }

    #[tokio::test]
    async fn fallen_behind_stream_ends_with_an_error_line() {
        let dir = tempfile::tempdir().unwrap();
        let limits = JournalLimits {
            max_events: 100,
            max_bytes: 1 << 20,
        };
        let bus = EventBus::open(dir.path(), limits).unwrap();
        let resp = routes(bus.clone()).oneshot(get("/events")).await.unwrap();
        for i in 0..2000 {
            publish(&bus, "create", &format!("c{i}"));
        }
        let bytes = tokio::time::timeout(Duration::from_secs(10), resp.into_body().collect())
            .await
            .expect("stream did not end")
            .unwrap()
            .to_bytes();
        let text = std::str::from_utf8(&bytes).unwrap();
        let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert!(
            last["message"].as_str().unwrap().contains("fell behind"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn bad_requests_are_json_400s() {
        let (_dir, bus) = bus();
        for uri in [
            "/events?since=yesterday",
            "/events?until=10&since=20",
            "/events?filters=%7Bbad",
            "/events?filters=%7B%22colour%22%3A%5B%22red%22%5D%7D",
        ] {
            let resp = routes(bus.clone()).oneshot(get(uri)).await.unwrap();
            assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{uri}");
            assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            let err: ErrorResponse = serde_json::from_slice(&body).unwrap();
            assert!(!err.message.is_empty(), "{uri}");
        }
        assert_eq!(bus.listener_count(), 0);
    }
}
