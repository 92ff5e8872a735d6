//! Response compression: a frontend's `compression` (HAProxy's
//! `compression algo` and `compression type`).
//!
//! `response_filter` decides from the request and the response head
//! ([`start`]) and rewrites the head; `response_body_filter` passes each
//! piece of the body through the [`Encoder`] as it comes, so memory stays
//! bounded whatever the body's size. The gzip and zstd encoders are
//! Pingora's.

use bytes::Bytes;
use fairway_config::{Coding, Compression};
use http::header::{self, HeaderValue};
use http::{Method, Version};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::protocols::http::compression::{Algorithm, Encode, COMPRESSION_ERROR};
use pingora::{OrErr, Result};
use std::io::Write;

/// One response's compressor, at a fast level (as HAProxy's and nginx's
/// default, gzip 1), for a proxy that compresses on the fly.
pub(super) enum Encoder {
    /// Pingora's gzip and zstd compressors.
    Pingora(Box<dyn Encode + Send + Sync>),
    /// Brotli: Pingora's compressor ends a stream with a flush, not with
    /// the last meta-block (RFC 7932 §9.2), which decoders then find cut.
    Brotli(Option<Box<brotli::CompressorWriter<Vec<u8>>>>),
}

impl Encoder {
    fn new(coding: Coding) -> Option<Encoder> {
        match coding {
            Coding::Gzip => Algorithm::Gzip.compressor(1).map(Encoder::Pingora),
            Coding::Zstd => Algorithm::Zstd.compressor(1).map(Encoder::Pingora),
            Coding::Br => Some(Encoder::Brotli(Some(Box::new(
                brotli::CompressorWriter::new(Vec::new(), 4096, 1, 19),
            )))),
        }
    }

    /// Compresses the next piece of the body (`end`: the last); `None`
    /// when the compressor has nothing to send yet.
    pub(super) fn encode(&mut self, piece: Option<&Bytes>, end: bool) -> Result<Option<Bytes>> {
        let piece = piece.map_or(&[][..], |b| b);
        let out: Bytes = match self {
            Encoder::Pingora(e) => e.encode(piece, end)?,
            Encoder::Brotli(slot) => {
                let Some(w) = slot.as_mut() else {
                    return Ok(None);
                };
                w.write_all(piece)
                    .or_err(COMPRESSION_ERROR, "while compressing (br)")?;
                match end {
                    true => slot.take().map(|w| w.into_inner()).unwrap_or_default(),
                    false => std::mem::take(w.get_mut()),
                }
                .into()
            }
        };
        Ok((!out.is_empty()).then_some(out))
    }
}

/// Whether the response to `req` is compressed: if so its head is
/// rewritten (`Content-Encoding`, no `Content-Length` or `Accept-Ranges`,
/// a weak `ETag`, chunked for HTTP/1) and the encoder returned. A response
/// that could be compressed for another client gets `Vary:
/// Accept-Encoding` (RFC 9110 §12.5.5) whatever this client accepts.
pub(super) fn start(
    spec: &Compression,
    req: &RequestHeader,
    resp: &mut ResponseHeader,
) -> Option<Encoder> {
    // As HAProxy: HTTP/1.1 or later (HTTP/1.0 has no chunked coding), a
    // response with a body, 200 to 203 (not partial content).
    if req.version < Version::HTTP_11
        || req.method == Method::HEAD
        || !(200..=203).contains(&resp.status.as_u16())
    {
        return None;
    }
    let h = &resp.headers;
    let no_transform = h.get_all(header::CACHE_CONTROL).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .any(|d| d.trim_ascii().eq_ignore_ascii_case(b"no-transform"))
    });
    if no_transform
        || h.contains_key(header::CONTENT_ENCODING)
        || h.contains_key(header::CONTENT_RANGE)
        || !h
            .get(header::CONTENT_TYPE)
            .is_some_and(|t| spec.compresses_type(t.as_bytes()))
    {
        return None;
    }
    if let Some(len) = h.get(header::CONTENT_LENGTH) {
        let len = std::str::from_utf8(len.as_bytes())
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok());
        if len.is_none_or(|n| n == 0 || n < spec.min_size) {
            return None;
        }
    }
    add_vary(resp);
    let coding = negotiate(
        req.headers.get(header::ACCEPT_ENCODING)?.as_bytes(),
        &spec.algos,
    )?;
    let encoder = Encoder::new(coding)?;
    let _ = resp.insert_header(header::CONTENT_ENCODING, coding.name());
    resp.remove_header(&header::CONTENT_LENGTH);
    resp.remove_header(&header::ACCEPT_RANGES);
    weaken_etag(resp);
    if req.version == Version::HTTP_11 && !resp.headers.contains_key(header::TRANSFER_ENCODING) {
        // An HTTP/1.0 server's response goes on as HTTP/1.1: 1.0 has no
        // chunked coding (RFC 9112 §7.1).
        resp.set_version(Version::HTTP_11);
        let _ = resp.insert_header(header::TRANSFER_ENCODING, "chunked");
    }
    Some(encoder)
}

