//! The client against a real server socket on loopback that writes the
//! given bytes (in the given pieces), then closes or stays open.

use super::*;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// A client whose server writes `pieces` one by one, then closes the
/// connection if `close`, else keeps it open.
async fn client(pieces: &[&[u8]], close: bool) -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let pieces: Vec<Vec<u8>> = pieces.iter().map(|p| p.to_vec()).collect();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        for p in pieces {
            s.write_all(&p).await.unwrap();
            s.flush().await.unwrap();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        if !close {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let stream: Stream = Box::new(pingora::protocols::l4::stream::Stream::from(tcp));
    Upstream::new(
        stream,
        Some(Duration::from_secs(5)),
        Some(Duration::from_secs(5)),
    )
}

/// Reads the response to a GET (or HEAD): its head, its whole body.
async fn exchange(c: &mut Upstream, head: bool) -> Result<(Box<ResponseHeader>, Vec<u8>)> {
    let mut resp = c.response(head, false).await?;
    while resp.status.is_informational() {
        resp = c.response(head, false).await?;
    }
    let mut body = Vec::new();
    while let Some(b) = c.body().await? {
        body.extend_from_slice(&b);
    }
    assert!(c.is_done());
    Ok((resp, body))
}

#[tokio::test]
async fn content_length_body_and_reuse() {
    let mut c = client(
        &[b"HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 5\r\n\r\nhello"],
        false,
    )
    .await;
    let (resp, body) = exchange(&mut c, false).await.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.headers.get("server").unwrap(), "x");
    assert_eq!(body, b"hello");
    assert!(c.into_reusable().is_some());
}

#[tokio::test]
async fn a_head_arriving_byte_by_byte() {
    let text = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\nok";
    let pieces: Vec<&[u8]> = text.chunks(1).collect();
    let mut c = client(&pieces, false).await;
    let (resp, body) = exchange(&mut c, false).await.unwrap();
    assert_eq!((resp.status.as_u16(), body.as_slice()), (200, &b"ok"[..]));
    assert_eq!(resp.headers.get("x-a").unwrap(), "b");
}

#[tokio::test]
async fn chunked_with_extensions_and_trailers() {
    let mut c = client(
        &[
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=v\r\nhel",
            b"lo\r\n6 ; x\r\n world\r\n0\r\nTrailer-A: 1\r\n",
            b"\r\n",
        ],
        false,
    )
    .await;
    let (_, body) = exchange(&mut c, false).await.unwrap();
    assert_eq!(body, b"hello world");
    let trailers = c.take_trailers().expect("the trailer section is kept");
    assert_eq!(trailers.get("trailer-a").unwrap(), "1");
    assert!(c.into_reusable().is_some(), "the whole message was read");
}

#[tokio::test]
async fn transfer_encoding_overrides_content_length() {
    let mut c = client(
        &[b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"],
        false,
    )
    .await;
    let (resp, body) = exchange(&mut c, false).await.unwrap();
    assert_eq!(body, b"abc");
    assert!(resp.headers.get("content-length").is_none());
}

#[tokio::test]
async fn lengths_that_agree_and_lengths_that_do_not() {
    let mut c = client(
        &[b"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\nabc"],
        false,
    )
    .await;
    assert_eq!(exchange(&mut c, false).await.unwrap().1, b"abc");
    for bad in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\nabcd"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0x3\r\n\r\nabc",
    ] {
        let mut c = client(&[bad], false).await;
        assert!(
            c.response(false, false).await.is_err(),
            "{}",
            bad.escape_ascii()
        );
    }
}

#[tokio::test]
async fn close_delimited_body_ends_at_eof_and_is_not_reused() {
    let mut c = client(&[b"HTTP/1.0 200 OK\r\n\r\nall of ", b"it"], true).await;
    let (resp, body) = exchange(&mut c, false).await.unwrap();
    assert_eq!(resp.version, Version::HTTP_10);
    assert_eq!(body, b"all of it");
    assert!(c.into_reusable().is_none());
}

