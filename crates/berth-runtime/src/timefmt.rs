//! Kept so existing callers compile: the timestamp helpers live in
//! `berth_types::timestamp` (RFC3339Nano formatting and parsing).

pub use berth_types::timestamp::{
    format_nanos, format_nanos_into, format_system_time, nanos_to_system_time, now_nanos,
    parse_nanos as parse_rfc3339_nanos, system_time_nanos,
};