/// The coding of `algos` the client's `Accept-Encoding` accepts with the
/// highest q-value, the first of `algos` among equals (RFC 9110 §12.5.3:
/// `*` stands for the codings not listed, `q=0` refuses one).
fn negotiate(accept: &[u8], algos: &[Coding]) -> Option<Coding> {
    let mut listed = [None::<u16>; 3];
    let mut any = None;
    for element in accept.split(|&b| b == b',') {
        let mut parts = element.split(|&b| b == b';');
        let name = parts.next().unwrap_or_default().trim_ascii();
        let mut q = Some(1000);
        for param in parts {
            let param = param.trim_ascii();
            if param.len() >= 2 && param[..2].eq_ignore_ascii_case(b"q=") {
                q = qvalue(&param[2..]);
            }
        }
        // A malformed q-value makes the element say nothing.
        let Some(q) = q else { continue };
        let slot = if name == b"*" {
            &mut any
        } else if name.eq_ignore_ascii_case(b"gzip") || name.eq_ignore_ascii_case(b"x-gzip") {
            &mut listed[index(Coding::Gzip)]
        } else if name.eq_ignore_ascii_case(b"br") {
            &mut listed[index(Coding::Br)]
        } else if name.eq_ignore_ascii_case(b"zstd") {
            &mut listed[index(Coding::Zstd)]
        } else {
            continue;
        };
        *slot = Some(q);
    }
    let mut best = None;
    for &coding in algos {
        let q = listed[index(coding)].or(any).unwrap_or(0);
        if q > 0 && best.is_none_or(|(_, b)| q > b) {
            best = Some((coding, q));
        }
    }
    best.map(|(c, _)| c)
}

fn index(coding: Coding) -> usize {
    match coding {
        Coding::Zstd => 0,
        Coding::Br => 1,
        Coding::Gzip => 2,
    }
}

