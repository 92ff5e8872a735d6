//! Idle keep-alive connections to servers, one pool per worker thread.
//!
//! The HTTP/1 fast path ([`crate::proxy`]) parks a server connection here
//! after a response that left it reusable, and takes the newest one for the
//! same server on the next request (LIFO: the warmest socket, and the older
//! ones expire first). No lock, no task and no timer per idle connection:
//! a thread's pool is only touched by that thread, and an idle connection
//! expires lazily, when a checkout finds it older than its `idle` time.
//!
//! A checkout tests the connection without a system call when it is known
//! good: it polls the socket once with a no-op waker. tokio answers from the
//! readiness it already holds, so a socket with no event since its last
//! read returns `Pending` (alive, nothing to read) at once; a socket the
//! server closed (or wrote to unasked) has an event, and the poll reads its
//! EOF or stray bytes: the connection is dropped and the next one tried.

use pingora::protocols::Stream;
use std::cell::RefCell;
use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, ReadBuf};

/// The most idle connections a thread keeps for one server (the oldest
/// goes when a newer one arrives).
pub const MAX_IDLE_PER_SERVER: usize = 1024;

struct Idle {
    stream: Stream,
    /// When it may no longer be used.
    expires: Instant,
}

thread_local! {
    static IDLE: RefCell<HashMap<u64, Vec<Idle>>> = RefCell::new(HashMap::new());
}

/// The newest live idle connection to the server `key`
/// ([`Peer::reuse_hash`](pingora::upstreams::peer::Peer::reuse_hash)), if
/// this thread has one.
pub fn checkout(key: u64, now: Instant) -> Option<Stream> {
    IDLE.with(|idle| {
        let mut idle = idle.borrow_mut();
        let list = idle.get_mut(&key)?;
        while let Some(conn) = list.pop() {
            if conn.expires <= now {
                // The rest are older still.
                list.clear();
                return None;
            }
            let mut stream = conn.stream;
            if is_quiet(&mut stream) {
                return Some(stream);
            }
        }
        None
    })
}

/// Parks `stream`, a connection to the server `key` with no request in
/// flight and nothing unread, for at most `idle`.
pub fn checkin(key: u64, stream: Stream, idle: Duration, now: Instant) {
    IDLE.with(|pool| {
        let mut pool = pool.borrow_mut();
        let list = pool.entry(key).or_default();
        if list.len() >= MAX_IDLE_PER_SERVER {
            list.remove(0);
        }
        list.push(Idle {
            stream,
            expires: now + idle,
        });
    });
}

/// How many idle connections this thread holds (for tests).
pub fn idle_count() -> usize {
    IDLE.with(|pool| pool.borrow().values().map(Vec::len).sum())
}

/// Whether an idle connection has nothing to say: no EOF, no stray bytes.
fn is_quiet(stream: &mut Stream) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    let mut byte = [0u8; 1];
    let mut buf = ReadBuf::new(&mut byte);
    matches!(Pin::new(stream).poll_read(&mut cx, &mut buf), Poll::Pending)
}