#[tokio::test]
async fn informational_answers_come_first_and_an_unasked_101_is_refused() {
    let mut c = client(
        &[b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"],
        false,
    )
    .await;
    assert_eq!(c.response(false, false).await.unwrap().status, 100);
    let hints = c.response(false, false).await.unwrap();
    assert_eq!(hints.status, 103);
    assert_eq!(hints.headers.get("link").unwrap(), "</a>");
    let (resp, body) = exchange(&mut c, false).await.unwrap();
    assert_eq!((resp.status.as_u16(), body.len()), (204, 0));
    assert!(c.into_reusable().is_some());

    let switch = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nraw";
    let mut c = client(&[switch], false).await;
    assert!(c.response(false, false).await.is_err());
    let mut c = client(&[switch], false).await;
    assert_eq!(c.response(false, true).await.unwrap().status, 101);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (_, early) = c.into_tunnel();
    assert!(early.is_empty() || &early[..] == b"raw");
}

/// A server socket that records what it reads until the request's end
/// (`marker`), then answers `answer`.
async fn recording(
    marker: &'static [u8],
    answer: &'static [u8],
) -> (Upstream, tokio::task::JoinHandle<Vec<u8>>) {
    use tokio::io::AsyncReadExt;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.windows(marker.len()).any(|w| w == marker) {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        s.write_all(answer).await.unwrap();
        got
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let stream: Stream = Box::new(pingora::protocols::l4::stream::Stream::from(tcp));
    let up = Upstream::new(
        stream,
        Some(Duration::from_secs(5)),
        Some(Duration::from_secs(5)),
    );
    (up, seen)
}

#[tokio::test]
async fn request_bodies_go_out_framed_with_their_trailers() {
    let (mut up, seen) = recording(
        b"0\r\nx-sum: 7\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    let mut req = RequestHeader::build("POST", b"/u", None).unwrap();
    req.insert_header("transfer-encoding", "chunked").unwrap();
    up.send(&req, ReqBody::Chunked).await.unwrap();
    up.send_body(b"hello", false, None).await.unwrap();
    let mut fields = HeaderMap::new();
    fields.insert("x-sum", http::HeaderValue::from_static("7"));
    up.send_body(b"", true, Some(&fields)).await.unwrap();
    assert!(up.request_sent());
    let resp = up.response(false, false).await.unwrap();
    assert_eq!(resp.status, 200);
    let got = seen.await.unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("POST /u HTTP/1.1\r\n"), "{text}");
    assert!(
        text.ends_with("\r\n\r\n5\r\nhello\r\n0\r\nx-sum: 7\r\n\r\n"),
        "{text}"
    );
    assert!(up.into_reusable().is_some());

    let (mut up, seen) = recording(b"abc", b"HTTP/1.1 204 No Content\r\n\r\n").await;
    let mut req = RequestHeader::build("PUT", b"/u", None).unwrap();
    req.insert_header("content-length", "3").unwrap();
    up.send(&req, ReqBody::Length).await.unwrap();
    up.send_body(b"abc", true, None).await.unwrap();
    assert_eq!(up.response(false, false).await.unwrap().status, 204);
    assert!(String::from_utf8_lossy(&seen.await.unwrap()).ends_with("\r\n\r\nabc"));
}

#[tokio::test]
async fn no_body_for_head_and_304() {
    let mut c = client(
        &[b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"],
        false,
    )
    .await;
    let (resp, body) = exchange(&mut c, true).await.unwrap();
    assert_eq!((resp.status.as_u16(), body.len()), (200, 0));
    let (resp, body) = exchange(&mut c, false).await.unwrap();
    assert_eq!((resp.status.as_u16(), body.len()), (304, 0));
}

#[tokio::test]
async fn keep_alive_follows_the_version_and_connection() {
    for (text, reusable) in [
        (&b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"[..], true),
        (
            b"HTTP/1.1 200 OK\r\nConnection: x, Close\r\nContent-Length: 0\r\n\r\n",
            false,
        ),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false),
        (
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
            true,
        ),
        (
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            false,
        ),
        // More bytes than the length: what follows is no response to ours.
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab", false),
        // A coding other than chunked last: read until the close.
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            false,
        ),
    ] {
        let close = !reusable;
        let mut c = client(&[text], close).await;
        exchange(&mut c, false).await.unwrap();
        assert_eq!(
            c.into_reusable().is_some(),
            reusable,
            "{}",
            text.escape_ascii()
        );
    }
}

#[tokio::test]
async fn malformed_chunking_is_an_error() {
    for bad in [
        &b"zz\r\nab\r\n0\r\n\r\n"[..],
        b"\r\n",
        b"2\r\nabXY0\r\n\r\n",
        b"11111111111111111\r\n",
        b"2 x\r\nab\r\n0\r\n\r\n",
    ] {
        let mut text = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        text.extend_from_slice(bad);
        let mut c = client(&[&text], true).await;
        let r = exchange(&mut c, false).await;
        assert!(r.is_err(), "{}", bad.escape_ascii());
    }
}

#[tokio::test]
async fn a_cut_body_is_an_error_and_an_empty_answer_may_be_resent() {
    let mut c = client(&[b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"], true).await;
    assert!(exchange(&mut c, false).await.is_err());

    let mut c = client(&[], true).await;
    let e = c.response(false, false).await.unwrap_err();
    assert_eq!(e.retry, RetryType::ReusedOnly);

    let mut c = client(&[b"HTTP/1.1 200"], true).await;
    let e = c.response(false, false).await.unwrap_err();
    assert_ne!(e.retry, RetryType::ReusedOnly, "part of an answer came");
}

#[tokio::test]
async fn garbage_and_oversized_heads_are_errors() {
    let mut c = client(&[b"SSH-2.0-OpenSSH\r\n\r\n"], true).await;
    assert!(c.response(false, false).await.is_err());
    let mut big = b"HTTP/1.1 200 OK\r\n".to_vec();
    while big.len() <= MAX_HEAD {
        big.extend_from_slice(b"X-Filler: 0123456789012345678901234567890123456789\r\n");
    }
    let mut c = client(&[&big], false).await;
    assert!(c.response(false, false).await.is_err());
}

#[tokio::test]
async fn a_status_outside_100_599_is_an_invalid_head() {
    for bad in [
        &b"HTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\n"[..],
        b"HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n",
    ] {
        let mut c = client(&[bad], true).await;
        let e = c.response(false, false).await.unwrap_err();
        assert_eq!(
            e.etype(),
            &ErrorType::InvalidHTTPHeader,
            "{}",
            bad.escape_ascii()
        );
    }
    let mut c = client(&[b"HTTP/1.1 599 Odd\r\nContent-Length: 0\r\n\r\n"], true).await;
    assert_eq!(c.response(false, false).await.unwrap().status.as_u16(), 599);
}

#[tokio::test]
async fn space_before_colon_taken_and_obs_fold_replaced_by_one_space() {
    let mut c = client(
        &[b"HTTP/1.1 200 OK\r\nX-Bad : 1\r\nX-F: a\r\n b\r\nContent-Length: 2\r\n\r\nok"],
        false,
    )
    .await;
    let (resp, body) = exchange(&mut c, false).await.unwrap();
    assert_eq!(body, b"ok");
    // RFC 9112 §5.2: each obs-fold becomes one space.
    assert_eq!(resp.headers.get("x-f").unwrap(), "a b");
}