/// A q-value (RFC 9110 §12.4.2: `0[.ddd]` or `1[.000]`) in thousandths.
fn qvalue(v: &[u8]) -> Option<u16> {
    let (int, frac) = match v.iter().position(|&b| b == b'.') {
        Some(dot) => (&v[..dot], &v[dot + 1..]),
        None => (v, &[][..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut thousandths = 0u16;
    for i in 0..3 {
        thousandths = thousandths * 10 + frac.get(i).map_or(0, |d| u16::from(d - b'0'));
    }
    match int {
        b"0" => Some(thousandths),
        b"1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Adds `Vary: Accept-Encoding` unless the response varies on it (or on
/// everything) already.
fn add_vary(resp: &mut ResponseHeader) {
    let present = resp.headers.get_all(header::VARY).iter().any(|v| {
        v.as_bytes().split(|&b| b == b',').any(|f| {
            let f = f.trim_ascii();
            f == b"*" || f.eq_ignore_ascii_case(b"accept-encoding")
        })
    });
    if !present {
        let _ = resp.append_header(header::VARY, "Accept-Encoding");
    }
}

/// A strong `ETag` becomes weak: the compressed bytes are another
/// representation (RFC 9110 §8.8.1); one that is not a quoted tag goes.
fn weaken_etag(resp: &mut ResponseHeader) {
    let Some(etag) = resp.headers.get(header::ETAG) else {
        return;
    };
    let tag = etag.as_bytes();
    if tag.starts_with(b"W/") {
        return;
    }
    match tag.starts_with(b"\"") {
        true => {
            let weak = [b"W/", tag].concat();
            if let Ok(v) = HeaderValue::from_bytes(&weak) {
                let _ = resp.insert_header(header::ETAG, v);
            }
        }
        false => {
            resp.remove_header(&header::ETAG);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Coding::*;

    const ALL: [Coding; 3] = [Zstd, Br, Gzip];

    #[test]
    fn the_highest_q_wins_then_the_configured_order() {
        assert_eq!(negotiate(b"gzip, deflate, br, zstd", &ALL), Some(Zstd));
        assert_eq!(negotiate(b"gzip, deflate, br", &ALL), Some(Br));
        assert_eq!(negotiate(b"gzip;q=1.0, br;q=0.5", &ALL), Some(Gzip));
        assert_eq!(negotiate(b"br;q=0, gzip;q=0.001", &ALL), Some(Gzip));
        assert_eq!(negotiate(b"X-GZIP", &ALL), Some(Gzip));
        assert_eq!(negotiate(b"*", &[Gzip]), Some(Gzip));
        assert_eq!(negotiate(b"*;q=0.5, zstd;q=0.6", &[Gzip, Zstd]), Some(Zstd));
        assert_eq!(negotiate(b"*, gzip;q=0", &[Gzip]), None);
        assert_eq!(negotiate(b"identity", &ALL), None);
        assert_eq!(negotiate(b"", &ALL), None);
        assert_eq!(negotiate(b"deflate", &ALL), None);
        assert_eq!(negotiate(b"br", &[Gzip]), None);
    }

    #[test]
    fn malformed_q_values_say_nothing() {
        for bad in [
            "gzip;q=2",
            "gzip;q=1.5",
            "gzip;q=0.1234",
            "gzip;q=",
            "gzip;q=x",
            "gzip;q=-1",
        ] {
            assert_eq!(negotiate(bad.as_bytes(), &ALL), None, "{bad}");
        }
        assert_eq!(qvalue(b"0.5"), Some(500));
        assert_eq!(qvalue(b"1.000"), Some(1000));
        assert_eq!(qvalue(b"0"), Some(0));
        assert_eq!(qvalue(b"1.001"), None);
    }

    fn spec() -> Compression {
        Compression {
            algos: vec![Gzip],
            types: vec!["text/html".into()],
            min_size: 100,
        }
    }

    fn exchange(req: &[(&str, &str)], resp: &[(&str, &str)]) -> (bool, ResponseHeader) {
        let mut rq = RequestHeader::build("GET", b"/", None).unwrap();
        for (k, v) in req {
            rq.append_header(k.to_string(), *v).unwrap();
        }
        let mut rs = ResponseHeader::build(200, None).unwrap();
        for (k, v) in resp {
            rs.append_header(k.to_string(), *v).unwrap();
        }
        let on = start(&spec(), &rq, &mut rs).is_some();
        (on, rs)
    }

    #[test]
    fn a_compressed_head_says_so() {
        let (on, r) = exchange(
            &[("accept-encoding", "gzip")],
            &[
                ("content-type", "text/html; charset=utf-8"),
                ("content-length", "500"),
                ("accept-ranges", "bytes"),
                ("etag", "\"abc\""),
                ("vary", "Origin"),
            ],
        );
        assert!(on);
        let h = &r.headers;
        assert_eq!(h["content-encoding"], "gzip");
        assert_eq!(h["transfer-encoding"], "chunked");
        assert_eq!(h["etag"], "W/\"abc\"");
        assert!(!h.contains_key("content-length") && !h.contains_key("accept-ranges"));
        let vary: Vec<_> = h.get_all("vary").iter().collect();
        assert_eq!(vary, ["Origin", "Accept-Encoding"]);
    }

    #[test]
    fn an_http10_servers_response_goes_on_as_http11_chunked() {
        let mut rq = RequestHeader::build("GET", b"/", None).unwrap();
        rq.append_header("accept-encoding", "gzip").unwrap();
        let mut rs = ResponseHeader::build(200, None).unwrap();
        rs.set_version(Version::HTTP_10);
        rs.append_header("content-type", "text/html").unwrap();
        rs.append_header("content-length", "500").unwrap();
        assert!(start(&spec(), &rq, &mut rs).is_some());
        assert_eq!(rs.version, Version::HTTP_11);
        assert_eq!(rs.headers["transfer-encoding"], "chunked");
    }

    #[test]
    fn what_is_not_compressed() {
        let html = [("content-type", "text/html"), ("content-length", "500")];
        let gzip = [("accept-encoding", "gzip")];
        // Eligible, but the client takes no coding: only Vary.
        let (on, r) = exchange(&[], &html);
        assert!(!on && r.headers["vary"] == "Accept-Encoding");
        assert!(!r.headers.contains_key("content-encoding"));
        for resp in [
            &[("content-type", "image/png"), ("content-length", "500")][..],
            &[("content-type", "text/html"), ("content-length", "99")],
            &[("content-type", "text/html"), ("content-length", "0")],
            &[("content-length", "500")],
            &[("content-type", "text/html"), ("content-encoding", "br")],
            &[
                ("content-type", "text/html"),
                ("content-range", "bytes 0-9/20"),
            ],
            &[
                ("content-type", "text/html"),
                ("cache-control", "public, No-Transform"),
            ],
        ] {
            let (on, r) = exchange(&gzip, resp);
            assert!(!on, "{resp:?}");
            assert!(!r.headers.contains_key("vary"), "{resp:?}");
        }
        let mut rq = RequestHeader::build("HEAD", b"/", None).unwrap();
        rq.append_header("accept-encoding", "gzip").unwrap();
        let mut rs = ResponseHeader::build(200, None).unwrap();
        rs.append_header("content-type", "text/html").unwrap();
        assert!(start(&spec(), &rq, &mut rs).is_none());
        rq.set_method(Method::GET);
        rq.set_version(Version::HTTP_10);
        assert!(start(&spec(), &rq, &mut rs).is_none());
        rq.set_version(Version::HTTP_11);
        let mut r206 = ResponseHeader::build(206, None).unwrap();
        r206.append_header("content-type", "text/html").unwrap();
        assert!(start(&spec(), &rq, &mut r206).is_none());
        assert!(start(&spec(), &rq, &mut rs).is_some());
    }

    #[test]
    fn a_stream_in_pieces_decodes_to_the_whole() {
        use std::io::Read;
        let text = "fairway compresses responses as they come. ".repeat(2000);
        for coding in [Gzip, Br] {
            let mut rq = RequestHeader::build("GET", b"/", None).unwrap();
            rq.append_header("accept-encoding", coding.name()).unwrap();
            let mut rs = ResponseHeader::build(200, None).unwrap();
            rs.append_header("content-type", "text/html").unwrap();
            let spec = Compression {
                algos: vec![coding],
                ..spec()
            };
            let mut enc = start(&spec, &rq, &mut rs).unwrap();
            let mut out = Vec::new();
            for piece in text.as_bytes().chunks(1000) {
                let piece = Bytes::copy_from_slice(piece);
                out.extend(enc.encode(Some(&piece), false).unwrap().unwrap_or_default());
            }
            out.extend(enc.encode(None, true).unwrap().unwrap());
            assert!(out.len() < text.len() / 10, "{coding:?}: {}", out.len());
            let mut back = String::new();
            match coding {
                Gzip => flate2::read::GzDecoder::new(&out[..]).read_to_string(&mut back),
                _ => brotli::Decompressor::new(&out[..], 4096).read_to_string(&mut back),
            }
            .unwrap();
            assert_eq!(back, text, "{coding:?}");
        }
    }
}
