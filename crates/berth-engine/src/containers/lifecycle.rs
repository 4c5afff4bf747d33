//! stop, kill, restart, pause, unpause, rename and wait.

use super::{not_running, parse_signal, Containers, Live};
use berth_api::containers::{Changed, WaitCondition, WaitFuture};
use berth_core::lifecycle::{Move, Status, Step};
use berth_types::container::ContainerWaitResponse;
use berth_types::{Error, Result};
use std::sync::Arc;
use std::time::Duration;

impl Containers {
    /// Waits until `live` has recorded more than `seen` exits, up to `limit`.
    async fn exited_since(live: &Live, seen: u64, limit: Option<Duration>) -> bool {
        let mut rx = live.exits.subscribe();
        let wait = async move {
            let _ = rx.wait_for(|n| *n > seen).await;
        };
        match limit {
            None => {
                wait.await;
                true
            }
            Some(t) => tokio::time::timeout(t, wait).await.is_ok(),
        }
    }

    pub async fn stop(
        self: &Arc<Self>,
        reference: &str,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> Result<Changed> {
        let c = self.store.get(reference)?;
        let rec = c.lock().unwrap().clone();
        let live = self.live(&rec.id);
        let Step::To(stopped) = rec.transition(Move::Stop)? else {
            return Ok(Changed::No);
        };
        let rec = self.store.update(&c, |r| {
            r.manually_stopped = true;
            r.clone()
        })?;
        let Some(shim) = live.shim() else {
            // Restarting (between back-off and the next start): just stop there.
            self.store.update(&c, |r| r.set_state(stopped))?;
            self.emit(&rec, "stop", &[]);
            return Ok(Changed::Yes);
        };
        let sig = parse_signal(
            signal
                .as_deref()
                .or(rec.config.stop_signal.as_deref())
                .unwrap_or("SIGTERM"),
        )?;
        let secs = timeout.or(rec.config.stop_timeout).unwrap_or(10);
        let seen = *live.exits.borrow();
        if rec.status() == Status::Paused {
            let _ = shim.resume().await;
        }
        self.emit(&rec, "kill", &[("signal", sig.to_string())]);
        let _ = shim.kill(sig).await;
        let limit = (secs >= 0).then(|| Duration::from_secs(secs as u64));
        if !Self::exited_since(&live, seen, limit).await {
            self.emit(&rec, "kill", &[("signal", "9".into())]);
            let _ = shim.kill(libc::SIGKILL).await;
            if !Self::exited_since(&live, seen, Some(Duration::from_secs(30))).await {
                return Err(Error::internal(format!(
                    "container {} did not exit after SIGKILL",
                    rec.short_id()
                )));
            }
        }
        self.emit(&rec, "stop", &[]);
        Ok(Changed::Yes)
    }

    pub async fn kill(self: &Arc<Self>, reference: &str, signal: Option<String>) -> Result<()> {
        let c = self.store.get(reference)?;
        let rec = c.lock().unwrap().clone();
        let live = self.live(&rec.id);
        let sig = parse_signal(signal.as_deref().unwrap_or("SIGKILL"))?;
        rec.transition(Move::Kill)?;
        let Some(shim) = live.shim() else {
            return Err(not_running(&rec.id));
        };
        let seen = *live.exits.borrow();
        if sig == libc::SIGKILL {
            self.store.update(&c, |r| r.manually_stopped = true)?;
        }
        self.emit(&rec, "kill", &[("signal", sig.to_string())]);
        shim.kill(sig).await.map_err(|e| match e {
            berth_runtime::RuntimeError::NotRunning(_) => not_running(&rec.id),
            e => e.into(),
        })?;
        if sig == libc::SIGKILL {
            // Answer once the exit is recorded, so a following inspect agrees.
            Self::exited_since(&live, seen, Some(Duration::from_secs(10))).await;
        }
        Ok(())
    }

    pub async fn restart(
        self: &Arc<Self>,
        reference: &str,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let c = self.store.get(reference)?;
        let id = {
            let r = c.lock().unwrap();
            r.transition(Move::Restart)?;
            r.id.clone()
        };
        self.stop(&id, signal, timeout).await?;
        let live = self.live(&id);
        let _op = live.op.lock().await;
        self.store.update(&c, |r| r.manually_stopped = false)?;
        self.start_locked(&c, &live).await?;
        let rec = c.lock().unwrap().clone();
        self.emit(&rec, "restart", &[]);
        Ok(())
    }

    pub async fn pause(&self, reference: &str) -> Result<()> {
        let c = self.store.get(reference)?;
        let rec = c.lock().unwrap().clone();
        let live = self.live(&rec.id);
        rec.transition(Move::Pause)?;
        let Some(shim) = live.shim() else {
            return Err(not_running(&rec.id));
        };
        shim.pause().await?;
        let rec = self.store.update(&c, |r| {
            r.apply(Move::Frozen);
            r.clone()
        })?;
        self.emit(&rec, "pause", &[]);
        Ok(())
    }

    pub async fn unpause(&self, reference: &str) -> Result<()> {
        let c = self.store.get(reference)?;
        let rec = c.lock().unwrap().clone();
        let live = self.live(&rec.id);
        rec.transition(Move::Unpause)?;
        let Some(shim) = live.shim() else {
            return Err(not_running(&rec.id));
        };
        shim.resume().await?;
        let rec = self.store.update(&c, |r| {
            r.apply(Move::Thawed);
            r.clone()
        })?;
        self.emit(&rec, "unpause", &[]);
        Ok(())
    }

    pub async fn rename(&self, reference: &str, new_name: &str) -> Result<()> {
        let c = self.store.get(reference)?;
        let (old, _) = self.store.rename(&c, new_name)?;
        let rec = c.lock().unwrap().clone();
        self.emit(
            &rec,
            "rename",
            &[("oldName", old.trim_start_matches('/').to_string())],
        );
        Ok(())
    }

    pub async fn wait(&self, reference: &str, cond: WaitCondition) -> Result<WaitFuture> {
        let c = self.store.get(reference)?;
        let rec = c.lock().unwrap().clone();
        let live = self.live(&rec.id);
        let mut exits = live.exits.subscribe();
        let seen = *exits.borrow();
        let mut removed = live.removed.subscribe();
        let answer = |live: &Live| ContainerWaitResponse {
            status_code: *live.last_exit.lock().unwrap(),
            error: None,
        };
        if cond == WaitCondition::NotRunning && !rec.state.running {
            let r = ContainerWaitResponse {
                status_code: rec.state.exit_code,
                error: None,
            };
            return Ok(Box::pin(async move { r }));
        }
        Ok(match cond {
            WaitCondition::NotRunning | WaitCondition::NextExit => Box::pin(async move {
                let _ = exits.wait_for(|n| *n > seen).await;
                answer(&live)
            }),
            WaitCondition::Removed => Box::pin(async move {
                let _ = removed.wait_for(|r| *r).await;
                answer(&live)
            }),
        })
    }
}
