//! What a connection needs only while it reads or serves a request, lent
//! by its worker thread rather than owned: read buffers and the proxy's
//! `Session`.
//!
//! A connection that waits for its peer holds no buffer: an empty buffer
//! goes back to its worker thread's spares before the wait, and the next
//! read takes the one given back last. The kernel then copies what arrives
//! into memory that was just used (warm in the cache) rather than into one
//! buffer per open connection, and an idle connection costs no buffer at
//! all (HAProxy allocates its buffers the same way). A connection between
//! requests holds no `Session` either (Pingora's, with its 680-byte
//! server-session box): each request takes one and gives it back.

use bytes::BytesMut;
use pingora::protocols::http::ServerSession;
use pingora_proxy::Session;
use std::cell::RefCell;
use std::future::Future;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The most spare buffers a thread keeps of each size.
const MAX: usize = 16;
/// The most spare sessions a thread keeps (as many as it serves requests
/// at once, up to this).
const MAX_SESSIONS: usize = 64;

thread_local! {
    /// Empty buffers, by size (a thread uses two: request heads and server
    /// responses).
    static SPARE: RefCell<Vec<(usize, Vec<BytesMut>)>> = const { RefCell::new(Vec::new()) };
    /// Sessions between requests, each holding [`idle_session`]. Boxed:
    /// a connection's future keeps room for a pointer, not a `Session`.
    #[allow(clippy::vec_box)]
    static SESSIONS: RefCell<Vec<Box<Session>>> = const { RefCell::new(Vec::new()) };
}

/// A session for a request, holding [`idle_session`] (its request's own
/// server session goes in, and comes out before [`give_session`]).
pub(super) fn session() -> Box<Session> {
    SESSIONS.with(|s| s.borrow_mut().pop()).unwrap_or_else(|| {
        // Pingora builds a `Session` only around a stream: an empty
        // one, whose server session is replaced at once.
        let empty = Box::new(std::io::Cursor::new(Vec::<u8>::new()));
        let mut session = Box::new(Session::new_h1(empty));
        *session.downstream_session = idle_session();
        session
    })
}

/// Keeps `session` for a next request (its server session is
/// [`idle_session`] again).
pub(super) fn give_session(session: Box<Session>) {
    SESSIONS.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < MAX_SESSIONS {
            s.push(session);
        }
    });
}

/// What a `Session` holds between requests (never called).
pub(super) fn idle_session() -> ServerSession {
    ServerSession::new_custom(Box::new(()))
}

/// One read from `stream` into `buf`, with room for `size` bytes; an empty
/// `buf` is lent by the spares for the read and given back while the peer
/// has nothing to say. The byte count (0: the peer closed).
pub(super) fn poll_read<R: AsyncRead + Unpin + ?Sized>(
    stream: &mut R,
    buf: &mut BytesMut,
    size: usize,
    cx: &mut Context<'_>,
) -> Poll<std::io::Result<usize>> {
    if buf.capacity() - buf.len() < size / 4 && !(buf.is_empty() && buf.try_reclaim(size)) {
        if buf.is_empty() {
            *buf = take(size);
        } else {
            buf.reserve(size);
        }
    }
    let polled = std::pin::pin!(stream.read_buf(buf)).poll(cx);
    if polled.is_pending() && buf.is_empty() {
        give(std::mem::take(buf), size);
    }
    polled
}

/// An empty buffer with room for `size` bytes.
pub(super) fn take(size: usize) -> BytesMut {
    SPARE
        .with(|s| {
            let mut s = s.borrow_mut();
            s.iter_mut().find(|(n, _)| *n == size)?.1.pop()
        })
        .unwrap_or_else(|| BytesMut::with_capacity(size))
}

/// Keeps `buf` when it is empty and has room for a quarter of `size` (its
/// start may still be shared with a request or a body piece in use).
pub(super) fn give(mut buf: BytesMut, size: usize) {
    if !buf.is_empty() {
        return;
    }
    // Back to its start when nothing else points into it.
    let _ = buf.try_reclaim(size);
    if buf.capacity() < size / 4 {
        return;
    }
    SPARE.with(|s| {
        let mut s = s.borrow_mut();
        let i = match s.iter().position(|(n, _)| *n == size) {
            Some(i) => i,
            None => {
                s.push((size, Vec::new()));
                s.len() - 1
            }
        };
        if s[i].1.len() < MAX {
            s[i].1.push(buf);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_waiting_read_holds_no_buffer_and_the_next_read_reuses_it() {
        let (mut client, mut server) = tokio::io::duplex(1 << 16);
        let mut buf = BytesMut::new();
        // Nothing to read: the buffer taken for the attempt goes back.
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(poll_read(&mut server, &mut buf, 4096, &mut cx).is_pending());
        assert_eq!(buf.capacity(), 0, "no buffer held while waiting");
        let lent = take(4096);
        let at = lent.as_ptr();
        give(lent, 4096);

        client.write_all(b"hello").await.unwrap();
        let n = std::future::poll_fn(|cx| poll_read(&mut server, &mut buf, 4096, cx))
            .await
            .unwrap();
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(buf.as_ptr(), at, "the spare given back last is lent first");

        // A buffer whose start is still shared keeps its free tail.
        let head = buf.split().freeze();
        give(std::mem::take(&mut buf), 4096);
        let again = take(4096);
        assert!(again.capacity() >= 1024 && again.is_empty());
        assert_eq!(&head[..], b"hello", "shared bytes are never written over");
    }
}
