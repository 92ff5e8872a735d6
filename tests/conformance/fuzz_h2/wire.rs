//! HTTP/2 on the wire for the h2 fuzzer, written by hand so that any
//! malformed frame or header block can be sent: an HPACK encoder (literal
//! representations, static-table indexes; no Huffman), the frames, and a
//! client that sends a case's bytes on a new connection and reads the
//! answers per stream. Responses are decoded only as far as `:status`.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const PRIORITY: u8 = 0x2;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
pub const PADDED: u8 = 0x8;
pub const PRIORITY_FLAG: u8 = 0x20;

/// The opaque data of the PING that ends every case: its ACK tells that
/// the server read everything before it.
pub const LAST_PING: &[u8; 8] = b"fuzz-end";

/// Appends one frame.
pub fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = payload.len() as u32;
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// An HPACK integer with an `prefix`-bit prefix (RFC 7541 §5.1), `first`
/// holding the representation's pattern bits.
fn int(out: &mut Vec<u8>, first: u8, prefix: u32, mut v: usize) {
    let max = (1usize << prefix) - 1;
    if v < max {
        out.push(first | v as u8);
        return;
    }
    out.push(first | max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128) as u8 | 0x80);
        v /= 128;
    }
    out.push(v as u8);
}

/// An HPACK string literal, not Huffman-coded.
fn string(out: &mut Vec<u8>, s: &[u8]) {
    int(out, 0, 7, s.len());
    out.extend_from_slice(s);
}

/// The static-table entries a request is likely to use (RFC 7541 App. A).
const STATIC: &[(usize, &str, &str)] = &[
    (1, ":authority", ""),
    (2, ":method", "GET"),
    (3, ":method", "POST"),
    (4, ":path", "/"),
    (5, ":path", "/index.html"),
    (6, ":scheme", "http"),
    (7, ":scheme", "https"),
    (28, "content-length", ""),
    (38, "host", ""),
];

/// How one field is written into the block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Repr {
    /// Literal without indexing, the name literal too.
    Literal,
    /// Literal without indexing, the name from the static table when it
    /// is there.
    NameIndexed,
    /// Literal never indexed (RFC 7541 §6.2.3).
    NeverIndexed,
    /// Literal with incremental indexing (into the dynamic table).
    Indexing,
    /// A static-table index when name and value are there, else literal.
    Indexed,
}

/// Appends one field to a header block.
pub fn field(out: &mut Vec<u8>, name: &[u8], value: &[u8], repr: Repr) {
    let entry = |want_value: bool| {
        STATIC.iter().find(|(_, n, v)| {
            n.as_bytes() == name && (!want_value || (!v.is_empty() && v.as_bytes() == value))
        })
    };
    match repr {
        Repr::Indexed if entry(true).is_some() => {
            int(out, 0x80, 7, entry(true).unwrap().0);
        }
        Repr::NameIndexed | Repr::Indexed if entry(false).is_some() => {
            int(out, 0x00, 4, entry(false).unwrap().0);
            string(out, value);
        }
        Repr::Indexing => {
            out.push(0x40);
            string(out, name);
            string(out, value);
        }
        Repr::NeverIndexed => {
            out.push(0x10);
            string(out, name);
            string(out, value);
        }
        _ => {
            out.push(0x00);
            string(out, name);
            string(out, value);
        }
    }
}

/// What the client saw of one stream.
#[derive(Debug, Clone, Default)]
pub struct Stream {
    /// The final status (1xx interim responses are skipped).
    pub status: Option<u16>,
    /// RST_STREAM's error code.
    pub reset: Option<u32>,
    /// The response ended (END_STREAM).
    pub ended: bool,
    /// Header-block bytes not complete yet (waiting for CONTINUATION).
    block: Vec<u8>,
    block_ends_stream: bool,
}

impl Stream {
    /// Nothing more will come on the stream.
    fn resolved(&self) -> bool {
        self.ended || self.reset.is_some()
    }
}

/// What the client does with one stream it opened.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sent {
    /// The request ended (END_STREAM): an answer is due.
    Ended,
    /// The request was left open: an answer may come or not.
    Open,
    /// The client reset the stream itself.
    Cancelled,
}

/// What one exchange gave.
#[derive(Debug, Clone, Default)]
pub struct Exchange {
    pub streams: BTreeMap<u32, Stream>,
    /// GOAWAY's last stream id and error code.
    pub goaway: Option<(u32, u32)>,
    pub closed: bool,
    pub ping_acked: bool,
    /// The server neither answered nor closed in time.
    pub hung: bool,
    /// The connection was refused.
    pub refused: bool,
}

