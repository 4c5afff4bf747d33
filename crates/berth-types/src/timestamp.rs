//! Timestamps as the Engine API writes them: RFC 3339 in UTC with
//! nanoseconds, trailing zeros of the fraction dropped (Go's `RFC3339Nano`),
//! e.g. `2023-11-14T22:13:20.12Z`; and their parsing back.
//!
//! Every crate formats and parses its timestamps here, so a container's
//! `Created`, a log line's time and an image's `Created` look alike.

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// What Go prints for its zero time; written for an instant RFC 3339 cannot
/// express (a year outside 0..=9999).
pub const ZERO: &str = "0001-01-01T00:00:00Z";

/// Formats nanoseconds since the epoch as RFC3339Nano UTC into `out`.
pub fn format_nanos_into(nanos: i128, out: &mut String) {
    match OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
    {
        Some(s) => out.push_str(&s),
        None => out.push_str(ZERO),
    }
}

/// Nanoseconds since the epoch as RFC3339Nano UTC.
pub fn format_nanos(nanos: i128) -> String {
    let mut s = String::with_capacity(32);
    format_nanos_into(nanos, &mut s);
    s
}

/// A `SystemTime` as RFC3339Nano UTC.
pub fn format_system_time(t: SystemTime) -> String {
    format_nanos(system_time_nanos(t))
}

/// The wall clock as RFC3339Nano UTC.
pub fn now() -> String {
    format_nanos(now_nanos())
}

/// The wall clock as RFC 3339 UTC in whole seconds (volumes' `CreatedAt`).
pub fn now_seconds() -> String {
    format_nanos(i128::from(now_unix()) * 1_000_000_000)
}

/// The wall clock in nanoseconds since the epoch.
pub fn now_nanos() -> i128 {
    system_time_nanos(SystemTime::now())
}

/// The wall clock in whole seconds since the epoch.
pub fn now_unix() -> i64 {
    now_nanos().div_euclid(1_000_000_000) as i64
}

/// A `SystemTime` in nanoseconds since the epoch (negative before it).
pub fn system_time_nanos(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// Nanoseconds since the epoch as a `SystemTime`.
pub fn nanos_to_system_time(n: i128) -> SystemTime {
    let d = Duration::from_nanos(n.unsigned_abs().min(u64::MAX as u128) as u64);
    if n >= 0 {
        UNIX_EPOCH + d
    } else {
        UNIX_EPOCH - d
    }
}

/// Parses an RFC 3339 timestamp (`Z` or `±hh:mm` offset, optional fraction)
/// into nanoseconds since the epoch.
pub fn parse_nanos(s: &str) -> Option<i128> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp_nanos)
}

/// Parses an RFC 3339 timestamp into whole seconds since the epoch.
pub fn parse_unix(s: &str) -> Option<i64> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go_rfc3339nano() {
        assert_eq!(format_nanos(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_nanos(1_700_000_000_123_456_789),
            "2023-11-14T22:13:20.123456789Z"
        );
        assert_eq!(
            format_nanos(1_700_000_000_120_000_000),
            "2023-11-14T22:13:20.12Z"
        );
        assert_eq!(
            format_nanos(951_782_400 * 1_000_000_000),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(format_nanos(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(format_nanos(i128::MAX), ZERO);
        let mut s = String::from("x ");
        format_nanos_into(1_000_000, &mut s);
        assert_eq!(s, "x 1970-01-01T00:00:00.001Z");
    }

    #[test]
    fn parses_back_and_with_offsets() {
        for n in [
            0i128,
            1_700_000_000_123_456_789,
            951_782_400_000_000_001,
            -1,
        ] {
            assert_eq!(parse_nanos(&format_nanos(n)), Some(n));
        }
        assert_eq!(
            parse_nanos("2023-11-14T23:13:20.5+01:00"),
            Some(1_700_000_000_500_000_000)
        );
        assert_eq!(
            parse_nanos("2023-11-14 22:13:20Z"),
            Some(1_700_000_000_000_000_000)
        );
        assert_eq!(parse_nanos(ZERO).map(|n| n < 0), Some(true));
        assert_eq!(parse_nanos("2023-11-14 bad"), None);
        assert_eq!(parse_nanos("2023-11-14T22:13:20"), None);
        assert_eq!(parse_unix("2023-11-14T22:13:20.9Z"), Some(1_700_000_000));
        assert_eq!(parse_unix("nope"), None);
    }

    #[test]
    fn now_is_now() {
        let before = system_time_nanos(SystemTime::now());
        let n = parse_nanos(&now()).unwrap();
        assert!(n >= before && n - before < 60_000_000_000);
        assert_eq!(
            nanos_to_system_time(before),
            UNIX_EPOCH + Duration::from_nanos(before as u64)
        );
        assert!(now_unix() > 1_600_000_000);
    }
}
