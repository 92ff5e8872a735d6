//! tcpload: the load generator and echo upstream of benches/compare/tcp.sh.
//! Standard library only, so the script builds it with plain `rustc -O`
//! (no Cargo project, nothing to download).
//!
//! ```text
//! tcpload echo PORT                      # echo server on 127.0.0.1:PORT (thread per connection)
//! tcpload throughput ADDR CONNS SECS     # CONNS connections stream data through an echo; prints MB/s echoed back
//! tcpload connrate ADDR THREADS SECS     # THREADS loops of connect, 1-byte echo, close; prints connections/s
//! ```
//!
//! `throughput` counts the bytes that came back from the echo (each byte
//! crossed the proxy twice: once each way). `connrate` counts complete
//! round trips, so a connection counts only once the proxy has connected to
//! the upstream and relayed both ways.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const BUF: usize = 64 * 1024;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| -> &str { args.get(i).map(String::as_str).unwrap_or("") };
    let num = |i: usize| -> u64 { arg(i).parse().unwrap_or_else(|_| usage()) };
    match arg(1) {
        "echo" => echo(num(2) as u16),
        "throughput" => throughput(addr(arg(2)), num(3) as usize, num(4)),
        "connrate" => connrate(addr(arg(2)), num(3) as usize, num(4)),
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!("usage: tcpload echo PORT | throughput ADDR CONNS SECS | connrate ADDR THREADS SECS");
    std::process::exit(2)
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap_or_else(|_| usage())
}

fn echo(port: u16) {
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap_or_else(|e| {
        eprintln!("tcpload echo: bind {port}: {e}");
        std::process::exit(1)
    });
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { continue };
        let _ = thread::Builder::new()
            .stack_size(128 * 1024)
            .spawn(move || {
                let _ = conn.set_nodelay(true);
                let mut buf = vec![0u8; BUF];
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if conn.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = conn.shutdown(Shutdown::Write);
            });
    }
}

fn throughput(addr: SocketAddr, conns: usize, secs: u64) {
    let received = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for _ in 0..conns {
        let Ok(conn) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
            eprintln!("tcpload: cannot connect to {addr}");
            std::process::exit(1)
        };
        let _ = conn.set_nodelay(true);
        let mut reader = conn.try_clone().expect("clone socket");
        let mut writer = conn;
        let (st, rc) = (stop.clone(), received.clone());
        handles.push(thread::spawn(move || {
            let buf = vec![0x5au8; BUF];
            while !st.load(Ordering::Relaxed) {
                if writer.write_all(&buf).is_err() {
                    break;
                }
            }
            let _ = writer.shutdown(Shutdown::Write);
        }));
        handles.push(thread::spawn(move || {
            let mut buf = vec![0u8; BUF];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        rc.fetch_add(n as u64, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    // Skip the first second (slow start), then measure.
    thread::sleep(Duration::from_secs(1));
    let (b0, t0) = (received.load(Ordering::Relaxed), Instant::now());
    thread::sleep(Duration::from_secs(secs));
    let (b1, t1) = (received.load(Ordering::Relaxed), Instant::now());
    stop.store(true, Ordering::Relaxed);
    let mbps = (b1 - b0) as f64 / (t1 - t0).as_secs_f64() / 1e6;
    println!("{mbps:.1}");
    for h in handles {
        let _ = h.join();
    }
}

fn connrate(addr: SocketAddr, threads: usize, secs: u64) {
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (d, f, st) = (done.clone(), failed.clone(), stop.clone());
            thread::spawn(move || {
                let mut b = [0u8; 1];
                while !st.load(Ordering::Relaxed) {
                    let ok = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).and_then(
                        |mut s| {
                            s.set_nodelay(true)?;
                            s.set_read_timeout(Some(Duration::from_secs(5)))?;
                            s.write_all(b"x")?;
                            s.read_exact(&mut b)?;
                            // Close with RST-free FIN; the proxy closes its side too.
                            s.shutdown(Shutdown::Write)?;
                            let _ = s.read(&mut b);
                            Ok(())
                        },
                    );
                    match ok {
                        Ok(()) => d.fetch_add(1, Ordering::Relaxed),
                        Err(_) => f.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    thread::sleep(Duration::from_secs(1));
    let (c0, t0) = (done.load(Ordering::Relaxed), Instant::now());
    thread::sleep(Duration::from_secs(secs));
    let (c1, t1) = (done.load(Ordering::Relaxed), Instant::now());
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.join();
    }
    let rate = (c1 - c0) as f64 / (t1 - t0).as_secs_f64();
    let errors = failed.load(Ordering::Relaxed);
    if errors > 0 {
        eprintln!("tcpload connrate: {errors} failed connections");
    }
    println!("{rate:.0}");
}
