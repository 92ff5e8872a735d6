//! gRPC end to end through fairway with real gRPC peers (Debian's
//! python3-grpcio, `tests/grpc/peer.py`): an HTTP/2 cleartext client
//! (`h2c: true`) to a `proto: h2c` server — unary, server-streaming,
//! client-streaming and bidirectional calls, a status and message in the
//! trailers, a deadline, and `UNAVAILABLE` (not a hang) with no server up.

mod common;

use common::{free_port, Fairway};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

const PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/grpc/peer.py");
/// Debian's interpreter, which has Debian's python3-grpcio.
const PYTHON: &str = "/usr/bin/python3";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        common::stop_group(&mut self.0);
    }
}

fn grpc_server() -> (Server, SocketAddr) {
    let port = free_port();
    let mut child = common::spawn_group(
        Command::new(PYTHON)
            .args([PEER, "server", &port.to_string()])
            .stdout(Stdio::piped()),
    )
    .expect("python3 (install python3-grpcio: scripts/setup.sh)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready", "the gRPC server did not start");
    (Server(child), format!("127.0.0.1:{port}").parse().unwrap())
}

fn peer(mode: &str, target: SocketAddr) -> Value {
    let out = Command::new(PYTHON)
        .args([PEER, mode, &target.to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "{mode}: {e}: {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn fairway(server: SocketAddr) -> Fairway {
    let yaml = format!(
        "frontends:\n  web:\n    bind: [\"127.0.0.1:{{PORT}}\"]\n    h2c: true\n    default_backend: grpc\n\
         backends:\n  grpc:\n    retries: 0\n    servers: {{ g1: {{ addr: \"{server}\", proto: h2c }} }}\n"
    );
    Fairway::start(&yaml, &[])
}

#[test]
fn every_kind_of_call_through_an_h2c_frontend_to_an_h2c_server() {
    let (_server, addr) = grpc_server();
    let f = fairway(addr);
    let out = peer("client", f.addr);
    assert_eq!(out["unary"], "hello", "{out}\n{}", f.log());
    assert_eq!(out["server_stream"], serde_json::json!(["n0", "n1", "n2"]));
    assert_eq!(out["client_stream"], "abc");
    assert_eq!(out["bidi"], serde_json::json!(["X", "Y"]));
    // grpc-status and grpc-message come back in the trailers.
    assert_eq!(
        out["fail"],
        serde_json::json!(["NOT_FOUND", "no such thing"])
    );
    // The client's deadline (grpc-timeout) holds through fairway.
    assert_eq!(out["slow"][0], "DEADLINE_EXCEEDED", "{out}");
    assert!(out["slow"][1].as_f64().unwrap() < 2.5, "{out}");
}

#[test]
fn no_server_up_is_unavailable_at_once() {
    // A port nothing listens on.
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let f = fairway(addr);
    let out = peer("unary", f.addr);
    assert_eq!(out[0], "UNAVAILABLE", "{out}\n{}", f.log());
    assert!(out[1].as_f64().unwrap() < 5.0, "{out}");
}

#[test]
fn maxconn_counts_calls_on_a_multiplexed_connection() {
    // One call at a time to the server: a second one waits in the queue
    // for `timeout_queue`, then gets 503, which gRPC reads as UNAVAILABLE;
    // calls share one HTTP/2 connection, so only the stream count can
    // hold this limit.
    let (_server, addr) = grpc_server();
    let yaml = format!(
        "frontends:\n  web:\n    bind: [\"127.0.0.1:{{PORT}}\"]\n    h2c: true\n    default_backend: grpc\n\
         backends:\n  grpc:\n    retries: 0\n    timeout_queue: 300ms\n\
         \x20   servers: {{ g1: {{ addr: \"{addr}\", proto: h2c, maxconn: 1 }} }}\n"
    );
    let f = Fairway::start(&yaml, &[]);
    let target = f.addr;
    let slow = std::thread::spawn(move || peer("slow", target));
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let queued = peer("unary", f.addr);
    assert_eq!(queued[0], "UNAVAILABLE", "{queued}\n{}", f.log());
    assert!(queued[1].as_f64().unwrap() < 2.0, "{queued}");
    let slow = slow.join().unwrap();
    assert_eq!(slow[0], "OK", "{slow}");
    // The slot is free again.
    assert_eq!(peer("unary", f.addr)[0], "OK");
}
