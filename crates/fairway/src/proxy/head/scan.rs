//! Where each HTTP/1 message of a client's byte stream ends, found byte by
//! byte as the bytes arrive: the request head (its request line checked on
//! the way, RFC 9112 §3) and a chunked body (§7.1). A Content-Length body
//! needs no scanner: its length is counted. No allocation: a few counters
//! per connection.

/// What a scanner found in the bytes it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// Every byte belongs to the message, which goes on.
    More,
    /// The message ends after this many of the bytes.
    End(usize),
    /// The request line is malformed.
    Bad,
}

/// The request line of a head, checked byte by byte as it arrives (RFC
/// 9112 §3): method SP target SP version, visible ASCII only (and in the
/// target only what RFC 3986 allows in a URI), CR only before LF, after at
/// most four empty lines (§2.2). Pingora's parser would instead
/// percent-encode a space, NUL or raw UTF-8 inside the target and pass the
/// request on; HAProxy and nginx answer 400, and so does fairway.
///
/// A higher minor version of HTTP/1 (`HTTP/1.2` to `HTTP/1.9`) is served
/// as the highest fairway supports, HTTP/1.1 (RFC 9110 §6.2, as HAProxy
/// and nginx do): its digit is rewritten to `1` in the bytes as they pass,
/// so that both parsers (the fast path's and Pingora's, which take only
/// 1.0 and 1.1) read `HTTP/1.1`. A longer version (`HTTP/1.23`) stays
/// refused by the parser.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RequestLine {
    /// Parts ended by a space so far.
    parts: u8,
    /// Bytes of the current part.
    part_len: u16,
    /// A CR was read; only LF may follow.
    cr: bool,
    /// Empty lines before the request line.
    blank: u8,
    /// The version read so far is not a prefix of `HTTP/1.`.
    not_http1: bool,
}

/// What a version starts with for its minor digit to be rewritten.
const HTTP1: &[u8] = b"HTTP/1.";

impl RequestLine {
    /// Reads more bytes of the head: [`Scan::End`] after the line's LF when
    /// it is complete and well-formed. A minor version digit above 1 is
    /// rewritten to `1` in `bytes`.
    pub(crate) fn feed(&mut self, bytes: &mut [u8]) -> Scan {
        for (i, b) in bytes.iter_mut().enumerate() {
            if self.parts == 2 && !self.cr {
                self.version_byte(b);
            }
            let b = *b;
            if self.cr && b != b'\n' {
                return Scan::Bad;
            }
            match b {
                b'\r' => self.cr = true,
                b'\n' => {
                    self.cr = false;
                    if self.parts == 0 && self.part_len == 0 {
                        self.blank += 1;
                        if self.blank > 4 {
                            return Scan::Bad;
                        }
                        continue;
                    }
                    if self.part_len > 0 && self.parts == 2 {
                        return Scan::End(i + 1);
                    }
                    return Scan::Bad;
                }
                b' ' => {
                    if self.part_len == 0 || self.parts == 2 {
                        return Scan::Bad;
                    }
                    self.parts += 1;
                    self.part_len = 0;
                }
                // In the target, the visible characters RFC 3986 leaves out
                // of URIs (Pingora's parser would wait, not answer).
                b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
                    if self.parts == 1 =>
                {
                    return Scan::Bad;
                }
                0x21..=0x7e => self.part_len = self.part_len.saturating_add(1),
                _ => return Scan::Bad,
            }
        }
        Scan::More
    }

    /// Looks at a byte of the version (`part_len` bytes of it before):
    /// after `HTTP/1.`, a digit 2-9 becomes `1`.
    fn version_byte(&mut self, b: &mut u8) {
        let at = usize::from(self.part_len);
        match HTTP1.get(at) {
            Some(want) => self.not_http1 |= *b != *want,
            None if at == HTTP1.len() && !self.not_http1 && (b'2'..=b'9').contains(b) => {
                *b = b'1';
            }
            None => {}
        }
    }
}

/// A request head: its request line checked, then its fields up to the
/// empty line that ends it (CRLF or a bare LF, as the parsers take it).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct HeadScan {
    line: RequestLine,
    /// Bytes of the request line (and the empty lines before it) so far.
    line_len: usize,
    /// The request line is done: fields follow.
    fields: bool,
    /// At the start of a field line (a LF was the last byte but CRs).
    line_start: bool,
}

