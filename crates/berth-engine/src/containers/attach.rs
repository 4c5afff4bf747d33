//! attach, logs and resize.

use super::{not_running, Containers, Live};
use berth_api::containers::{AttachOptions, AttachSession, LogStream, LogsOptions};
use berth_core::containers::ContainerRecord;
use berth_core::logs::LogSource;
use berth_runtime::logdriver;
use berth_runtime::logs::{frame_entry, LogOptions};
use berth_runtime::{AttachStreams, ShimClient, ShimConfig};
use berth_types::Result;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::oneshot;
use tokio_util::io::ReaderStream;

/// An attach made while the container is not running: it is connected to
/// the shim of the next start, before the process runs.
pub struct PendingAttach {
    stdin: bool,
    stdout: bool,
    stderr: bool,
    tx: oneshot::Sender<AttachStreams>,
}

impl PendingAttach {
    pub(super) async fn connect(self, shim: &ShimClient) {
        match shim.attach(self.stdin, self.stdout, self.stderr).await {
            Ok(s) => {
                let _ = self.tx.send(s);
            }
            Err(e) => tracing::warn!("attaching to {}: {e}", shim.id()),
        }
    }
}

impl Containers {
    /// A handle for reading the logs and exit record of a container, with
    /// or without a live shim.
    fn log_client(&self, id: &str) -> Option<ShimClient> {
        if let Some(s) = self.live(id).shim() {
            return Some(s);
        }
        let data = std::fs::read(self.store.dir_of(id).join("shim.json")).ok()?;
        let cfg: ShimConfig = serde_json::from_slice(&data).ok()?;
        Some(ShimClient::from_config(cfg))
    }

    /// The entries of `source` (None: where the shim wrote them).
    fn log_stream(
        &self,
        id: &str,
        source: Option<LogSource>,
        opts: LogOptions,
        tty: bool,
    ) -> futures_util::stream::BoxStream<'static, Bytes> {
        let Some(client) = self.log_client(id) else {
            return futures_util::stream::empty().boxed();
        };
        let timestamps = opts.timestamps;
        let rx = match source {
            Some(source) => client.read_logs(source, opts),
            None => client.logs(opts),
        };
        tokio_stream_from(rx)
            .filter_map(move |e| async move {
                e.ok()
                    .map(|e| Bytes::from(frame_entry(&e, timestamps, tty)))
            })
            .boxed()
    }

    pub async fn logs(&self, reference: &str, o: LogsOptions) -> Result<LogStream> {
        let c = self.store.get(reference)?;
        let rec = c.lock().unwrap().clone();
        let log_path = self.paths(&rec.id, &rec.host_config.runtime).log_path;
        let ctx = logdriver::context(&rec.id, &log_path, &rec.config, &rec.host_config);
        let source = logdriver::source(&rec.host_config.log_config.typ, &ctx).await?;
        let tty = rec.config.tty;
        let opts = LogOptions {
            stdout: o.stdout,
            stderr: o.stderr,
            since: o.since,
            until: o.until,
            tail: o.tail,
            follow: o.follow && rec.state.running,
            timestamps: o.timestamps,
        };
        Ok(LogStream {
            tty,
            chunks: self.log_stream(&rec.id, Some(source), opts, tty),
        })
    }

    pub async fn attach(&self, reference: &str, o: AttachOptions) -> Result<AttachSession> {
        let c = self.store.get(reference)?;
        let rec = c.lock().unwrap().clone();
        let live = self.live(&rec.id);
        let tty = rec.config.tty;
        let stdin = o.stdin && rec.config.open_stdin;
        let replay = if o.logs {
            let opts = LogOptions {
                stdout: o.stdout,
                stderr: o.stderr,
                follow: false,
                ..Default::default()
            };
            self.log_stream(&rec.id, None, opts, tty)
        } else {
            futures_util::stream::empty().boxed()
        };
        if !o.stream {
            return Ok(AttachSession {
                tty,
                output: replay,
                input: None,
                on_detach: None,
            });
        }
        self.emit(&rec, "attach", &[]);
        let streams_rx = Self::streams(&rec, &live, stdin, &o).await?;
        // The client's stdin goes through a pipe until the streams exist.
        let (input_w, mut input_r) = tokio::io::duplex(64 * 1024);
        let (out_tx, out_rx) = oneshot::channel();
        tokio::spawn(async move {
            let Ok(streams) = streams_rx.await else {
                return;
            };
            let AttachStreams { output, mut input } = streams;
            let _ = out_tx.send(output);
            if stdin {
                let _ = tokio::io::copy(&mut input_r, &mut input).await;
                use tokio::io::AsyncWriteExt;
                let _ = input.shutdown().await;
            }
        });
        let live_out = futures_util::stream::once(out_rx)
            .filter_map(|r| async move { r.ok() })
            .flat_map(|output| ReaderStream::new(output).filter_map(|r| async move { r.ok() }));
        let events = self.events.clone();
        let detach_rec = rec.clone();
        Ok(AttachSession {
            tty,
            output: replay.chain(live_out).boxed(),
            input: stdin
                .then(|| Box::new(input_w) as Box<dyn tokio::io::AsyncWrite + Send + Unpin>),
            on_detach: Some(Box::new(move || {
                let attrs = super::event_attributes(&detach_rec);
                events.publish(
                    berth_types::EventType::Container,
                    "detach",
                    &detach_rec.id,
                    attrs,
                );
            })),
        })
    }

    /// The streams of the running process, or (for a container not
    /// started yet) a promise of those of its next start.
    async fn streams(
        rec: &ContainerRecord,
        live: &Live,
        stdin: bool,
        o: &AttachOptions,
    ) -> Result<oneshot::Receiver<AttachStreams>> {
        Ok(match live.shim().filter(|_| rec.state.running) {
            Some(shim) => {
                let s = shim.attach(stdin, o.stdout, o.stderr).await?;
                let (tx, rx) = oneshot::channel();
                let _ = tx.send(s);
                rx
            }
            None => {
                if rec.state.paused {
                    return Err(not_running(&rec.id));
                }
                let (tx, rx) = oneshot::channel();
                live.pending.lock().unwrap().push(PendingAttach {
                    stdin,
                    stdout: o.stdout,
                    stderr: o.stderr,
                    tx,
                });
                rx
            }
        })
    }

    pub async fn resize(&self, reference: &str, height: u16, width: u16) -> Result<()> {
        let c = self.store.get(reference)?;
        let rec = c.lock().unwrap().clone();
        let Some(shim) = self.live(&rec.id).shim().filter(|_| rec.state.running) else {
            return Err(not_running(&rec.id));
        };
        if !rec.config.tty {
            return Ok(());
        }
        shim.resize(height, width).await?;
        Ok(())
    }
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
