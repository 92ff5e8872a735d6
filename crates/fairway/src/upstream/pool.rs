//! Idle keep-alive connections to servers, one pool per worker thread.
//!
//! The HTTP/1 engine of [`crate::HttpApp`] parks a server connection here
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
//! The same test runs when a connection is parked: one that already holds
//! bytes nobody asked for is closed, never handed to another request.
//!
//! [`Private`] is the one connection a client connection keeps for itself
//! under `http_reuse: never`: never in the shared pool, closed with it.

use pingora::protocols::Stream;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
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
    static IDLE: RefCell<HashMap<u64, VecDeque<Idle>>> = RefCell::new(HashMap::new());
}

/// The newest live idle connection to the server `key`
/// ([`Peer::reuse_hash`](pingora::upstreams::peer::Peer::reuse_hash)), if
/// this thread has one.
pub fn checkout(key: u64, now: Instant) -> Option<Stream> {
    IDLE.with(|idle| {
        let mut idle = idle.borrow_mut();
        let list = idle.get_mut(&key)?;
        while let Some(conn) = list.pop_back() {
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
/// flight and nothing unread, for at most `idle`; a connection the server
/// has already written to (or closed) is dropped instead.
pub fn checkin(key: u64, mut stream: Stream, idle: Duration, now: Instant) {
    if !is_quiet(&mut stream) {
        return;
    }
    IDLE.with(|pool| {
        let mut pool = pool.borrow_mut();
        let list = pool.entry(key).or_default();
        // The oldest first: those past their idle time go (under `safe`
        // every client connection's first request opens a connection, which
        // may never be taken again), then one if the list is full.
        while list.front().is_some_and(|c| c.expires <= now) {
            list.pop_front();
        }
        if list.len() >= MAX_IDLE_PER_SERVER {
            list.pop_front();
        }
        list.push_back(Idle {
            stream,
            expires: now + idle,
        });
    });
}

/// The idle server connection a client connection keeps for its own next
/// request (`http_reuse: never`); it is closed when dropped, with the
/// client connection.
#[derive(Default)]
pub struct Private {
    /// The server's key and the connection.
    idle: Option<(u64, Idle)>,
}

impl Private {
    /// The kept connection, if it is to the server `key`, not expired and
    /// quiet (else it is closed).
    pub fn take(&mut self, key: u64, now: Instant) -> Option<Stream> {
        let (held, conn) = self.idle.take()?;
        let mut stream = conn.stream;
        (held == key && conn.expires > now && is_quiet(&mut stream)).then_some(stream)
    }

    /// Keeps `stream` (to the server `key`) for at most `idle`, in place of
    /// any kept before; dropped instead if the server has written to it.
    pub fn keep(&mut self, key: u64, mut stream: Stream, idle: Duration, now: Instant) {
        self.idle = is_quiet(&mut stream).then(|| {
            let expires = now + idle;
            (key, Idle { stream, expires })
        });
    }
}

/// How many idle connections this thread holds (for tests).
pub fn idle_count() -> usize {
    IDLE.with(|pool| pool.borrow().values().map(VecDeque::len).sum())
}

/// Whether an idle connection has nothing to say: no EOF, no stray bytes.
fn is_quiet(stream: &mut Stream) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    let mut byte = [0u8; 1];
    let mut buf = ReadBuf::new(&mut byte);
    matches!(Pin::new(stream).poll_read(&mut cx, &mut buf), Poll::Pending)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// A client connection to `listener` (as a Pingora stream) and the
    /// server's end of it.
    async fn pair(listener: &TcpListener) -> (Stream, TcpStream) {
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let stream: Stream = Box::new(pingora::protocols::l4::stream::Stream::from(client));
        (stream, server)
    }

    /// Lets the runtime's I/O driver take in pending socket events.
    async fn settle() {
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn newest_first_and_only_for_its_server() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (a, mut server_a) = pair(&listener).await;
        let (b, mut server_b) = pair(&listener).await;
        let now = Instant::now();
        let idle = Duration::from_secs(60);
        checkin(1, a, idle, now);
        checkin(1, b, idle, now);
        assert!(checkout(2, now).is_none(), "another server's key");

        let mut got = checkout(1, now).expect("the newest connection");
        got.write_all(b"x").await.unwrap();
        let mut byte = [0u8; 1];
        server_b.read_exact(&mut byte).await.unwrap();
        assert_eq!(&byte, b"x", "the last one checked in comes out first");

        let mut got = checkout(1, now).expect("the older connection");
        got.write_all(b"y").await.unwrap();
        server_a.read_exact(&mut byte).await.unwrap();
        assert_eq!(&byte, b"y");
        assert!(checkout(1, now).is_none(), "both taken");
    }

    #[tokio::test]
    async fn closed_or_talking_connections_are_dropped() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (closed, server_closed) = pair(&listener).await;
        let (talking, mut server_talking) = pair(&listener).await;
        let (quiet, _server_quiet) = pair(&listener).await;
        let now = Instant::now();
        let idle = Duration::from_secs(60);
        checkin(7, quiet, idle, now);
        checkin(7, closed, idle, now);
        checkin(7, talking, idle, now);
        drop(server_closed);
        server_talking
            .write_all(b"HTTP/1.1 408 late\r\n\r\n")
            .await
            .unwrap();
        settle().await;

        // The two newest are dead (stray bytes, EOF): the quiet one is next.
        let mut got = checkout(7, Instant::now()).expect("the quiet connection");
        assert_eq!(idle_count(), 0, "the dead ones are gone, not put back");
        got.write_all(b"z").await.unwrap();
        assert!(checkout(7, Instant::now()).is_none());
    }

    #[tokio::test]
    async fn a_connection_the_server_wrote_to_is_not_parked() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (talking, mut server) = pair(&listener).await;
        server
            .write_all(b"HTTP/1.1 200 stray\r\n\r\n")
            .await
            .unwrap();
        settle().await;
        checkin(5, talking, Duration::from_secs(60), Instant::now());
        assert_eq!(idle_count(), 0, "closed, not parked");
        let mut byte = [0u8; 1];
        // Closed with bytes unread: a reset, or EOF.
        let read = server.read(&mut byte).await;
        assert!(matches!(read, Ok(0) | Err(_)), "closed: {read:?}");
    }

    #[tokio::test]
    async fn a_private_connection_is_for_its_server_and_quiet_only() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let now = Instant::now();
        let idle = Duration::from_secs(60);
        let mut private = Private::default();
        let (quiet, mut server) = pair(&listener).await;
        private.keep(3, quiet, idle, now);
        assert_eq!(idle_count(), 0, "never in the shared pool");
        assert!(private.take(4, now).is_none(), "another server: closed");
        let mut byte = [0u8; 1];
        assert_eq!(server.read(&mut byte).await.unwrap(), 0);

        let (quiet, _server) = pair(&listener).await;
        private.keep(3, quiet, idle, now);
        assert!(private.take(3, now).is_some());
        assert!(private.take(3, now).is_none(), "taken");

        let (talking, mut server) = pair(&listener).await;
        private.keep(3, talking, idle, now);
        server.write_all(b"x").await.unwrap();
        settle().await;
        assert!(private.take(3, now).is_none(), "stray bytes: closed");

        let (old, _server) = pair(&listener).await;
        private.keep(3, old, idle, now);
        assert!(private.take(3, now + idle).is_none(), "expired");
    }

    #[tokio::test]
    async fn expired_connections_are_dropped_lazily() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (old, _s1) = pair(&listener).await;
        let (new, _s2) = pair(&listener).await;
        let then = Instant::now();
        checkin(9, old, Duration::from_secs(1), then);
        checkin(9, new, Duration::from_secs(1), then);
        assert_eq!(idle_count(), 2);
        assert!(checkout(9, then + Duration::from_secs(2)).is_none());
        assert_eq!(
            idle_count(),
            0,
            "an expired connection takes the older ones along"
        );
    }

    #[tokio::test]
    async fn a_checkin_drops_the_expired_ones() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (old, mut server_old) = pair(&listener).await;
        let (new, _s2) = pair(&listener).await;
        let then = Instant::now();
        checkin(13, old, Duration::from_secs(1), then);
        checkin(
            13,
            new,
            Duration::from_secs(1),
            then + Duration::from_secs(2),
        );
        assert_eq!(idle_count(), 1, "the expired one is closed");
        let mut byte = [0u8; 1];
        assert_eq!(server_old.read(&mut byte).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_full_pool_drops_its_oldest() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let now = Instant::now();
        let mut servers = Vec::new();
        for _ in 0..MAX_IDLE_PER_SERVER + 1 {
            let (c, s) = pair(&listener).await;
            checkin(11, c, Duration::from_secs(60), now);
            servers.push(s);
        }
        assert_eq!(idle_count(), MAX_IDLE_PER_SERVER);
        // The first one's client end was dropped: its server sees EOF.
        let mut byte = [0u8; 1];
        assert_eq!(servers[0].read(&mut byte).await.unwrap(), 0);
    }
}
