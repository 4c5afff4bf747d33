//! The plugin HTTP client, the one every plugin kind (volume, network,
//! IPAM, authorization; legacy or managed) is called through: a POST per
//! call over a unix socket or TCP with Docker's plugin content type.
//!
//! Under load a plugin must be neither hammered nor given up on too soon:
//! - connections are kept alive and pooled (hyper-util's pooling client),
//!   and a plugin that closes after each answer (HTTP/1.0) just gets a new
//!   one per call;
//! - at most [`ClientOptions::max_in_flight`] calls are on the wire per
//!   plugin; the rest queue, in order;
//! - a connection the plugin did not accept (listen backlog full: `EAGAIN`)
//!   is tried again with jittered back-off until the call's deadline; one
//!   nobody listens on (`ECONNREFUSED`, the socket gone) only for
//!   [`ClientOptions::gone_retry`], so a dead plugin still fails within it;
//! - the deadline covers all of it: queueing, dialing, retries, answer;
//! - a circuit breaker per plugin counts each call once, by its final
//!   outcome: a call that succeeded after retries is a success. After
//!   [`ClientOptions::breaker_threshold`] failed calls in a row it fails
//!   calls at once for a cool-down, then lets one probe through.
//!
//! Nothing here fails open: every path that is not a well-formed answer
//! is an error.

use crate::discovery::{Addr, Endpoint};
use crate::error::{Error, Result};
use crate::transport::{classify, Connector, Failure};
use berth_types::volume::{ErrResponse, PLUGIN_CONTENT_TYPE};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client as Pool;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Tunables of a plugin client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The deadline of one call, queueing and retries included.
    pub call_timeout: Duration,
    /// Consecutive failed calls that open the breaker.
    pub breaker_threshold: u32,
    /// How long an open breaker fails calls at once before letting one through.
    pub breaker_cooldown: Duration,
    /// The largest answer accepted.
    pub max_response: usize,
    /// Calls on the wire at once to one plugin; more wait their turn.
    pub max_in_flight: usize,
    /// How long a refused connection (nobody listening) is tried again.
    pub gone_retry: Duration,
    /// The first back-off between attempts; it doubles up to `backoff_max`.
    pub backoff_first: Duration,
    pub backoff_max: Duration,
    /// How long an unused kept-alive connection stays open.
    pub idle_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            call_timeout: Duration::from_secs(10),
            breaker_threshold: 3,
            breaker_cooldown: Duration::from_secs(5),
            max_response: 16 << 20,
            max_in_flight: 16,
            gone_retry: Duration::from_secs(1),
            backoff_first: Duration::from_millis(2),
            backoff_max: Duration::from_millis(100),
            idle_timeout: Duration::from_secs(30),
        }
    }
}

/// The breaker's state. Closed while `open_until` is `None`.
#[derive(Debug, Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
    /// When the one call let through after the cool-down started; others
    /// fail at once until it is recorded (or, if it was abandoned, until
    /// it is older than a call can be).
    probe: Option<Instant>,
}

