//! The attempts of one request (HTTP) or one connection (TCP) on its
//! backend: which server each attempt goes to, which servers were tried,
//! how many retries were spent and how long the attempts waited for a
//! `maxconn` slot. The HTTP proxy and `mode: tcp` both go through it, so
//! `retries`, `retry_on`, `retry_budget`, `redispatch` and the queue behave
//! the same in both.

use super::{Backend, NoServer};
use crate::upstream::InFlight;
use fairway_config::RetryCondition;
use std::time::{Duration, Instant};

/// The attempts so far; see the module documentation.
#[derive(Debug, Default)]
pub struct Attempts {
    /// Servers whose attempt failed, in order (each once).
    tried: Vec<usize>,
    /// The server of the current (or last) attempt.
    last: Option<usize>,
    /// Attempts after the first.
    retries: u32,
    /// Time spent choosing servers and waiting in the queue; `None` until a
    /// server is looked for.
    queue: Option<Duration>,
}

impl Attempts {
    /// The next attempt: `preferred` first when it has room (a stickiness
    /// cookie's server, first attempt only); then, when the backend does
    /// not redispatch, the last attempt's server again; else a server not
    /// tried yet, and once every server was tried, any. Returns the server
    /// with its in-flight handle, and the time the choice was made (one
    /// clock read ends the wait and starts the attempt).
    pub async fn next(
        &mut self,
        backend: &Backend,
        key: Option<u64>,
        preferred: Option<usize>,
    ) -> (Result<(usize, InFlight), NoServer>, Instant) {
        let looking = Instant::now();
        if self.last.is_none() && backend.spec().retry_budget.is_some() {
            backend.retry_window().request(looking);
        }
        let again = self.last.filter(|_| !backend.redispatch());
        let direct = preferred
            .filter(|_| self.last.is_none())
            .or(again)
            .and_then(|i| Some((i, backend.servers().get(i)?.try_begin()?)));
        let got = match direct {
            Some(got) => Ok(got),
            None => {
                let tried = &self.tried;
                let mut got = backend.acquire(key, &|i| tried.contains(&i)).await;
                if matches!(got, Err(NoServer::Unavailable)) && !tried.is_empty() {
                    // Every server was tried: a retry may go to any of them.
                    got = backend.acquire(key, &|_| false).await;
                }
                got
            }
        };
        let now = Instant::now();
        *self.queue.get_or_insert(Duration::ZERO) += now.saturating_duration_since(looking);
        if let Ok((i, _)) = &got {
            self.last = Some(*i);
        }
        (got, now)
    }

    /// The current attempt failed with `why` and its server is not to be
    /// tried again (with `redispatch`). Returns whether another attempt is
    /// allowed — `retry_on` names `why`, `retries` has one left and the
    /// `retry_budget` has room — and counts it. Whether the request is
    /// safe to send again is the caller's to know.
    pub fn retry(&mut self, backend: &Backend, why: RetryCondition) -> bool {
        self.mark_tried();
        let spec = backend.spec();
        if !spec.retry_on.contains(why) || self.retries >= spec.retries {
            return false;
        }
        if let Some(budget) = &spec.retry_budget {
            if !backend.retry_window().try_retry(budget, Instant::now()) {
                log::debug!("retry_budget of backend {} spent: no retry", spec.name);
                return false;
            }
        }
        self.retries += 1;
        true
    }

    /// The current attempt's server is not to be tried again, without
    /// spending a retry (Pingora decided to retry on its own terms).
    pub fn mark_tried(&mut self) {
        if let Some(s) = self.last.filter(|s| !self.tried.contains(s)) {
            self.tried.push(s);
        }
    }

    /// The server of the current (or last) attempt.
    pub fn server(&self) -> Option<usize> {
        self.last
    }

    /// Retries spent.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// Time spent choosing servers and waiting in the queue, if a server
    /// was looked for.
    pub fn queue(&self) -> Option<Duration> {
        self.queue
    }
}
