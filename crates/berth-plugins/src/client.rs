//! The plugin HTTP client: one POST per call over a unix socket or TCP, with
//! Docker's plugin content type, a deadline on every call, and a circuit
//! breaker per plugin so a hanging or dead plugin costs its callers a clear
//! error within seconds instead of a pile-up.

use crate::discovery::{Addr, Endpoint};
use crate::error::{Error, Result};
use berth_types::volume::{ErrResponse, PLUGIN_CONTENT_TYPE};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Tunables of a plugin client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The deadline of one call, connect to last byte.
    pub call_timeout: Duration,
    /// Consecutive transport failures that open the breaker.
    pub breaker_threshold: u32,
    /// How long an open breaker fails calls at once before letting one through.
    pub breaker_cooldown: Duration,
    /// The largest answer accepted.
    pub max_response: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            call_timeout: Duration::from_secs(10),
            breaker_threshold: 3,
            breaker_cooldown: Duration::from_secs(5),
            max_response: 16 << 20,
        }
    }
}

#[derive(Debug, Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
}

/// A client of one plugin.
#[derive(Debug)]
pub struct Client {
    endpoint: Endpoint,
    opts: ClientOptions,
    breaker: Mutex<Breaker>,
}

impl Client {
    pub fn new(endpoint: Endpoint, opts: ClientOptions) -> Client {
        Client {
            endpoint,
            opts,
            breaker: Mutex::new(Breaker::default()),
        }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub fn name(&self) -> &str {
        &self.endpoint.name
    }

    /// Calls `method` (e.g. `VolumeDriver.Create`) with `req` and decodes the answer.
    pub async fn call<Req: Serialize + ?Sized, Resp: DeserializeOwned>(
        &self,
        method: &str,
        req: &Req,
    ) -> Result<Resp> {
        let body = serde_json::to_vec(req).map_err(|e| Error::Protocol {
            plugin: self.name().to_string(),
            method: method.to_string(),
            reason: format!("encoding the request: {e}"),
        })?;
        self.breaker_check()?;
        let res = self
            .call_raw(method, body, self.opts.call_timeout, false)
            .await
            .and_then(|raw| self.decode(method, &raw));
        self.breaker_record(res.as_ref().err().is_some_and(Error::is_transport));
        res
    }

    /// Decodes a plugin answer, turning a non-empty `Err` into [`Error::Remote`].
    pub fn decode<Resp: DeserializeOwned>(&self, method: &str, raw: &[u8]) -> Result<Resp> {
        let protocol = |reason: String| Error::Protocol {
            plugin: self.name().to_string(),
            method: method.to_string(),
            reason,
        };
        let v: serde_json::Value = if raw.iter().all(u8::is_ascii_whitespace) {
            serde_json::Value::Object(Default::default())
        } else {
            serde_json::from_slice(raw).map_err(|e| protocol(format!("not JSON ({e})")))?
        };
        if let Some(err) = v.get("Err").and_then(|e| e.as_str()) {
            if !err.is_empty() {
                return Err(Error::Remote(err.to_string()));
            }
        }
        serde_json::from_value(v).map_err(|e| protocol(e.to_string()))
    }

    /// One POST with a deadline. `breaker` false is for activation, which
    /// has its own retry loop.
    pub async fn call_raw(
        &self,
        method: &str,
        body: Vec<u8>,
        timeout: Duration,
        breaker: bool,
    ) -> Result<Bytes> {
        if breaker {
            self.breaker_check()?;
        }
        let res = match tokio::time::timeout(timeout, self.post(method, body)).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout {
                plugin: self.name().to_string(),
                method: method.to_string(),
                secs: timeout.as_secs_f64(),
            }),
        };
        if breaker {
            self.breaker_record(res.as_ref().err().is_some_and(Error::is_transport));
        }
        res
    }

    fn breaker_check(&self) -> Result<()> {
        let mut b = self.breaker.lock().unwrap();
        if let Some(until) = b.open_until {
            let now = Instant::now();
            if now < until {
                return Err(Error::Unavailable {
                    plugin: self.name().to_string(),
                    reason: format!(
                        "{} calls in a row failed; not calling it again for {:.1}s",
                        b.failures,
                        (until - now).as_secs_f64()
                    ),
                });
            }
            // Half open: let this call through; one more failure reopens.
            b.open_until = None;
        }
        Ok(())
    }

    fn breaker_record(&self, transport_failure: bool) {
        let mut b = self.breaker.lock().unwrap();
        if transport_failure {
            b.failures += 1;
            if b.failures >= self.opts.breaker_threshold {
                b.open_until = Some(Instant::now() + self.opts.breaker_cooldown);
            }
        } else {
            b.failures = 0;
            b.open_until = None;
        }
    }

    /// Whether the breaker is open now.
    pub fn breaker_open(&self) -> bool {
        let b = self.breaker.lock().unwrap();
        b.open_until.is_some_and(|u| Instant::now() < u)
    }

    async fn post(&self, method: &str, body: Vec<u8>) -> Result<Bytes> {
        let unavailable = |reason: String| Error::Unavailable {
            plugin: self.name().to_string(),
            reason,
        };
        match &self.endpoint.addr {
            Addr::Unix(path) => {
                let s = tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(|e| unavailable(format!("connecting to {}: {e}", path.display())))?;
                self.exchange(s, method, body).await
            }
            Addr::Tcp(hp) => {
                if self.endpoint.tls.is_some() {
                    return Err(unavailable(
                        "TLS plugin endpoints are not supported by berth yet".into(),
                    ));
                }
                let s = tokio::net::TcpStream::connect(hp.as_str())
                    .await
                    .map_err(|e| unavailable(format!("connecting to {hp}: {e}")))?;
                self.exchange(s, method, body).await
            }
        }
    }

    async fn exchange<S>(&self, stream: S, method: &str, body: Vec<u8>) -> Result<Bytes>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let plugin = self.name().to_string();
        let unavailable = |reason: String| Error::Unavailable {
            plugin: plugin.clone(),
            reason,
        };
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| unavailable(format!("handshake: {e}")))?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        let req = hyper::Request::post(format!("/{method}"))
            .header(hyper::header::HOST, "plugin")
            .header(hyper::header::ACCEPT, PLUGIN_CONTENT_TYPE)
            .header(hyper::header::CONTENT_TYPE, PLUGIN_CONTENT_TYPE)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| unavailable(e.to_string()))?;
        let result = async {
            let resp = send
                .send_request(req)
                .await
                .map_err(|e| unavailable(format!("{method}: connection failed mid-call: {e}")))?;
            let status = resp.status();
            let bytes = Limited::new(resp.into_body(), self.opts.max_response)
                .collect()
                .await
                .map_err(|e| unavailable(format!("{method}: reading the answer: {e}")))?
                .to_bytes();
            if status.is_success() {
                return Ok(bytes);
            }
            if status == hyper::StatusCode::NOT_FOUND {
                return Err(Error::NotImplements(plugin.clone(), method.to_string()));
            }
            // Docker's plugins answer errors as {"Err": "..."} with a 500;
            // take a plain-text body as the message otherwise.
            let msg = match serde_json::from_slice::<ErrResponse>(&bytes) {
                Ok(e) if !e.err.is_empty() => e.err,
                _ => {
                    let t = String::from_utf8_lossy(&bytes).trim().to_string();
                    if t.is_empty() {
                        format!("{method}: plugin answered {status}")
                    } else {
                        t
                    }
                }
            };
            Err(Error::Remote(msg))
        }
        .await;
        driver.abort();
        result
    }
}