impl HeadScan {
    /// Reads more bytes of the head (a minor version above 1 rewritten, as
    /// [`RequestLine`] says).
    pub(crate) fn feed(&mut self, bytes: &mut [u8]) -> Scan {
        let mut from = 0;
        if !self.fields {
            match self.line.feed(bytes) {
                Scan::End(n) => {
                    self.line_len += n;
                    self.fields = true;
                    self.line_start = true;
                    from = n;
                }
                other => {
                    self.line_len += bytes.len();
                    return other;
                }
            }
        }
        let bytes = &*bytes;
        // From line end to line end (memchr: a head's fields are most of
        // its bytes); only a line's first bytes are looked at.
        let mut i = from;
        while i < bytes.len() {
            if self.line_start {
                match bytes[i] {
                    b'\n' => return Scan::End(i + 1),
                    b'\r' => {
                        i += 1;
                        continue;
                    }
                    _ => self.line_start = false,
                }
            }
            match memchr::memchr(b'\n', &bytes[i..]) {
                Some(at) => {
                    i += at + 1;
                    self.line_start = true;
                }
                None => break,
            }
        }
        Scan::More
    }

    /// The bytes of the request line read so far (all of it once it
    /// ended), the empty lines before it included.
    pub(crate) fn line_len(&self) -> usize {
        self.line_len
    }
}

/// A chunked request body (RFC 9112 §7.1): chunk-size lines (extensions
/// skipped), their data and its line end, the last chunk and the trailer
/// section up to its empty line.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ChunkScan {
    state: Chunk,
    /// The chunk size read so far.
    size: u64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// The chunk size's hex digits.
    #[default]
    Size,
    /// After the digits (extensions, CR), up to the LF.
    SizeRest,
    /// This many data bytes left.
    Data(u64),
    /// After the data, up to the LF.
    DataEnd,
    /// In the trailer section; `true` at the start of a line.
    Trailer(bool),
}

