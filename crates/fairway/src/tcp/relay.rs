//! Copying bytes both ways between a client and a server, with half-close
//! and idle timeouts.
//!
//! [`relay`] polls both directions in one task (no split halves, no
//! locks). When one side stops sending (EOF), the other side's write half
//! is shut down (TCP FIN) and the opposite direction keeps flowing until it
//! ends too, so request/response protocols that half-close work. A side is
//! *idle* while nothing is read from it and nothing is written to it
//! (HAProxy: the client timeout "applies when the client is expected to
//! acknowledge or send data"); the connection is closed once the client
//! side has been idle for `timeout_client` or the server side for
//! `timeout_server`. An error on either side ends both.

use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{sleep_until, Instant};

/// The most bytes buffered per direction.
pub const BUFFER: usize = 64 * 1024;

/// The buffer a direction starts with; it grows (up to [`BUFFER`]) when a
/// read fills it, so short exchanges stay cheap and bulk transfers get
/// large reads and writes.
const FIRST_BUFFER: usize = 4 * 1024;

/// Why a relay ended.
#[derive(Debug)]
pub enum End {
    /// Both sides finished sending and the ends were shut down.
    Closed,
    /// The client side was idle for `timeout_client`.
    ClientIdle,
    /// The server side was idle for `timeout_server`.
    ServerIdle,
    /// Reading from or writing to the client failed (e.g. reset).
    ClientError(io::Error),
    /// Reading from or writing to the server failed.
    ServerError(io::Error),
}

/// What a relay moved and how it ended.
#[derive(Debug)]
pub struct RelayEnd {
    /// Bytes from the client to the server.
    pub bytes_in: u64,
    /// Bytes from the server to the client.
    pub bytes_out: u64,
    /// How it ended.
    pub end: End,
}

/// Which stream an error came from, within one direction.
enum Fault {
    Reader(io::Error),
    Writer(io::Error),
}

/// One direction: a buffer between a reader and a writer.
struct Half {
    buf: Vec<u8>,
    pos: usize,
    cap: usize,
    eof: bool,
    need_flush: bool,
    done: bool,
    bytes: u64,
    grow: bool,
}

/// Progress made by one poll of a direction.
#[derive(Default)]
struct Activity {
    read: bool,
    wrote: bool,
}

impl Half {
    fn new() -> Half {
        Half {
            buf: vec![0; FIRST_BUFFER],
            pos: 0,
            cap: 0,
            eof: false,
            need_flush: false,
            done: false,
            bytes: 0,
            grow: false,
        }
    }

    /// Copies from `r` to `w` until `r` ends (then shuts `w` down) or
    /// neither can make progress.
    fn poll_copy<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        mut r: Pin<&mut R>,
        mut w: Pin<&mut W>,
        act: &mut Activity,
    ) -> Poll<Result<(), Fault>>
    where
        R: AsyncRead + ?Sized,
        W: AsyncWrite + ?Sized,
    {
        loop {
            if self.pos == self.cap && !self.eof {
                if self.grow {
                    self.grow = false;
                    let len = (self.buf.len() * 4).min(BUFFER);
                    self.buf.resize(len, 0);
                }
                let mut rb = ReadBuf::new(&mut self.buf);
                match r.as_mut().poll_read(cx, &mut rb) {
                    Poll::Pending => {
                        if self.need_flush {
                            ready!(w.as_mut().poll_flush(cx)).map_err(Fault::Writer)?;
                            self.need_flush = false;
                        }
                        return Poll::Pending;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(Fault::Reader(e))),
                    Poll::Ready(Ok(())) => {
                        let n = rb.filled().len();
                        act.read = true;
                        if n == 0 {
                            self.eof = true;
                        } else {
                            self.pos = 0;
                            self.cap = n;
                            self.bytes += n as u64;
                            if n == self.buf.len() && n < BUFFER {
                                // Full read: a bulk transfer. Grow once this
                                // chunk is written (the buffer is empty then).
                                self.grow = true;
                            }
                        }
                    }
                }
            }
            while self.pos < self.cap {
                let chunk = self.buf.get(self.pos..self.cap).unwrap_or_default();
                match ready!(w.as_mut().poll_write(cx, chunk)) {
                    Ok(0) => {
                        return Poll::Ready(Err(Fault::Writer(io::ErrorKind::WriteZero.into())))
                    }
                    Ok(n) => {
                        self.pos += n;
                        self.need_flush = true;
                        act.wrote = true;
                    }
                    Err(e) => return Poll::Ready(Err(Fault::Writer(e))),
                }
            }
            if self.eof {
                if self.need_flush {
                    ready!(w.as_mut().poll_flush(cx)).map_err(Fault::Writer)?;
                    self.need_flush = false;
                }
                // Half-close: the peer reads EOF and may still answer. A
                // failed shutdown (the peer is gone) ends this half anyway.
                let _ = ready!(w.as_mut().poll_shutdown(cx));
                self.done = true;
                return Poll::Ready(Ok(()));
            }
        }
    }
}