/// A client of one plugin.
pub struct Client {
    endpoint: Endpoint,
    opts: ClientOptions,
    pool: Pool<Connector, Full<Bytes>>,
    /// Dials a new connection per request: for the retry of a call whose
    /// pooled connection the plugin had closed.
    fresh: Pool<Connector, Full<Bytes>>,
    slots: Arc<tokio::sync::Semaphore>,
    breaker: Mutex<Breaker>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

/// How one call treats failures.
#[derive(Clone, Copy)]
struct Policy {
    /// Counted by (and subject to) the breaker.
    breaker: bool,
    /// Refused connections tried again for `gone_retry`; off where the
    /// caller has a retry loop of its own (activation, readiness).
    retry_gone: bool,
}

impl Client {
    pub fn new(endpoint: Endpoint, opts: ClientOptions) -> Client {
        let pool = Pool::builder(TokioExecutor::new())
            .pool_idle_timeout(opts.idle_timeout)
            .pool_max_idle_per_host(opts.max_in_flight.max(1))
            .pool_timer(TokioTimer::new())
            .build(Connector(Arc::new(endpoint.addr.clone())));
        // Keeps nothing idle: every request on it dials a new connection.
        let fresh = Pool::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .pool_timer(TokioTimer::new())
            .build(Connector(Arc::new(endpoint.addr.clone())));
        Client {
            slots: Arc::new(tokio::sync::Semaphore::new(opts.max_in_flight.max(1))),
            endpoint,
            opts,
            pool,
            fresh,
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
        let policy = Policy {
            breaker: true,
            retry_gone: true,
        };
        let timeout = self.opts.call_timeout;
        let deadline = Instant::now() + timeout;
        self.guarded(method, policy, timeout, async {
            let raw = self.send(method, body.into(), deadline, policy).await?;
            self.decode(method, &raw)
        })
        .await
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

    /// One POST with a deadline of `timeout`. `breaker` false is for
    /// activation and readiness checks, which have retry loops of their
    /// own: the breaker is left alone and a refused connection is not
    /// tried again here (a full backlog still is).
    pub async fn call_raw(
        &self,
        method: &str,
        body: Vec<u8>,
        timeout: Duration,
        breaker: bool,
    ) -> Result<Bytes> {
        let policy = Policy {
            breaker,
            retry_gone: breaker,
        };
        let deadline = Instant::now() + timeout;
        self.guarded(
            method,
            policy,
            timeout,
            self.send(method, body.into(), deadline, policy),
        )
        .await
    }

    /// Runs `call` under the breaker (when the policy says so) and its
    /// deadline, `timeout` from now.
    async fn guarded<T>(
        &self,
        method: &str,
        policy: Policy,
        timeout: Duration,
        call: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        if policy.breaker {
            self.breaker_check()?;
        }
        let res = match tokio::time::timeout(timeout, call).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout {
                plugin: self.name().to_string(),
                method: method.to_string(),
                secs: timeout.as_secs_f64(),
            }),
        };
        if policy.breaker {
            self.breaker_record(res.as_ref().err().is_some_and(Error::is_transport));
        }
        res
    }

