//! Pipelined requests as a client's writes cut them (issue #28, defect 4):
//! a valid two-request pipeline split at every byte offset gets its two
//! answers, 10,000 pipelined GETs or small POSTs in one write get 10,000
//! answers, and a malformed request line pipelined behind a body is
//! refused like one sent alone; against a real keep-alive server.

mod common;

use common::{read_response, Fairway, Upstream};
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

const CONFIG: &str =
    "frontends:\n  web:\n    bind: [\"127.0.0.1:{PORT}\"]\n    default_backend: app\n\
backends:\n  app:\n    servers: { s1: { addr: \"{UP0}\" } }\n";

/// Sends `pieces` (each its own write, a pause between), then reads up to
/// `want` responses; their statuses, in order, until the connection ends.
fn statuses(f: &Fairway, pieces: &[&[u8]], want: usize) -> Vec<u16> {
    let conn = TcpStream::connect(f.addr).unwrap();
    conn.set_nodelay(true).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let writer = {
        let mut conn = conn.try_clone().unwrap();
        let pieces: Vec<Vec<u8>> = pieces.iter().map(|p| p.to_vec()).collect();
        thread::spawn(move || {
            for (i, p) in pieces.iter().enumerate() {
                if i > 0 {
                    thread::sleep(Duration::from_millis(30));
                }
                if conn.write_all(p).is_err() {
                    return;
                }
            }
        })
    };
    let mut reader = BufReader::new(conn);
    let mut out = Vec::new();
    while out.len() < want {
        match read_response(&mut reader, false) {
            Ok(r) => out.push(r.status),
            Err(_) => break,
        }
    }
    let _ = writer.join();
    out
}

#[test]
fn a_valid_pipeline_split_at_every_offset_gets_both_answers() {
    let up = Upstream::start("s1");
    let gets: &[u8] = b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n";
    let post_get: &[u8] =
        b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: a\r\n\r\n";
    let f = Fairway::start(CONFIG, &[&up]);
    for pipeline in [gets, post_get] {
        let mut wrong = Vec::new();
        for cut in 1..pipeline.len() {
            let got = statuses(&f, &[&pipeline[..cut], &pipeline[cut..]], 2);
            if got != [200, 200] {
                wrong.push((cut, got));
            }
        }
        assert!(
            wrong.is_empty(),
            "{:?}: {} of {} offsets wrong: {wrong:?}",
            String::from_utf8_lossy(pipeline),
            wrong.len(),
            pipeline.len() - 1
        );
    }
}

/// Sends `n` copies of `one` in one write and counts the answers, within
/// a time bound.
fn answers(f: &Fairway, one: &[u8], n: usize) -> (usize, Vec<u16>) {
    let all = one.repeat(n);
    let started = Instant::now();
    let got = statuses(f, &[&all], n);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{n} pipelined requests took {:?}",
        started.elapsed()
    );
    let not_ok: Vec<u16> = got.iter().copied().filter(|&s| s != 200).collect();
    (got.len(), not_ok)
}

#[test]
fn ten_thousand_pipelined_requests_in_one_write_are_all_answered() {
    let up = Upstream::start("s1");
    let get: &[u8] = b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
    let post: &[u8] = b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
    let f = Fairway::start(CONFIG, &[&up]);
    for one in [get, post] {
        let (count, not_ok) = answers(&f, one, 10_000);
        assert_eq!(
            (count, not_ok),
            (10_000, Vec::new()),
            "{:?} × 10,000",
            String::from_utf8_lossy(one)
        );
    }
}

#[test]
fn a_bad_request_line_pipelined_after_a_body_is_refused() {
    let up = Upstream::start("s1");
    let post: &[u8] = b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
    let bad: [&[u8]; 7] = [
        b"GET /x\x00/admin HTTP/1.1\r\n",
        b"GET\t/x/admin HTTP/1.1\r\n",
        b"GET /x\r/admin HTTP/1.1\r\n",
        b"GET /x\x0b/admin HTTP/1.1\r\n",
        b"GET /x\x7f/admin HTTP/1.1\r\n",
        b"GET /caf\xc3\xa9/admin HTTP/1.1\r\n",
        b"GET  /x/admin HTTP/1.1\r\n",
    ];
    let f = Fairway::start(CONFIG, &[&up]);
    for line in bad {
        let before = up.hits();
        let all = [post, line, b"Host: a\r\n\r\n"].concat();
        let got = statuses(&f, &[&all], 2);
        // Give a forwarded request time to arrive before counting.
        thread::sleep(Duration::from_millis(50));
        assert_eq!(
            (got, up.hits() - before),
            (vec![200, 400], 1),
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
}
