//! Request and response hooks: code of the embedding program that runs in
//! the phases of every HTTP request of every frontend.
//!
//! A [`Hook`] has a default (do-nothing) method per phase, so it implements
//! only the phases it needs:
//!
//! 1. [`Hook::request`]: the request as received (path normalized), before
//!    the frontend's `http_request` rules. It may rewrite the request or
//!    answer it itself with an [`Answer`] (nothing else runs then: no rule,
//!    no backend, no later hook's `request`).
//! 2. [`Hook::upstream_request`]: the request about to go to the chosen
//!    server (after fairway's `X-Forwarded-*` headers), once per attempt.
//! 3. [`Hook::response`]: the response head from the server, before it goes
//!    to the client. Responses fairway writes itself (rules, errors, hook
//!    answers) do not pass here.
//! 4. [`Hook::log`]: once per request, after the response, with what
//!    happened (status, backend, server, duration, error).
//!
//! What a hook learns in one phase it keeps for the request's later ones
//! in [`Info::state`] (one value per type; Pingora's `CTX` for hooks).
//!
//! Hooks run in registration order
//! ([`Builder::hook`](crate::Builder::hook)). With none registered, the
//! request path does not change (no allocation, no call). Hooks live as long
//! as the [`Fairway`](crate::Fairway): a reload keeps them.
//!
//! ```
//! use fairway::hook::{Answer, Hook, Info};
//! use pingora_proxy::Session;
//!
//! /// Answers 401 to requests without the right `x-api-key`.
//! struct ApiKey(&'static str);
//!
//! #[async_trait::async_trait]
//! impl Hook for ApiKey {
//!     async fn request(&self, session: &mut Session, _info: &Info<'_>) -> pingora::Result<Option<Answer>> {
//!         let ok = session.req_header().headers.get("x-api-key").is_some_and(|v| v == self.0);
//!         Ok((!ok).then(|| Answer::new(401).header("www-authenticate", "ApiKey")))
//!     }
//! }
//! ```

use crate::upstream::Server;
use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::Error;
use pingora_proxy::Session;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// Code run in the phases of each HTTP request (see the [module](self)).
///
/// Every method has a default that does nothing. `request` may do I/O
/// (it is async); the other phases are synchronous and should be quick.
#[async_trait]
pub trait Hook: Send + Sync + 'static {
    /// The request as received, before the `http_request` rules. Rewrite
    /// it through `session.req_header_mut()`; return `Ok(Some(answer))` to
    /// answer it without proxying. An error ends the request (Pingora
    /// answers with the error's status, 500 by default).
    async fn request(
        &self,
        session: &mut Session,
        info: &Info<'_>,
    ) -> pingora::Result<Option<Answer>> {
        let _ = (session, info);
        Ok(None)
    }

    /// The request about to be sent to `info.server`, once per attempt.
    fn upstream_request(
        &self,
        upstream: &mut RequestHeader,
        info: &Info<'_>,
    ) -> pingora::Result<()> {
        let _ = (upstream, info);
        Ok(())
    }

    /// The server's response head, before it goes to the client.
    fn response(&self, response: &mut ResponseHeader, info: &Info<'_>) -> pingora::Result<()> {
        let _ = (response, info);
        Ok(())
    }

    /// The end of the request: observe what happened.
    fn log(&self, session: &Session, log: &Log<'_>) {
        let _ = (session, log);
    }
}

/// Values the hooks keep for one request's later phases, one per type
/// (what Pingora's `CTX` is to a `ProxyHttp`): a value kept in
/// [`Hook::request`] is there in [`Hook::upstream_request`],
/// [`Hook::response`] and [`Hook::log`] of the same request, and gone with
/// it.
///
/// ```
/// use fairway::hook::{Hook, Info};
/// use pingora::http::ResponseHeader;
///
/// #[derive(Clone)]
/// struct Tenant(String);
///
/// struct Tenants;
///
/// #[async_trait::async_trait]
/// impl Hook for Tenants {
///     async fn request(
///         &self,
///         session: &mut pingora_proxy::Session,
///         info: &Info<'_>,
///     ) -> pingora::Result<Option<fairway::hook::Answer>> {
///         let host = session.req_header().uri.host().unwrap_or("-").to_string();
///         info.state.insert(Tenant(host));
///         Ok(None)
///     }
///
///     fn response(&self, response: &mut ResponseHeader, info: &Info<'_>) -> pingora::Result<()> {
///         if let Some(Tenant(name)) = info.state.get::<Tenant>() {
///             response.insert_header("x-tenant", name)?;
///         }
///         Ok(())
///     }
/// }
/// ```
#[derive(Default)]
pub struct State(std::sync::Mutex<http::Extensions>);

impl State {
    fn slots(&self) -> std::sync::MutexGuard<'_, http::Extensions> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `value` for the request's later phases; the value of its type
    /// kept before, if any.
    pub fn insert<T: Clone + Send + Sync + 'static>(&self, value: T) -> Option<T> {
        self.slots().insert(value)
    }

    /// A copy of the value of type `T` kept, if any.
    pub fn get<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.slots().get::<T>().cloned()
    }

    /// Takes the value of type `T` out, if one is kept.
    pub fn remove<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.slots().remove::<T>()
    }
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("State { .. }")
    }
}

/// What a hook knows of the request so far.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Info<'a> {
    /// The frontend's name.
    pub frontend: &'a str,
    /// The client's IP address.
    pub client: Option<IpAddr>,
    /// The backend's name, once chosen (not yet in [`Hook::request`]).
    pub backend: Option<&'a str>,
    /// The server, once picked (in [`Hook::upstream_request`],
    /// [`Hook::response`] and, if one was picked, [`Hook::log`]).
    pub server: Option<&'a Arc<Server>>,
    /// The values the hooks keep for this request's later phases.
    pub state: &'a State,
}

/// What the [`Hook::log`] phase sees.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Log<'a> {
    /// The request's frontend, backend and server.
    pub info: Info<'a>,
    /// The status sent to the client (0 if none was).
    pub status: u16,
    /// Time from the request's start to now.
    pub duration: Duration,
    /// Whether fairway answered it itself (a request or response rule,
    /// or a hook).
    pub answered: bool,
    /// The error that ended the request, if any.
    pub error: Option<&'a Error>,
}

/// A response a hook answers a request with. fairway adds the request's
/// unique ID (`unique_id_header`) unless the answer sets that field itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Option<Bytes>,
}

impl Answer {
    /// An answer with `status`; without [`Answer::body`], the body is
    /// fairway's error page for it (as `deny` sends).
    pub fn new(status: u16) -> Self {
        Answer {
            status,
            headers: Vec::new(),
            body: None,
        }
    }

    /// Adds a header (`content-type` replaces the default `text/plain`).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// The status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The headers, in order.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The body, if set.
    pub fn body_bytes(&self) -> Option<&Bytes> {
        self.body.as_ref()
    }
}

/// The hooks of a [`Fairway`](crate::Fairway), in registration order.
pub(crate) type Hooks = Arc<[Arc<dyn Hook>]>;
