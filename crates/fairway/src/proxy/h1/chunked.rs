//! The chunked transfer coding (RFC 9112 §7.1), read the same way on both
//! sides of the engine: a client's request body and a server's response
//! body.
//!
//! Strict where the RFC lets a recipient choose: every line ends in CRLF,
//! a chunk size has 1 to 16 hex digits, a chunk's data is followed by CRLF.
//! Anything else is an error and the connection is closed (the client's
//! stream guard frames bodies more leniently, so a body this reader takes
//! never ends where the guard's does not).

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};
use pingora::{Error, ErrorType, Result};

/// The longest chunk-size line (extensions included).
const MAX_LINE: usize = 4096;
/// The most trailer bytes.
pub(super) const MAX_TRAILERS: usize = 64 * 1024;

/// Where the reader is in a chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    /// A chunk-size line.
    #[default]
    Size,
    /// This many bytes of the current chunk's data.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// The trailer section after the last chunk: this many bytes so far.
    Trailers(usize),
    /// The body is complete.
    Done,
}

/// What the next bytes of a chunked body hold.
#[derive(Debug)]
pub(super) enum Piece {
    /// Body data (one chunk's, or part of it).
    Data(Bytes),
    /// The body's end, with its trailer fields (empty when none).
    End(HeaderMap),
}

/// A chunked-body reader: feed it the bytes read, take pieces out.
#[derive(Debug, Default)]
pub(super) struct Decoder {
    state: State,
    /// The trailer section's lines so far.
    trailers: Option<BytesMut>,
}

impl Decoder {
    /// The next piece from the start of `buf` (what it uses is taken from
    /// `buf`): `None` when more bytes are needed.
    pub(super) fn next(&mut self, buf: &mut BytesMut) -> Result<Option<Piece>> {
        loop {
            match self.state {
                State::Done => return Ok(None),
                State::Data(left) => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let n = (buf.len() as u64).min(left);
                    self.state = if n == left {
                        State::DataEnd
                    } else {
                        State::Data(left - n)
                    };
                    return Ok(Some(Piece::Data(buf.split_to(n as usize).freeze())));
                }
                _ => match step(&mut self.state, buf)? {
                    Step::More => return Ok(None),
                    Step::Framing(n) => buf.advance(n),
                    Step::Trailer(n) => {
                        let lines = self.trailers.get_or_insert_with(BytesMut::new);
                        lines.extend_from_slice(&buf[..n]);
                        buf.advance(n);
                    }
                    Step::End(n) => {
                        buf.advance(n);
                        let fields = self
                            .trailers
                            .take()
                            .map_or(Ok(HeaderMap::new()), |t| parse_trailers(&t))?;
                        return Ok(Some(Piece::End(fields)));
                    }
                },
            }
        }
    }

    /// Checks the framing of everything `buf` holds from here on, without
    /// reading it: an error when it goes wrong anywhere in `buf`. So the
    /// chunks before a malformed one, when they arrived together, are not
    /// relayed.
    pub(super) fn check_ahead(&self, buf: &[u8]) -> Result<()> {
        let mut state = self.state;
        let mut at = 0;
        while at < buf.len() {
            match state {
                State::Done => return Ok(()),
                State::Data(left) => {
                    let n = ((buf.len() - at) as u64).min(left);
                    at += n as usize;
                    state = if n == left {
                        State::DataEnd
                    } else {
                        State::Data(left - n)
                    };
                }
                _ => {
                    let mut rest = BytesMut::from(&buf[at..]);
                    match step(&mut state, &mut rest)? {
                        Step::More => return Ok(()),
                        Step::Framing(n) | Step::Trailer(n) | Step::End(n) => at += n,
                    }
                }
            }
        }
        Ok(())
    }
}

/// What a framing step found: bytes of framing, a trailer line, the end
/// (the empty line after the trailers), or too few bytes to tell.
enum Step {
    Framing(usize),
    Trailer(usize),
    End(usize),
    More,
}

/// One framing step in state `state` (not `Data`) over `buf`'s start.
fn step(state: &mut State, buf: &mut BytesMut) -> Result<Step> {
    match *state {
        State::DataEnd => {
            if buf.len() < 2 {
                return Ok(Step::More);
            }
            if &buf[..2] != b"\r\n" {
                return Err(bad("no CRLF after chunk data"));
            }
            *state = State::Size;
            Ok(Step::Framing(2))
        }
        State::Size => {
            let Some(end) = line_end(buf)? else {
                if buf.len() > MAX_LINE {
                    return Err(bad("chunk-size line too long"));
                }
                return Ok(Step::More);
            };
            let size = chunk_size(&buf[..end])?;
            *state = match size {
                0 => State::Trailers(0),
                n => State::Data(n),
            };
            Ok(Step::Framing(end + 2))
        }
        State::Trailers(seen) => {
            let Some(end) = line_end(buf)? else {
                if seen + buf.len() > MAX_TRAILERS {
                    return Err(bad("trailer section too large"));
                }
                return Ok(Step::More);
            };
            if end == 0 {
                *state = State::Done;
                return Ok(Step::End(2));
            }
            if seen + end + 2 > MAX_TRAILERS {
                return Err(bad("trailer section too large"));
            }
            *state = State::Trailers(seen + end + 2);
            Ok(Step::Trailer(end + 2))
        }
        State::Data(_) | State::Done => Ok(Step::Framing(0)),
    }
}