impl ChunkScan {
    /// Reads more bytes of the body.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Scan {
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            match self.state {
                Chunk::Data(left) => {
                    let n = left.min((bytes.len() - i) as u64);
                    i += n as usize;
                    self.state = match left - n {
                        0 => Chunk::DataEnd,
                        left => Chunk::Data(left),
                    };
                    continue;
                }
                Chunk::Size => match (b as char).to_digit(16) {
                    Some(d) => self.size = self.size.saturating_mul(16).saturating_add(d.into()),
                    None if b == b'\n' => self.size_done(),
                    None => self.state = Chunk::SizeRest,
                },
                Chunk::SizeRest => {
                    if b == b'\n' {
                        self.size_done();
                    }
                }
                Chunk::DataEnd => {
                    if b == b'\n' {
                        self.state = Chunk::Size;
                    }
                }
                Chunk::Trailer(line_start) => match b {
                    b'\n' if line_start => return Scan::End(i + 1),
                    b'\n' => self.state = Chunk::Trailer(true),
                    b'\r' => {}
                    _ => self.state = Chunk::Trailer(false),
                },
            }
            i += 1;
        }
        Scan::More
    }

    fn size_done(&mut self) {
        self.state = match std::mem::take(&mut self.size) {
            0 => Chunk::Trailer(true),
            n => Chunk::Data(n),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(bytes: &[u8]) -> Scan {
        RequestLine::default().feed(&mut bytes.to_vec())
    }

    /// A head scanner's verdict on `bytes` (a copy: it may rewrite them).
    fn head(bytes: &[u8]) -> Scan {
        HeadScan::default().feed(&mut bytes.to_vec())
    }

    #[test]
    fn request_lines() {
        for ok in [
            &b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"\r\nGET /x?y HTTP/1.0\r\n",
            b"OPTIONS * HTTP/1.1\n",
        ] {
            assert!(
                matches!(check(ok), Scan::End(_)),
                "{}",
                String::from_utf8_lossy(ok)
            );
        }
        assert_eq!(check(b"GET /partial"), Scan::More);
        // Byte by byte, as a slow client sends it.
        let mut line = RequestLine::default();
        let text = b"GET /a HTTP/1.1\r\n";
        for (i, b) in text.iter().enumerate() {
            let r = line.feed(&mut [*b]);
            let want = if i == text.len() - 1 {
                Scan::End(1)
            } else {
                Scan::More
            };
            assert_eq!(r, want);
        }
        for bad in [
            &b"GET  /admin HTTP/1.1\r\n"[..],
            b"GET /ad min HTTP/1.1\r\n",
            b"GET /\0 HTTP/1.1\r\n",
            b"GET /caf\xc3\xa9 HTTP/1.1\r\n",
            b"GET\t/admin HTTP/1.1\r\n",
            b" GET / HTTP/1.1\r\n",
            b"GET /\r\n",
            b"GET / HTTP/1.1 x\r\n",
            b"GET / HTTP/1.1\rHost: a\r\n",
            b"\r\n\r\n\r\n\r\n\r\n",
        ] {
            assert_eq!(check(bad), Scan::Bad, "{}", String::from_utf8_lossy(bad));
        }
        for c in "\"<>\\^`{|}".bytes() {
            let bad = [&b"GET /a"[..], &[c], b"b HTTP/1.1\r\n"].concat();
            assert_eq!(check(&bad), Scan::Bad, "{}", String::from_utf8_lossy(&bad));
        }
        // The method and version are tokens checked by the parser; these
        // characters are only refused in the target.
        assert!(matches!(check(b"GET /a?b=%7B~ HTTP/1.1\r\n"), Scan::End(_)));
    }

    /// `line` as the parser gets it, fed in pieces cut at `cut`.
    fn passed_on(line: &[u8], cut: usize) -> Vec<u8> {
        let mut bytes = line.to_vec();
        let mut scan = HeadScan::default();
        let (first, second) = bytes.split_at_mut(cut);
        if scan.feed(first) == Scan::More {
            scan.feed(second);
        }
        bytes
    }

    #[test]
    fn higher_minor_versions_of_http1_pass_as_1_1() {
        for (sent, seen) in [
            (
                &b"GET / HTTP/1.2\r\nHost: a\r\n\r\n"[..],
                &b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            ),
            (b"GET / HTTP/1.9\n\n", b"GET / HTTP/1.1\n\n"),
            // A longer version: still refused by the parser.
            (b"GET / HTTP/1.23\r\n\r\n", b"GET / HTTP/1.13\r\n\r\n"),
            // Left as they are.
            (b"GET / HTTP/1.0\r\n\r\n", b"GET / HTTP/1.0\r\n\r\n"),
            (b"GET / HTTP/2.0\r\n\r\n", b"GET / HTTP/2.0\r\n\r\n"),
            (b"GET / XTTP/1.2\r\n\r\n", b"GET / XTTP/1.2\r\n\r\n"),
            (
                b"GET /HTTP/1.2 HTTP/1.1\r\nA: HTTP/1.2\r\n\r\n",
                b"GET /HTTP/1.2 HTTP/1.1\r\nA: HTTP/1.2\r\n\r\n",
            ),
        ] {
            for cut in 0..=sent.len() {
                assert_eq!(
                    passed_on(sent, cut),
                    seen,
                    "{} cut at {cut}",
                    sent.escape_ascii()
                );
            }
        }
    }

    #[test]
    fn the_request_line_is_measured() {
        let mut scan = HeadScan::default();
        let mut line = b"\r\nGET /aaaa".to_vec();
        assert_eq!(scan.feed(&mut line), Scan::More);
        assert_eq!(scan.line_len(), 11);
        let mut rest = b"a HTTP/1.1\r\nHost: a\r\n".to_vec();
        assert_eq!(scan.feed(&mut rest), Scan::More);
        assert_eq!(scan.line_len(), 11 + 12);
    }

    /// Where the head ends, fed in pieces cut at `cut`.
    fn head_end(bytes: &[u8], cut: usize) -> Scan {
        let mut scan = HeadScan::default();
        let mut bytes = bytes.to_vec();
        let (first, second) = bytes.split_at_mut(cut);
        match scan.feed(first) {
            Scan::More => {}
            other => return other,
        }
        match scan.feed(second) {
            Scan::End(n) => Scan::End(cut + n),
            other => other,
        }
    }

    #[test]
    fn heads_end_at_their_empty_line_wherever_the_reads_cut_them() {
        let two = b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n";
        for cut in 0..=two.len() {
            assert_eq!(head_end(two, cut), Scan::End(28), "cut at {cut}");
        }
        assert_eq!(head(b"GET / HTTP/1.0\n\nrest"), Scan::End(16));
        assert_eq!(head(b"GET / HTTP/1.1\r\nA: b\r\n"), Scan::More);
        assert_eq!(head(b"GET / HTTP/1.1\nA: b\nC: d\n\nGET"), Scan::End(26));
        assert_eq!(head(b"GET /\x00 HTTP/1.1\r\n"), Scan::Bad);
    }

    #[test]
    fn chunked_bodies_end_after_their_trailers() {
        let body = b"5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\nGET /";
        let end = body.len() - 5;
        for cut in 0..=end {
            let mut scan = ChunkScan::default();
            let got = match scan.feed(&body[..cut]) {
                Scan::More => match scan.feed(&body[cut..]) {
                    Scan::End(n) => Scan::End(cut + n),
                    other => other,
                },
                other => other,
            };
            assert_eq!(got, Scan::End(end), "cut at {cut}");
        }
        assert_eq!(ChunkScan::default().feed(b"0\r\n\r\nnext"), Scan::End(5));
        assert_eq!(ChunkScan::default().feed(b"3\r\nabc\r\n"), Scan::More);
    }
}
