//! runc-compatible logging. runc writes logrus lines to `--log FILE` (stderr without it),
//! as text (`time="…" level=error msg="…"`) or, with `--log-format json`, as JSON lines
//! `{"level":"error","msg":"…","time":"…"}`. Callers such as containerd's shim read the
//! last error line of that file to explain a failed command, so we write the same shape,
//! both for our own errors and for libcontainer's `tracing` events.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    pub fn parse(s: Option<&str>) -> Result<Self, String> {
        match s {
            None | Some("text") => Ok(LogFormat::Text),
            Some("json") => Ok(LogFormat::Json),
            Some(other) => Err(format!("invalid log-format: {other}")),
        }
    }
}

enum Sink {
    Stderr,
    File(File),
}

/// Where log lines go. Shared by the tracing layer and by the final error report.
pub struct Logger {
    sink: Mutex<Sink>,
    format: LogFormat,
    max_level: Level,
    /// Whether libcontainer's own events are written. On stderr, without --debug, only
    /// our one final error line is: a caller shows a failed command's stderr to the user,
    /// and libcontainer reports one failure at every level it passes through.
    library_events: bool,
}

impl Logger {
    /// Opens `path` for appending (created 0600-ish by umask, like runc), or uses stderr.
    pub fn open(path: Option<&Path>, format: LogFormat, debug: bool) -> std::io::Result<Self> {
        let sink = match path {
            Some(p) if p != Path::new("/dev/stderr") => {
                Sink::File(OpenOptions::new().create(true).append(true).open(p)?)
            }
            _ => Sink::Stderr,
        };
        let library_events = debug || matches!(sink, Sink::File(_));
        Ok(Logger {
            library_events,
            sink: Mutex::new(sink),
            format,
            // libcontainer warns about every cgroup controller the host lacks, on every
            // command; like runc's default, only errors are worth a line unless --debug.
            max_level: if debug { Level::DEBUG } else { Level::ERROR },
        })
    }

    pub fn logs_to_stderr(&self) -> bool {
        matches!(
            *self.sink.lock().unwrap_or_else(|e| e.into_inner()),
            Sink::Stderr
        )
    }

    pub fn enabled(&self, level: Level) -> bool {
        level <= self.max_level
    }

    /// Writes one line at `level` (a no-op below the threshold).
    pub fn log(&self, level: Level, msg: &str) {
        if !self.enabled(level) {
            return;
        }
        let line = format_line(self.format, level, msg, &berth_types::timestamp::now());
        let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        // A failed log write has nowhere better to go; the command's own result stands.
        let _ = match &mut *sink {
            Sink::Stderr => std::io::stderr().write_all(line.as_bytes()),
            Sink::File(f) => f.write_all(line.as_bytes()),
        };
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

/// One logrus-shaped line, newline included.
pub fn format_line(format: LogFormat, level: Level, msg: &str, time: &str) -> String {
    match format {
        LogFormat::Json => {
            let v = serde_json::json!({ "level": level_name(level), "msg": msg, "time": time });
            format!("{v}\n")
        }
        LogFormat::Text => {
            // logrus quotes the message with Go's %q; serde_json's string escaping matches
            // it for everything a log message carries in practice.
            let quoted = serde_json::Value::String(msg.to_owned()).to_string();
            format!("time=\"{time}\" level={} msg={quoted}\n", level_name(level))
        }
    }
}

/// Collects an event's `message` and its other fields into one string.
#[derive(Default)]
struct MsgVisitor {
    message: String,
    fields: String,
}

impl Visit for MsgVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

struct RuncLayer(&'static Logger);

impl<S: Subscriber> Layer<S> for RuncLayer {
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        self.0.library_events && self.0.enabled(*metadata.level())
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut v = MsgVisitor::default();
        event.record(&mut v);
        let msg = format!("{}{}", v.message, v.fields);
        self.0.log(*event.metadata().level(), &msg);
    }
}

/// Installs `logger` as the process-wide tracing subscriber, so libcontainer's events land
/// in the same log. The logger lives for the rest of the process (this is a one-shot CLI).
pub fn install(logger: Logger) -> &'static Logger {
    let logger: &'static Logger = Box::leak(Box::new(logger));
    let subscriber = tracing_subscriber::registry().with(RuncLayer(logger));
    // A subscriber may already be set when berthd embeds us after setting its own; then
    // libcontainer's events go there and our error report still uses `logger`.
    let _ = tracing::subscriber::set_global_default(subscriber);
    logger
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_has_runc_shape() {
        let line = format_line(LogFormat::Json, Level::ERROR, "boom \"x\"", "T");
        assert!(line.ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "boom \"x\"");
        assert_eq!(v["time"], "T");
    }

    #[test]
    fn text_line_has_logrus_shape() {
        let line = format_line(LogFormat::Text, Level::WARN, "a \"b\"", "T");
        assert_eq!(line, "time=\"T\" level=warning msg=\"a \\\"b\\\"\"\n");
    }

    #[test]
    fn parse_format() {
        assert_eq!(LogFormat::parse(None).unwrap(), LogFormat::Text);
        assert_eq!(LogFormat::parse(Some("json")).unwrap(), LogFormat::Json);
        assert!(LogFormat::parse(Some("xml")).is_err());
    }
}