impl Exchange {
    /// The answer on `stream`: its status, `reset` (RST_STREAM, GOAWAY or
    /// a close before any status) or `none` (still open).
    pub fn answer(&self, stream: u32) -> String {
        let s = self.streams.get(&stream);
        match s.and_then(|s| s.status) {
            Some(code) => code.to_string(),
            None if s.is_some_and(|s| s.reset.is_some())
                || self.goaway.is_some()
                || self.closed =>
            {
                "reset".to_string()
            }
            None => "none".to_string(),
        }
    }
}

/// Sends `bytes` (preface included) on a new connection and reads until
/// every stream in `sent` has its answer, the final PING is acknowledged or
/// the connection ends. `strict`: the frames were not mangled at the byte
/// level, so every ended stream must be answered; else the client closes
/// its side after sending, and the server must answer the PING or close.
pub fn exchange(addr: SocketAddr, bytes: &[u8], sent: &[(u32, Sent)], strict: bool) -> Exchange {
    let mut ex = Exchange::default();
    let Ok(mut conn) = TcpStream::connect(addr) else {
        ex.refused = true;
        return ex;
    };
    let _ = conn.set_nodelay(true);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(6);
    // A request left open gets this long for an answer once the rest is in.
    let mut open_deadline: Option<Instant> = None;
    let _ = conn.write_all(bytes);
    if !strict {
        // Mangled frames may leave the server waiting for the rest of one:
        // the end of the input is what it must see then, and close.
        let _ = conn.shutdown(std::net::Shutdown::Write);
    }
    let mut buf: Vec<u8> = Vec::new();
    let mut table = Table::default();
    loop {
        // Every whole frame in the buffer.
        while buf.len() >= 9 {
            let len = u32::from_be_bytes([0, buf[0], buf[1], buf[2]]) as usize;
            if buf.len() < 9 + len {
                break;
            }
            let (kind, flags) = (buf[3], buf[4]);
            let id = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) & 0x7fff_ffff;
            let payload: Vec<u8> = buf[9..9 + len].to_vec();
            buf.drain(..9 + len);
            match kind {
                SETTINGS if flags & ACK == 0 => {
                    let mut ack = Vec::new();
                    frame(&mut ack, SETTINGS, ACK, 0, &[]);
                    let _ = conn.write_all(&ack);
                }
                PING if flags & ACK != 0 && payload == LAST_PING => ex.ping_acked = true,
                PING if flags & ACK == 0 => {
                    let mut ack = Vec::new();
                    frame(&mut ack, PING, ACK, 0, &payload);
                    let _ = conn.write_all(&ack);
                }
                GOAWAY if payload.len() >= 8 => {
                    let last = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]])
                        & 0x7fff_ffff;
                    let code = u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]);
                    ex.goaway = Some((last, code));
                }
                RST_STREAM if payload.len() == 4 => {
                    let code = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
                    ex.streams.entry(id).or_default().reset = Some(code);
                }
                HEADERS | CONTINUATION => {
                    let s = ex.streams.entry(id).or_default();
                    let mut body: &[u8] = &payload;
                    if kind == HEADERS {
                        s.block.clear();
                        s.block_ends_stream = flags & END_STREAM != 0;
                        if flags & PADDED != 0 && !body.is_empty() {
                            let pad = body[0] as usize;
                            body = &body[1..body.len().saturating_sub(pad).max(1)];
                        }
                        if flags & PRIORITY_FLAG != 0 {
                            body = body.get(5..).unwrap_or(&[]);
                        }
                    }
                    s.block.extend_from_slice(body);
                    if flags & END_HEADERS != 0 {
                        let block = std::mem::take(&mut s.block);
                        if let Some(code) = table.status(&block) {
                            if !(100..200).contains(&code) {
                                s.status = Some(code);
                            }
                        }
                        if s.block_ends_stream {
                            s.ended = true;
                        }
                    }
                }
                DATA if flags & END_STREAM != 0 => {
                    ex.streams.entry(id).or_default().ended = true;
                }
                _ => {}
            }
        }
        let resolved = |id: u32, ex: &Exchange| {
            ex.streams.get(&id).is_some_and(Stream::resolved)
                || ex.goaway.is_some_and(|(last, _)| id > last)
        };
        let due_answered = sent
            .iter()
            .filter(|(_, s)| *s == Sent::Ended)
            .all(|(id, _)| resolved(*id, &ex));
        let open_answered = sent
            .iter()
            .filter(|(_, s)| *s == Sent::Open)
            .all(|(id, _)| {
                resolved(*id, &ex) || ex.streams.get(id).is_some_and(|s| s.status.is_some())
            });
        if ex.closed || (due_answered && (ex.ping_acked || ex.goaway.is_some())) {
            if open_answered || ex.closed {
                break;
            }
            let at =
                *open_deadline.get_or_insert_with(|| Instant::now() + Duration::from_millis(500));
            if Instant::now() >= at {
                break;
            }
        }
        let now = Instant::now();
        let until = open_deadline.map_or(deadline, |o| o.min(deadline));
        if now >= until {
            if now >= deadline {
                let answered = ex.ping_acked || ex.goaway.is_some();
                ex.hung = !answered || (strict && !due_answered);
            }
            break;
        }
        let _ = conn.set_read_timeout(Some(until - now));
        let mut chunk = [0u8; 16384];
        match conn.read(&mut chunk) {
            Ok(0) => ex.closed = true,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => ex.closed = true,
        }
    }
    ex
}

