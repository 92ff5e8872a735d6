//! A log destination written by a background thread, so that a worker
//! that logs (an access line per request) never waits on the disk: the
//! worker hands the formatted line over (one copy, no system call) and the
//! writer thread writes what has piled up in one go, flushing whenever it
//! has nothing left to write.
//!
//! The hand-over is bounded: if the disk stalls for long enough to fill
//! it, workers wait rather than drop lines. A process that forks after
//! making one (daemon mode) must not use it: the child would have no
//! writer thread.

use std::io::{self, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::time::Duration;

/// Lines that may wait for the writer thread.
const QUEUE: usize = 16 * 1024;

enum Msg {
    Line(Vec<u8>),
    /// Write out everything before, then answer.
    Flush(SyncSender<()>),
}

/// A [`Write`] for a logger (e.g. `env_logger`'s `Target::Pipe`) whose
/// writes go to standard error on a background thread. Each `write` call
/// is one line; `flush` returns at once (the thread flushes when idle);
/// [`Flusher::flush`] waits until everything written so far is out.
///
/// ```no_run
/// let (writer, flusher) = fairway::logging::Background::stderr();
/// let logger = env_logger::Builder::new()
///     .target(env_logger::Target::Pipe(Box::new(writer)))
///     .build();
/// // ... and before the process exits:
/// flusher.flush();
/// ```
pub struct Background {
    tx: SyncSender<Msg>,
}

/// Waits for a [`Background`] writer to write out what it was given.
#[derive(Clone)]
pub struct Flusher(SyncSender<Msg>);

impl Background {
    /// A writer to standard error, and its flusher.
    pub fn stderr() -> (Background, Flusher) {
        Background::to(Box::new(io::stderr()))
    }

    fn to(out: Box<dyn Write + Send>) -> (Background, Flusher) {
        let tx = spawn(out);
        (Background { tx: tx.clone() }, Flusher(tx))
    }
}

/// Starts a writer thread over `out`.
fn spawn(out: Box<dyn Write + Send>) -> SyncSender<Msg> {
    let (tx, rx) = sync_channel(QUEUE);
    std::thread::Builder::new()
        .name("fairway-log".into())
        .spawn(move || write_out(rx, out))
        .expect("start the log writer thread");
    tx
}

fn write_out(rx: Receiver<Msg>, out: Box<dyn Write + Send>) {
    let mut out = io::BufWriter::with_capacity(64 * 1024, out);
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                Msg::Line(line) => {
                    let _ = out.write_all(&line);
                }
                Msg::Flush(done) => {
                    let _ = out.flush();
                    let _ = done.send(());
                }
            }
            next = rx.try_recv().ok();
        }
        let _ = out.flush();
    }
    let _ = out.flush();
}

impl Flusher {
    /// Returns once everything written before is out (or after a second,
    /// if the writer is stuck).
    pub fn flush(&self) {
        let (done, wait) = sync_channel(1);
        if self.0.send(Msg::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(Duration::from_secs(1));
        }
    }
}

impl Write for Background {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tx
            .send(Msg::Line(buf.to_vec()))
            .map_err(|_| io::Error::other("the log writer thread is gone"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_come_out_in_order_once_flushed() {
        let shared = Shared::default();
        let (mut w, flusher) = Background::to(Box::new(shared.clone()));
        let mut threads = Vec::new();
        for t in 0..4 {
            let mut w = Background { tx: w.tx.clone() };
            threads.push(std::thread::spawn(move || {
                for i in 0..1000 {
                    w.write_all(format!("{t} {i}\n").as_bytes()).unwrap();
                }
            }));
        }
        w.write_all(b"main\n").unwrap();
        for t in threads {
            t.join().unwrap();
        }
        flusher.flush();
        let text = String::from_utf8(shared.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 4001);
        for t in 0..4 {
            let mine: Vec<usize> = text
                .lines()
                .filter_map(|l| l.strip_prefix(&format!("{t} ")))
                .map(|i| i.parse().unwrap())
                .collect();
            assert_eq!(
                mine,
                (0..1000).collect::<Vec<_>>(),
                "thread {t}'s lines in order"
            );
        }
    }
}