    /// Waits for a slot, then tries until an answer, a failure that is not
    /// worth another try, or the deadline.
    async fn send(
        &self,
        method: &str,
        body: Bytes,
        deadline: Instant,
        policy: Policy,
    ) -> Result<Bytes> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| self.unavailable("the client is closed".into()))?;
        // The breaker may have opened while this call waited its turn.
        if policy.breaker && self.breaker_open() {
            self.breaker_check()?;
        }
        let start = Instant::now();
        let mut attempt = 0u32;
        let mut dropped = false;
        loop {
            // After a kept-alive connection died under the call, the retry
            // goes on a connection of its own: the pool may hold more that
            // the plugin has closed.
            let err = match self.post_once(method, body.clone(), dropped).await {
                Ok(b) => return Ok(b),
                Err(e) => e,
            };
            let again = match err.failure {
                Failure::Busy => true,
                Failure::Gone => policy.retry_gone && start.elapsed() < self.opts.gone_retry,
                Failure::Dropped => !std::mem::replace(&mut dropped, true),
                Failure::Fatal => false,
            };
            let pause = self.backoff(attempt);
            attempt += 1;
            if !again || Instant::now() + pause >= deadline {
                let mut e = err.error;
                if attempt > 1 {
                    if let Error::Unavailable { reason, .. } = &mut e {
                        reason.push_str(&format!(
                            " (tried {attempt} times in {:.1}s)",
                            start.elapsed().as_secs_f64()
                        ));
                    }
                }
                return Err(e);
            }
            tracing::debug!(
                plugin = self.name(),
                method,
                attempt,
                "{}; retrying",
                err.error
            );
            tokio::time::sleep(pause).await;
        }
    }

    /// The pause before attempt `n + 1`: doubling from `backoff_first` up
    /// to `backoff_max`, each drawn at random from its upper half so that
    /// callers who failed together do not come back together.
    fn backoff(&self, n: u32) -> Duration {
        let d = self
            .opts
            .backoff_first
            .saturating_mul(1u32 << n.min(16))
            .min(self.opts.backoff_max);
        let half = d / 2;
        half + half.mul_f64(rand::random::<f64>())
    }

    fn unavailable(&self, reason: String) -> Error {
        Error::Unavailable {
            plugin: self.name().to_string(),
            reason,
        }
    }

    /// One attempt: a request on a pooled (or new) connection and its answer.
    async fn post_once(&self, method: &str, body: Bytes, fresh: bool) -> Result<Bytes, Attempt> {
        if let (Addr::Tcp(_), Some(_)) = (&self.endpoint.addr, &self.endpoint.tls) {
            return Err(Attempt::fatal(self.unavailable(
                "TLS plugin endpoints are not supported by berth yet".into(),
            )));
        }
        let req = hyper::Request::post(format!("http://plugin/{method}"))
            .header(hyper::header::HOST, "plugin")
            .header(hyper::header::ACCEPT, PLUGIN_CONTENT_TYPE)
            .header(hyper::header::CONTENT_TYPE, PLUGIN_CONTENT_TYPE)
            .body(Full::new(body))
            .map_err(|e| Attempt::fatal(self.unavailable(e.to_string())))?;
        let pool = if fresh { &self.fresh } else { &self.pool };
        let resp = pool.request(req).await.map_err(|e| {
            let failure = classify(&e);
            let reason = match failure {
                // The dial error says where it went, and why.
                Failure::Busy | Failure::Gone => chain(&e),
                _ => format!("{method}: connection failed mid-call: {}", chain(&e)),
            };
            Attempt {
                failure,
                error: self.unavailable(reason),
            }
        })?;
        let status = resp.status();
        // Past this point the plugin has the request: no more retries.
        let bytes = Limited::new(resp.into_body(), self.opts.max_response)
            .collect()
            .await
            .map_err(|e| {
                Attempt::fatal(self.unavailable(format!("{method}: reading the answer: {e}")))
            })?
            .to_bytes();
        if status.is_success() {
            return Ok(bytes);
        }
        if status == hyper::StatusCode::NOT_FOUND {
            return Err(Attempt::fatal(Error::NotImplements(
                self.name().to_string(),
                method.to_string(),
            )));
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
        Err(Attempt::fatal(Error::Remote(msg)))
    }

    fn breaker_check(&self) -> Result<()> {
        let mut b = self.breaker.lock().unwrap();
        let Some(until) = b.open_until else {
            return Ok(());
        };
        let now = Instant::now();
        let refuse = |b: &Breaker, why: String| Error::Unavailable {
            plugin: self.name().to_string(),
            reason: format!("{} calls in a row failed; {why}", b.failures),
        };
        if now < until {
            return Err(refuse(
                &b,
                format!(
                    "not calling it again for {:.1}s",
                    (until - now).as_secs_f64()
                ),
            ));
        }
        // Half open: one call goes through; the rest fail at once until it
        // is back (an abandoned probe expires after a call's deadline).
        let abandon = self.opts.call_timeout + Duration::from_secs(1);
        if b.probe.is_some_and(|p| now.duration_since(p) < abandon) {
            return Err(refuse(
                &b,
                "not calling it again until a trial call answers".into(),
            ));
        }
        b.probe = Some(now);
        Ok(())
    }

    fn breaker_record(&self, transport_failure: bool) {
        let mut b = self.breaker.lock().unwrap();
        b.probe = None;
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
}

/// A failed attempt: the error to report and what it says about retrying.
struct Attempt {
    failure: Failure,
    error: Error,
}

impl Attempt {
    fn fatal(error: Error) -> Attempt {
        Attempt {
            failure: Failure::Fatal,
            error,
        }
    }
}

/// An error and its causes, as one line (the pool's own message alone
/// says only "client error (Connect)").
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = Vec::new();
    let mut cur = e.source();
    while let Some(err) = cur {
        let s = err.to_string();
        if !parts.iter().any(|p: &String| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