/// An HPACK decoder's dynamic table, kept only as far as `:status` needs:
/// each entry's name is whether it is `:status`, its value the raw string.
#[derive(Default)]
struct Table {
    entries: Vec<(bool, Vec<u8>, bool)>,
}

/// Reads an HPACK integer with a `prefix`-bit prefix at `*at`.
fn read_int(b: &[u8], at: &mut usize, prefix: u32) -> Option<usize> {
    let max = (1usize << prefix) - 1;
    let mut v = (*b.get(*at)? as usize) & max;
    *at += 1;
    if v < max {
        return Some(v);
    }
    let mut shift = 0;
    loop {
        let byte = *b.get(*at)?;
        *at += 1;
        v = v.checked_add(((byte & 0x7f) as usize).checked_shl(shift)?)?;
        shift += 7;
        if byte & 0x80 == 0 || shift > 28 {
            return Some(v);
        }
    }
}

/// Reads an HPACK string: its bytes and whether they are Huffman-coded.
fn read_str(b: &[u8], at: &mut usize) -> Option<(Vec<u8>, bool)> {
    let huffman = *b.get(*at)? & 0x80 != 0;
    let len = read_int(b, at, 7)?;
    let s = b.get(*at..*at + len)?.to_vec();
    *at += len;
    Some((s, huffman))
}

/// A status code from its (maybe Huffman-coded) string.
fn status_value(raw: &[u8], huffman: bool) -> Option<u16> {
    let text = if huffman {
        huffman_digits(raw)?
    } else {
        raw.to_vec()
    };
    std::str::from_utf8(&text).ok()?.parse().ok()
}

/// Decodes a Huffman string made of digits only (RFC 7541 App. B: `0`-`2`
/// are the 5-bit codes 0-2, `3`-`9` the 6-bit codes 25-31; padding is up
/// to 7 one bits).
fn huffman_digits(raw: &[u8]) -> Option<Vec<u8>> {
    let bits = raw.len() * 8;
    let bit = |i: usize| (raw[i / 8] >> (7 - i % 8)) & 1;
    let peek = |at: usize, n: usize| (at..at + n).fold(0u8, |v, i| (v << 1) | bit(i));
    let mut out = Vec::new();
    let mut at = 0;
    while at < bits {
        let left = bits - at;
        if left >= 5 && peek(at, 5) <= 2 {
            out.push(b'0' + peek(at, 5));
            at += 5;
        } else if left >= 6 && (25..=31).contains(&peek(at, 6)) {
            out.push(b'3' + peek(at, 6) - 25);
            at += 6;
        } else if left < 8 && peek(at, left) == (1u8 << left) - 1 {
            break;
        } else {
            return None;
        }
    }
    Some(out)
}

impl Table {
    /// The `:status` of a response header block.
    fn status(&mut self, b: &[u8]) -> Option<u16> {
        let mut at = 0;
        let mut found = None;
        while at < b.len() {
            let first = b[at];
            if first & 0x80 != 0 {
                let idx = read_int(b, &mut at, 7)?;
                let value = match idx {
                    8..=14 => Some([200, 204, 206, 304, 400, 404, 500][idx - 8]),
                    62.. => {
                        let (is_status, v, h) = self.entries.get(idx - 62)?;
                        if *is_status {
                            status_value(v, *h)
                        } else {
                            None
                        }
                    }
                    _ => None,
                };
                found = found.or(value);
            } else if first & 0xe0 == 0x20 {
                let size = read_int(b, &mut at, 5)?;
                if size == 0 {
                    self.entries.clear();
                }
            } else {
                let indexing = first & 0xc0 == 0x40;
                let idx = read_int(b, &mut at, if indexing { 6 } else { 4 })?;
                let is_status = match idx {
                    0 => read_str(b, &mut at)?.0 == b":status",
                    8..=14 => true,
                    62.. => self.entries.get(idx - 62).is_some_and(|e| e.0),
                    _ => false,
                };
                let (v, h) = read_str(b, &mut at)?;
                if is_status {
                    found = found.or(status_value(&v, h));
                }
                if indexing {
                    self.entries.insert(0, (is_status, v, h));
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huffman_status_digits() {
        // "403": 011010 00000 011001, then seven one bits of padding.
        assert_eq!(status_value(&[0x68, 0x0c, 0xff], true), Some(403));
        // Zero bits where the padding must be ones.
        assert_eq!(status_value(&[0x68, 0x0c, 0x00], true), None);
        assert_eq!(status_value(b"502", false), Some(502));
    }
}
