//! WebSocket through fairway against a real WebSocket server and client
//! (tungstenite): echo, a 200 KiB message, closing from either side, and
//! `timeout_tunnel`: an upgraded connection idle for longer than
//! `timeout_server` stays open within `timeout_tunnel`, and is cut without
//! it.

mod common;

use common::Fairway;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;
use tungstenite::{Message, WebSocket};

/// A WebSocket echo server: each text or binary message comes back; the
/// text `close-please` makes the server close the connection.
fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            thread::spawn(move || {
                let Ok(mut ws) = tungstenite::accept(conn) else {
                    return;
                };
                while let Ok(msg) = ws.read() {
                    match msg {
                        Message::Text(t) if t.as_str() == "close-please" => {
                            let _ = ws.close(None);
                        }
                        Message::Text(_) | Message::Binary(_) => {
                            let Ok(()) = ws.send(msg) else { return };
                        }
                        _ => {}
                    }
                }
            });
        }
    });
    addr
}

fn fairway(server: SocketAddr, tunnel: Option<&str>) -> Fairway {
    let tunnel = tunnel.map_or(String::new(), |t| format!("    timeout_tunnel: {t}\n"));
    let yaml = format!(
        "frontends:\n  web:\n    bind: [\"127.0.0.1:{{PORT}}\"]\n    timeout_client: 1s\n    \
         default_backend: ws\n\
         backends:\n  ws:\n    timeout_server: 1s\n{tunnel}    servers: {{ s1: {{ addr: \"{server}\" }} }}\n"
    );
    Fairway::start(&yaml, &[])
}

fn connect(f: &Fairway) -> WebSocket<TcpStream> {
    let stream = TcpStream::connect(f.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let url = format!("ws://{}/chat", f.addr);
    let (ws, resp) = tungstenite::client(url.as_str(), stream).unwrap();
    assert_eq!(resp.status(), 101);
    ws
}

fn echo(ws: &mut WebSocket<TcpStream>, msg: Message) -> Message {
    ws.send(msg).unwrap();
    loop {
        match ws.read().unwrap() {
            Message::Ping(_) | Message::Pong(_) => {}
            other => return other,
        }
    }
}

#[test]
fn messages_large_ones_and_closing_from_either_side() {
    let f = fairway(echo_server(), Some("30s"));
    let mut ws = connect(&f);
    assert_eq!(
        echo(&mut ws, Message::text("hello")),
        Message::text("hello")
    );
    let big: Vec<u8> = (0..200 * 1024).map(|i| (i % 251) as u8).collect();
    assert_eq!(
        echo(&mut ws, Message::binary(big.clone())),
        Message::binary(big)
    );
    // The client closes: the close handshake completes through fairway.
    ws.close(None).unwrap();
    loop {
        match ws.read() {
            Ok(Message::Close(_)) | Err(tungstenite::Error::ConnectionClosed) => break,
            Ok(_) => {}
            Err(e) => panic!("close from the client: {e}"),
        }
    }
    // The server closes: the client sees its close frame.
    let mut ws = connect(&f);
    ws.send(Message::text("close-please")).unwrap();
    match ws.read() {
        Ok(Message::Close(_)) => {}
        other => panic!("expected the server's close, got {other:?}"),
    }
}

#[test]
fn an_idle_tunnel_lives_for_timeout_tunnel_not_timeout_server() {
    let f = fairway(echo_server(), Some("30s"));
    let mut ws = connect(&f);
    assert_eq!(echo(&mut ws, Message::text("a")), Message::text("a"));
    // Idle for twice `timeout_server` and `timeout_client`.
    thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        echo(&mut ws, Message::text("still here")),
        Message::text("still here"),
        "{}",
        f.log()
    );

    // Without `timeout_tunnel`, the same idle time ends the tunnel.
    let f = fairway(echo_server(), None);
    let mut ws = connect(&f);
    assert_eq!(echo(&mut ws, Message::text("a")), Message::text("a"));
    thread::sleep(Duration::from_millis(2500));
    let _ = ws.send(Message::text("gone?"));
    let read = ws.read();
    assert!(
        !matches!(read, Ok(Message::Text(_))),
        "the tunnel outlived timeout_server: {read:?}"
    );
}

/// In `mode: tcp` every connection is a tunnel: `timeout_tunnel` replaces
/// `timeout_client` and `timeout_server` both ways.
#[test]
fn tcp_connections_idle_within_timeout_tunnel_stay_open() {
    use std::io::{Read, Write};
    let echo = common::Echo::start();
    let run = |tunnel: &str| {
        let yaml = format!(
            "frontends:\n  t:\n    mode: tcp\n    bind: [\"127.0.0.1:{{PORT}}\"]\n    timeout_client: 1s\n    \
             default_backend: e\n\
             backends:\n  e:\n    mode: tcp\n    timeout_server: 1s\n{tunnel}    servers: {{ s1: {{ addr: \"{}\" }} }}\n",
            echo.addr
        );
        let f = Fairway::start(&yaml, &[]);
        let mut conn = TcpStream::connect(f.addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = [0u8; 4];
        conn.write_all(b"ping").unwrap();
        conn.read_exact(&mut got).unwrap();
        thread::sleep(Duration::from_millis(2500));
        let _ = conn.write_all(b"pong");
        conn.read_exact(&mut got).is_ok() && &got == b"pong"
    };
    assert!(
        run("    timeout_tunnel: 30s\n"),
        "closed within timeout_tunnel"
    );
    assert!(!run(""), "open past timeout_client without timeout_tunnel");
}
