//! The tunnel after `101 Switching Protocols` (WebSocket, or any other
//! protocol a client and server agree on): bytes both ways, unchanged,
//! until both sides have closed or nothing has moved for the idle time
//! (`timeout_tunnel`, else `timeout_server`).

use crate::proxy::head::Guarded;
use pingora::protocols::Stream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

/// Bytes read per direction at a time.
const CHUNK: usize = 16 * 1024;

/// Relays between `client` and `server` after `early` (what the server sent
/// past its `101` head) went to the client. Returns the bytes moved each way
/// (client to server, server to client).
pub(super) async fn relay(
    client: &mut Guarded,
    server: &mut Stream,
    early: &[u8],
    idle: Option<Duration>,
) -> (u64, u64) {
    let idle = idle.unwrap_or(Duration::from_secs(3600));
    if !early.is_empty()
        && (client.write_all(early).await.is_err() || client.flush().await.is_err())
    {
        return (0, 0);
    }
    // The last time a byte moved either way: a direction waiting longer
    // than `idle` for its next byte ends only if the other was idle too.
    let last = Activity::new();
    let (client_read, client_write) = tokio::io::split(client);
    let (server_read, server_write) = tokio::io::split(server);
    let (up, down) = tokio::join!(
        pump(client_read, server_write, &last, idle),
        pump(server_read, client_write, &last, idle),
    );
    (up, down + early.len() as u64)
}

/// Copies `from` to `to` until `from` closes (passed on as a shutdown of
/// `to`), a write fails, or the tunnel has been idle for `idle`; the bytes
/// copied.
async fn pump<R, W>(mut from: R, mut to: W, last: &Activity, idle: Duration) -> u64
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0; CHUNK];
    let mut bytes = 0;
    loop {
        let wait = (last.get() + idle).saturating_duration_since(Instant::now());
        match tokio::time::timeout(wait, from.read(&mut buf)).await {
            Err(_) if last.get().elapsed() >= idle => break,
            Err(_) => continue,
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => {
                bytes += n as u64;
                last.set(Instant::now());
                if to.write_all(&buf[..n]).await.is_err() || to.flush().await.is_err() {
                    return bytes;
                }
            }
        }
    }
    let _ = to.shutdown().await;
    bytes
}

/// When a byte last moved either way, shared by both directions.
struct Activity {
    start: Instant,
    /// Milliseconds from `start`.
    at: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity {
            start: Instant::now(),
            at: AtomicU64::new(0),
        }
    }

    fn get(&self) -> Instant {
        self.start + Duration::from_millis(self.at.load(Ordering::Relaxed))
    }

    fn set(&self, now: Instant) {
        let ms = now.saturating_duration_since(self.start).as_millis();
        self.at
            .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}