/// Where the line at `buf`'s start ends (its CR); an error for a bare LF
/// or CR.
fn line_end(buf: &[u8]) -> Result<Option<usize>> {
    let Some(lf) = memchr::memchr(b'\n', buf) else {
        return Ok(None);
    };
    if lf == 0 || buf[lf - 1] != b'\r' || memchr::memchr(b'\r', &buf[..lf - 1]).is_some() {
        return Err(bad("a chunked line not ended by CRLF"));
    }
    Ok(Some(lf - 1))
}

/// A chunk-size line: 1 to 16 hex digits, then optional whitespace and
/// `;extensions` (ignored, RFC 9112 §7.1.1).
fn chunk_size(line: &[u8]) -> Result<u64> {
    let digits = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    let rest = &line[digits..];
    let rest = &rest[rest
        .iter()
        .take_while(|b| **b == b' ' || **b == b'\t')
        .count()..];
    if digits == 0 || digits > 16 || !(rest.is_empty() || rest[0] == b';') {
        return Err(bad("invalid chunk size"));
    }
    Ok(line[..digits].iter().fold(0u64, |n, d| {
        // At most 16 hex digits: no overflow.
        (n << 4) | u64::from((*d as char).to_digit(16).unwrap_or(0))
    }))
}

/// The trailer section's lines (each ending in CRLF) as fields; a line
/// that is no field is an error.
fn parse_trailers(lines: &[u8]) -> Result<HeaderMap> {
    let mut fields = HeaderMap::new();
    for line in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let colon = memchr::memchr(b':', line).ok_or_else(|| bad("a trailer line without ':'"))?;
        let name = HeaderName::from_bytes(&line[..colon]).map_err(|_| bad("trailer name"))?;
        let value = HeaderValue::from_bytes(line[colon + 1..].trim_ascii())
            .map_err(|_| bad("trailer value"))?;
        fields.append(name, value);
    }
    Ok(fields)
}

/// Fields never relayed in a trailer section (RFC 9110 §6.5.1): those that
/// frame the message, route it (`Host`: the server must get the host the
/// rules saw), authenticate it, or say how to read its content. A
/// recipient that merged them into the head would read another request.
const NOT_IN_TRAILERS: [&str; 12] = [
    "content-length",
    "transfer-encoding",
    "host",
    "connection",
    "te",
    "trailer",
    "authorization",
    "proxy-authorization",
    "cookie",
    "content-encoding",
    "content-type",
    "content-range",
];

/// Writes `fields` as a chunked body's end: the last chunk, the trailer
/// section (without the fields of [`NOT_IN_TRAILERS`]), the empty line.
pub(super) fn write_end(out: &mut BytesMut, fields: Option<&HeaderMap>) {
    out.extend_from_slice(b"0\r\n");
    let relayed = fields
        .into_iter()
        .flatten()
        .filter(|(name, _)| !NOT_IN_TRAILERS.contains(&name.as_str()));
    for (name, value) in relayed {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

fn bad(why: &'static str) -> Box<Error> {
    Error::explain(ErrorType::InvalidHTTPHeader, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: &[u8]) -> Result<(Vec<u8>, HeaderMap, usize)> {
        let mut d = Decoder::default();
        let mut buf = BytesMut::from(bytes);
        let mut data = Vec::new();
        while let Some(piece) = d.next(&mut buf)? {
            match piece {
                Piece::Data(b) => data.extend_from_slice(&b),
                Piece::End(t) => return Ok((data, t, buf.len())),
            }
        }
        Err(bad("incomplete"))
    }

    #[test]
    fn bodies_and_trailers() {
        let (data, t, rest) =
            read_all(b"3\r\nabc\r\n2;x=1\r\nde\r\n0\r\nX-A: 1\r\n\r\nNEXT").unwrap();
        assert_eq!(data, b"abcde");
        assert_eq!(t.get("x-a").unwrap(), "1");
        assert_eq!(rest, 4);
        let (data, t, _) = read_all(b"0\r\n\r\n").unwrap();
        assert!(data.is_empty() && t.is_empty());
        for bad in [
            &b"3\nabc\r\n0\r\n\r\n"[..],
            b"3\r\nabcX\r\n0\r\n\r\n",
            b"g\r\n",
            b"11111111111111111\r\n",
            b"0\r\nno colon\r\n\r\n",
            b"3\r\na\rc\r\n",
        ] {
            assert!(read_all(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn check_ahead_sees_a_later_bad_chunk() {
        let d = Decoder::default();
        assert!(d.check_ahead(b"3\r\nabc\r\n3\r\nabc").is_ok());
        assert!(d.check_ahead(b"3\r\nabc\r\nzz\r\n").is_err());
        let mut out = BytesMut::new();
        let mut t = HeaderMap::new();
        t.insert("x-sum", HeaderValue::from_static("7"));
        t.insert("host", HeaderValue::from_static("admin.example"));
        t.insert("content-length", HeaderValue::from_static("0"));
        write_end(&mut out, Some(&t));
        assert_eq!(
            &out[..],
            b"0\r\nx-sum: 7\r\n\r\n",
            "no Host or framing field relayed"
        );
    }
}