/// Relays between `client` and `server` until both directions end, a side
/// is idle for its timeout, or an error occurs.
pub async fn relay<C, S>(
    client: &mut C,
    server: &mut S,
    timeout_client: Duration,
    timeout_server: Duration,
) -> RelayEnd
where
    C: AsyncRead + AsyncWrite + Unpin + ?Sized,
    S: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    let mut up = Half::new();
    let mut down = Half::new();
    let start = Instant::now();
    let (mut client_seen, mut server_seen) = (start, start);
    let first = start + timeout_client.min(timeout_server);
    let timer = sleep_until(first);
    tokio::pin!(timer);
    let end = poll_fn(|cx| {
        let mut to_server = Activity::default();
        let mut to_client = Activity::default();
        if !up.done {
            let r = up.poll_copy(
                cx,
                Pin::new(&mut *client),
                Pin::new(&mut *server),
                &mut to_server,
            );
            match r {
                Poll::Ready(Err(Fault::Reader(e))) => return Poll::Ready(End::ClientError(e)),
                Poll::Ready(Err(Fault::Writer(e))) => return Poll::Ready(End::ServerError(e)),
                _ => {}
            }
        }
        if !down.done {
            let r = down.poll_copy(
                cx,
                Pin::new(&mut *server),
                Pin::new(&mut *client),
                &mut to_client,
            );
            match r {
                Poll::Ready(Err(Fault::Reader(e))) => return Poll::Ready(End::ServerError(e)),
                Poll::Ready(Err(Fault::Writer(e))) => return Poll::Ready(End::ClientError(e)),
                _ => {}
            }
        }
        if up.done && down.done {
            return Poll::Ready(End::Closed);
        }
        let client_active = to_server.read || to_client.wrote;
        let server_active = to_server.wrote || to_client.read;
        if client_active || server_active {
            let now = Instant::now();
            if client_active {
                client_seen = now;
            }
            if server_active {
                server_seen = now;
            }
        }
        // The timer is only re-armed when it fires: activity just moves
        // the deadlines it checks then.
        while timer.as_mut().poll(cx).is_ready() {
            let now = Instant::now();
            let (client_deadline, server_deadline) =
                (client_seen + timeout_client, server_seen + timeout_server);
            if now >= client_deadline {
                return Poll::Ready(End::ClientIdle);
            }
            if now >= server_deadline {
                return Poll::Ready(End::ServerIdle);
            }
            timer.as_mut().reset(client_deadline.min(server_deadline));
        }
        Poll::Pending
    })
    .await;
    RelayEnd {
        bytes_in: up.bytes,
        bytes_out: down.bytes,
        end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt};

    /// A client and a server end, each connected to the relay by a duplex pipe.
    async fn run(
        timeout_client: Duration,
        timeout_server: Duration,
    ) -> (
        tokio::io::DuplexStream,
        tokio::io::DuplexStream,
        tokio::task::JoinHandle<RelayEnd>,
    ) {
        let (client, mut client_side) = duplex(64 * 1024);
        let (server, mut server_side) = duplex(64 * 1024);
        let task = tokio::spawn(async move {
            relay(
                &mut client_side,
                &mut server_side,
                timeout_client,
                timeout_server,
            )
            .await
        });
        (client, server, task)
    }

    #[tokio::test]
    async fn both_ways_with_half_close() {
        let (mut client, mut server, task) =
            run(Duration::from_secs(5), Duration::from_secs(5)).await;
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            client.write_all(&sent).await.unwrap();
            client.shutdown().await.unwrap(); // half-close: no more requests
            let mut answer = Vec::new();
            client.read_to_end(&mut answer).await.unwrap();
            answer
        });
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap(); // EOF reaches the server
        assert_eq!(got, data);
        server
            .write_all(b"answer after the client's FIN")
            .await
            .unwrap();
        server.shutdown().await.unwrap();
        assert_eq!(writer.await.unwrap(), b"answer after the client's FIN");
        let outcome = task.await.unwrap();
        assert!(matches!(outcome.end, End::Closed), "{outcome:?}");
        assert_eq!((outcome.bytes_in, outcome.bytes_out), (300_000, 29));
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_client_times_out() {
        let (_client, _server, task) = run(Duration::from_secs(2), Duration::from_secs(30)).await;
        let outcome = task.await.unwrap();
        assert!(matches!(outcome.end, End::ClientIdle), "{outcome:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_server_times_out_while_the_client_talks() {
        let (mut client, _server, task) =
            run(Duration::from_secs(10), Duration::from_secs(3)).await;
        // The client keeps sending; the server never reads, so its side
        // goes idle once the pipe is full.
        let writer = tokio::spawn(async move {
            let chunk = [0u8; 1024];
            while client.write_all(&chunk).await.is_ok() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let outcome = task.await.unwrap();
        assert!(matches!(outcome.end, End::ServerIdle), "{outcome:?}");
        writer.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn activity_keeps_the_connection_open() {
        let (mut client, mut server, task) =
            run(Duration::from_secs(1), Duration::from_secs(1)).await;
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(600)).await;
            client.write_all(b"ping").await.unwrap();
            let mut b = [0u8; 4];
            server.read_exact(&mut b).await.unwrap();
            server.write_all(b"pong").await.unwrap();
            client.read_exact(&mut b).await.unwrap();
        }
        assert!(!task.is_finished());
        drop(client);
        drop(server);
        let outcome = task.await.unwrap();
        assert_eq!((outcome.bytes_in, outcome.bytes_out), (40, 40));
    }

    #[tokio::test]
    async fn a_reset_ends_both_sides() {
        let (client, mut server, task) = run(Duration::from_secs(5), Duration::from_secs(5)).await;
        drop(client); // EOF from the client: half-close towards the server
        let mut b = Vec::new();
        server.read_to_end(&mut b).await.unwrap();
        drop(server); // the server goes away: writing to it fails or it ends
        let outcome = task.await.unwrap();
        assert!(
            matches!(
                outcome.end,
                End::Closed | End::ServerError(_) | End::ClientError(_)
            ),
            "{outcome:?}"
        );
    }
}
