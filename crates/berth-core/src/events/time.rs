//! The `since` / `until` forms `GET /events` accepts.
//!
//! dockerd's server only takes `SECONDS[.FRACTION]` (the docker CLI converts
//! everything else before sending); berth also takes the forms the CLI
//! accepts, so that curl users and older clients get the same behaviour:
//!
//! * unix seconds with an optional decimal fraction: `1700000000`,
//!   `1700000000.123456789` (the fraction is a decimal fraction of a second,
//!   read to nanosecond precision);
//! * RFC3339 with an offset, `2024-01-02T15:04:05.5Z`, `2024-01-02T15:04:05+02:00`;
//!   and, without an offset (read as UTC: the daemon has no client time zone),
//!   `2024-01-02T15:04:05[.frac]`, `2024-01-02T15:04`, `2024-01-02`;
//! * a Go-style duration counted back from now: `10m`, `1h30m`, `1.5h`,
//!   `300ms`; a leading `-` counts forward.

use berth_types::{Error, Result};
use time::macros::format_description;
use time::{Date, PrimitiveDateTime};

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// The wall clock as unix nanoseconds.
pub fn now_nanos() -> i64 {
    i64::try_from(berth_types::timestamp::now_nanos()).unwrap_or(i64::MAX)
}

/// Parses one `since`/`until` value into unix nanoseconds; durations are
/// counted back from `now_nanos`.
pub fn parse_time(s: &str, now_nanos: i64) -> Result<i64> {
    let s = s.trim();
    if s.is_empty() {
        return Err(Error::invalid("empty timestamp"));
    }
    if let Some(n) = parse_unix(s) {
        return n;
    }
    if let Some(n) = parse_date(s) {
        return Ok(n);
    }
    if let Some(d) = parse_duration(s) {
        let t = i128::from(now_nanos) - d;
        return i64::try_from(t).map_err(|_| out_of_range(s));
    }
    Err(Error::invalid(format!(
        "'{s}' is neither unix seconds (1700000000.5), an RFC3339 time \
         (2024-01-02T15:04:05Z) nor a duration (10m)"
    )))
}

fn out_of_range(s: &str) -> Error {
    Error::invalid(format!("timestamp '{s}' is out of range"))
}

/// `[-]DIGITS[.DIGITS]`; `None` when `s` does not have that shape.
fn parse_unix(s: &str) -> Option<Result<i64>> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) {
        return None;
    }
    let Ok(secs) = int.parse::<i128>() else {
        return Some(Err(out_of_range(s)));
    };
    // A decimal fraction, kept to nanosecond precision.
    let mut nanos: i128 = 0;
    for i in 0..9 {
        let d = frac.as_bytes().get(i).map_or(0, |b| b - b'0');
        nanos = nanos * 10 + i128::from(d);
    }
    let mut total = secs * NANOS_PER_SEC + nanos;
    if neg {
        total = -total;
    }
    Some(i64::try_from(total).map_err(|_| out_of_range(s)))
}

/// RFC3339, or an offset-less date/time read as UTC.
fn parse_date(s: &str) -> Option<i64> {
    if let Some(n) = berth_types::timestamp::parse_nanos(s) {
        return i64::try_from(n).ok();
    }
    let odt = if let Ok(t) = PrimitiveDateTime::parse(
        s,
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond]"),
    ) {
        t.assume_utc()
    } else if let Ok(t) = PrimitiveDateTime::parse(
        s,
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
    ) {
        t.assume_utc()
    } else if let Ok(t) = PrimitiveDateTime::parse(
        s,
        format_description!("[year]-[month]-[day]T[hour]:[minute]"),
    ) {
        t.assume_utc()
    } else if let Ok(d) = Date::parse(s, format_description!("[year]-[month]-[day]")) {
        d.midnight().assume_utc()
    } else {
        return None;
    };
    i64::try_from(odt.unix_timestamp_nanos()).ok()
}

