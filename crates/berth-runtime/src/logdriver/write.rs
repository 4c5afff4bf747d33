//! Carrying out a [`LogSink`]: the shim feeds a container's output into a
//! [`ContainerLog`], which splits each stream into lines and writes them
//! where the driver said. Synchronous: the shim has no async runtime.

use crate::logs::{JsonFileWriter, LineSplitter};
use berth_core::logs::LogSink;
use std::io;

/// One of a container's two output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

enum Writer {
    Discard,
    JsonFile(JsonFileWriter),
}

/// A container's log as the shim keeps it.
pub struct ContainerLog {
    writer: Writer,
    out: LineSplitter,
    err: LineSplitter,
}

impl ContainerLog {
    /// Opens what `sink` describes (creating a json-file log's directory).
    /// An error names the file.
    pub fn open(sink: &LogSink) -> io::Result<ContainerLog> {
        let writer = match sink {
            LogSink::Discard => Writer::Discard,
            LogSink::JsonFile {
                path,
                max_size,
                max_file,
            } => Writer::JsonFile(
                JsonFileWriter::open(path, *max_size, *max_file)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?,
            ),
        };
        Ok(ContainerLog {
            writer,
            out: LineSplitter::default(),
            err: LineSplitter::default(),
        })
    }

    /// `data` read from `stream` at `now` (nanoseconds since the epoch):
    /// its complete lines are written, a partial one kept for later. Every
    /// line is tried; the first error is returned.
    pub fn write(&mut self, stream: Stream, data: &[u8], now: i128) -> io::Result<()> {
        let (splitter, writer) = self.parts(stream);
        let mut first = Ok(());
        splitter.push(data, |line| {
            let r = writer.write(stream, line, now);
            if first.is_ok() {
                first = r;
            }
        });
        first
    }

    /// `stream` reached its end: its last, unterminated line is written.
    pub fn end(&mut self, stream: Stream, now: i128) -> io::Result<()> {
        let (splitter, writer) = self.parts(stream);
        let mut first = Ok(());
        splitter.flush(|line| first = writer.write(stream, line, now));
        first
    }

    /// The container is gone: both streams' last lines are written and
    /// the log is closed (later writes are dropped).
    pub fn close(&mut self, now: i128) -> io::Result<()> {
        let out = self.end(Stream::Stdout, now);
        let err = self.end(Stream::Stderr, now);
        self.writer = Writer::Discard;
        out.and(err)
    }

    fn parts(&mut self, stream: Stream) -> (&mut LineSplitter, &mut Writer) {
        match stream {
            Stream::Stdout => (&mut self.out, &mut self.writer),
            Stream::Stderr => (&mut self.err, &mut self.writer),
        }
    }
}

impl Writer {
    fn write(&mut self, stream: Stream, line: &[u8], now: i128) -> io::Result<()> {
        match self {
            Writer::Discard => Ok(()),
            Writer::JsonFile(w) => w.write_entry(stream.as_str(), line, now),
        }
    }
}