/// A Go `time.ParseDuration` string, in nanoseconds.
fn parse_duration(s: &str) -> Option<i128> {
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac = "";
        if let Some(after) = rest.strip_prefix('.') {
            let n = after.bytes().take_while(u8::is_ascii_digit).count();
            frac = &after[..n];
            rest = &after[n..];
        }
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(rest.len(), |(i, _)| i);
        let unit: i128 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => NANOS_PER_SEC,
            "m" => 60 * NANOS_PER_SEC,
            "h" => 3600 * NANOS_PER_SEC,
            _ => return None,
        };
        rest = &rest[unit_len..];
        let whole: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
        let mut part = whole.checked_mul(unit)?;
        // Up to 18 fraction digits is far beyond nanosecond precision.
        let frac = &frac[..frac.len().min(18)];
        if !frac.is_empty() {
            let f: i128 = frac.parse().ok()?;
            part += f * unit / 10i128.pow(frac.len() as u32);
        }
        total = total.checked_add(part)?;
        if total > i128::from(i64::MAX) {
            return None;
        }
    }
    Some(if neg { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000_000_000;

    #[test]
    fn unix_seconds_with_and_without_fraction() {
        assert_eq!(parse_time("1700000000", NOW).unwrap(), NOW);
        assert_eq!(
            parse_time("1700000000.123456789", NOW).unwrap(),
            NOW + 123_456_789
        );
        // A short fraction is a decimal fraction, not a count of nanoseconds.
        assert_eq!(parse_time("1700000000.5", NOW).unwrap(), NOW + 500_000_000);
        assert_eq!(parse_time("1700000000.", NOW).unwrap(), NOW);
        // Digits past nanoseconds are dropped.
        assert_eq!(parse_time("0.0000000019", NOW).unwrap(), 1);
        assert_eq!(parse_time("0", NOW).unwrap(), 0);
        assert_eq!(parse_time("-2.5", NOW).unwrap(), -2_500_000_000);
    }

    #[test]
    fn rfc3339_and_offsetless_dates() {
        assert_eq!(parse_time("2023-11-14T22:13:20Z", 0).unwrap(), NOW);
        assert_eq!(
            parse_time("2023-11-14T22:13:20.25Z", 0).unwrap(),
            NOW + 250_000_000
        );
        assert_eq!(parse_time("2023-11-15T00:13:20+02:00", 0).unwrap(), NOW);
        assert_eq!(parse_time("2023-11-14T22:13:20", 0).unwrap(), NOW);
        assert_eq!(
            parse_time("2023-11-14T22:13", 0).unwrap(),
            NOW - 20_000_000_000
        );
        assert_eq!(
            parse_time("2023-11-14", 0).unwrap(),
            1_699_920_000_000_000_000
        );
    }

    #[test]
    fn durations_count_back_from_now() {
        let min = 60 * 1_000_000_000i64;
        assert_eq!(parse_time("10m", NOW).unwrap(), NOW - 10 * min);
        assert_eq!(parse_time("1h30m", NOW).unwrap(), NOW - 90 * min);
        assert_eq!(parse_time("1.5h", NOW).unwrap(), NOW - 90 * min);
        assert_eq!(parse_time("300ms", NOW).unwrap(), NOW - 300_000_000);
        assert_eq!(parse_time("2us", NOW).unwrap(), NOW - 2_000);
        assert_eq!(parse_time("-10m", NOW).unwrap(), NOW + 10 * min);
        assert_eq!(parse_time("0s", NOW).unwrap(), NOW);
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "  ",
            "abc",
            "10x",
            "10",
            "m",
            "1.2.3",
            "2023-13-45",
            "2023-11-14T25:00:00Z",
            "1e9",
            "99999999999999999999",
            "9999999999999h",
            "--5m",
        ] {
            if bad == "10" {
                // Bare numbers are unix seconds, not durations.
                assert_eq!(parse_time(bad, NOW).unwrap(), 10_000_000_000);
                continue;
            }
            let err = parse_time(bad, NOW).expect_err(bad);
            assert_eq!(err.kind, berth_types::ErrorKind::InvalidParameter, "{bad}");
        }
    }
}
