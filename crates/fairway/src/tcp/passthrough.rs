//! TLS passthrough: the server name (SNI) of a client's ClientHello, read
//! without decrypting anything, for `req_ssl_sni`.
//!
//! [`parse`] looks at the first bytes a client sent: TLS handshake records
//! (RFC 8446 §5.1) carrying a ClientHello (§4.1.2) whose `server_name`
//! extension (RFC 6066 §3) names the host. A ClientHello split over several
//! records is reassembled, up to [`MAX_HELLO`] bytes. The parser is
//! hand-written and bounded: every length is checked against what is left,
//! nothing is trusted, and it never panics whatever the input (see the
//! truncation and garbage tests below).

/// The most bytes buffered while waiting for a complete ClientHello; a
/// longer one counts as not TLS (no server name).
pub const MAX_HELLO: usize = 16 * 1024;

/// TLS record header: type, version, length.
const RECORD_HEADER: usize = 5;
/// Content type of handshake records.
const HANDSHAKE: u8 = 22;
/// Handshake type of a ClientHello.
const CLIENT_HELLO: u8 = 1;
/// Extension type `server_name`.
const SERVER_NAME: u16 = 0;
/// The largest TLS plaintext record (2^14).
const MAX_RECORD: usize = 16 * 1024;

/// What the first bytes of a connection say about its server name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hello {
    /// A valid beginning of a ClientHello: read more.
    Incomplete,
    /// A complete ClientHello naming this server (lower case, no trailing dot).
    Sni(String),
    /// A complete ClientHello without a (valid) server name.
    NoSni,
    /// Not a TLS ClientHello (or longer than [`MAX_HELLO`]).
    NotTls,
}

/// Parses the ClientHello at the start of `buf`. Decides as early as the
/// bytes allow: garbage is [`Hello::NotTls`] after its first wrong header
/// byte. Never panics.
pub fn parse(buf: &[u8]) -> Hello {
    match handshake(buf) {
        Err(h) => h,
        Ok(Message::Borrowed(body)) => client_hello(body),
        Ok(Message::Owned(body)) => client_hello(&body),
    }
}

/// The handshake message body, in one record or reassembled.
enum Message<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
}

/// Collects the first handshake message from the records at the start of
/// `buf`; `Err` with the verdict when it is incomplete or not TLS.
fn handshake(buf: &[u8]) -> Result<Message<'_>, Hello> {
    // Header checks that can be made on a prefix.
    if let Some(&t) = buf.first() {
        if t != HANDSHAKE {
            return Err(Hello::NotTls);
        }
    }
    if let Some(&major) = buf.get(1) {
        if major != 3 {
            return Err(Hello::NotTls);
        }
    }
    if let Some(&hs) = buf.get(RECORD_HEADER) {
        if hs != CLIENT_HELLO {
            return Err(Hello::NotTls);
        }
    }
    let mut fragments: Vec<&[u8]> = Vec::new();
    let mut have = 0usize;
    let mut rest = buf;
    loop {
        let Some(header) = rest.get(..RECORD_HEADER) else {
            return Err(incomplete(buf));
        };
        let &[kind, major, _, len_hi, len_lo] = header else {
            return Err(Hello::NotTls);
        };
        let len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
        if kind != HANDSHAKE || major != 3 || len == 0 || len > MAX_RECORD {
            return Err(Hello::NotTls);
        }
        let Some(fragment) = rest.get(RECORD_HEADER..RECORD_HEADER + len) else {
            return Err(incomplete(buf));
        };
        fragments.push(fragment);
        have += len;
        rest = rest.get(RECORD_HEADER + len..).unwrap_or_default();
        // The handshake header (type + 24-bit length) may itself be split.
        let mut head = fragments.iter().flat_map(|f| f.iter().copied());
        let (Some(hs_type), Some(l0), Some(l1), Some(l2)) =
            (head.next(), head.next(), head.next(), head.next())
        else {
            continue;
        };
        if hs_type != CLIENT_HELLO {
            return Err(Hello::NotTls);
        }
        let body_len = (usize::from(l0) << 16) | (usize::from(l1) << 8) | usize::from(l2);
        if body_len + 4 > MAX_HELLO {
            return Err(Hello::NotTls);
        }
        if have < body_len + 4 {
            continue;
        }
        return match fragments.as_slice() {
            [one] => one
                .get(4..4 + body_len)
                .map(Message::Borrowed)
                .ok_or(Hello::NotTls),
            many => {
                let mut body: Vec<u8> = many.concat();
                body.truncate(4 + body_len);
                body.drain(..4);
                Ok(Message::Owned(body))
            }
        };
    }
}

/// `Incomplete`, unless waiting longer could never fit in [`MAX_HELLO`].
fn incomplete(buf: &[u8]) -> Hello {
    if buf.len() >= MAX_HELLO + 4 * RECORD_HEADER {
        Hello::NotTls
    } else {
        Hello::Incomplete
    }
}

/// A bounds-checked reader over a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        match self.take(1)? {
            &[b] => Some(b),
            _ => None,
        }
    }

    fn u16(&mut self) -> Option<u16> {
        match self.take(2)? {
            &[hi, lo] => Some(u16::from_be_bytes([hi, lo])),
            _ => None,
        }
    }

    /// A vector with a `len_bytes`-byte length prefix.
    fn vec(&mut self, len_bytes: usize) -> Option<&'a [u8]> {
        let len = match len_bytes {
            1 => usize::from(self.u8()?),
            _ => usize::from(self.u16()?),
        };
        self.take(len)
    }
}

/// The server name of a complete ClientHello body.
fn client_hello(body: &[u8]) -> Hello {
    let mut r = Reader(body);
    let fields = (|| {
        let _version = r.u16()?;
        let _random = r.take(32)?;
        let session = r.vec(1)?;
        let suites = r.vec(2)?;
        let compression = r.vec(1)?;
        Some(
            session.len() <= 32
                && suites.len() >= 2
                && suites.len() % 2 == 0
                && !compression.is_empty(),
        )
    })();
    match fields {
        Some(true) => {}
        _ => return Hello::NotTls,
    }
    if r.0.is_empty() {
        // No extensions at all (TLS 1.2 allows it): no server name.
        return Hello::NoSni;
    }
    let Some(extensions) = r.vec(2) else {
        return Hello::NotTls;
    };
    let mut exts = Reader(extensions);
    while !exts.0.is_empty() {
        let (Some(kind), Some(data)) = (exts.u16(), exts.vec(2)) else {
            return Hello::NotTls;
        };
        if kind == SERVER_NAME {
            return server_name(data).map_or(Hello::NoSni, Hello::Sni);
        }
    }
    Hello::NoSni
}

/// The `host_name` entry of a `server_name` extension, if it is a valid
/// DNS name.
fn server_name(data: &[u8]) -> Option<String> {
    let mut r = Reader(data);
    let mut list = Reader(r.vec(2)?);
    while !list.0.is_empty() {
        let kind = list.u8()?;
        let name = list.vec(2)?;
        if kind != 0 {
            continue;
        }
        let name = name.strip_suffix(b".").unwrap_or(name);
        let valid = !name.is_empty()
            && name.len() <= 253
            && name
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        if !valid {
            return None;
        }
        return Some(String::from_utf8_lossy(name).to_ascii_lowercase());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello body with `extensions` (each `(type, data)`).
    fn hello_body(extensions: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut b = vec![0x03, 0x03];
        b.extend([7u8; 32]); // random
        b.push(32);
        b.extend([1u8; 32]); // session id
        b.extend([0, 4, 0x13, 0x01, 0x13, 0x02]); // two cipher suites
        b.extend([1, 0]); // null compression
        let mut ext = Vec::new();
        for (kind, data) in extensions {
            ext.extend(kind.to_be_bytes());
            ext.extend((data.len() as u16).to_be_bytes());
            ext.extend(data);
        }
        b.extend((ext.len() as u16).to_be_bytes());
        b.extend(ext);
        b
    }

    fn sni_ext(name: &[u8]) -> (u16, Vec<u8>) {
        let mut entry = vec![0u8];
        entry.extend((name.len() as u16).to_be_bytes());
        entry.extend(name);
        let mut data = (entry.len() as u16).to_be_bytes().to_vec();
        data.extend(entry);
        (SERVER_NAME, data)
    }

    /// Wraps a body into a handshake message split over records of at most
    /// `record` bytes.
    fn records(body: &[u8], record: usize) -> Vec<u8> {
        let mut msg = vec![CLIENT_HELLO];
        msg.extend(&(body.len() as u32).to_be_bytes()[1..]);
        msg.extend(body);
        let mut out = Vec::new();
        for chunk in msg.chunks(record) {
            out.extend([HANDSHAKE, 3, 1]);
            out.extend((chunk.len() as u16).to_be_bytes());
            out.extend(chunk);
        }
        out
    }

    fn hello(name: &[u8]) -> Vec<u8> {
        let alpn = (16u16, vec![0, 3, 2, b'h', b'2']);
        records(
            &hello_body(&[alpn, sni_ext(name), (43, vec![2, 3, 4])]),
            MAX_RECORD,
        )
    }

    #[test]
    fn reads_the_server_name() {
        assert_eq!(
            parse(&hello(b"Example.ORG")),
            Hello::Sni("example.org".into())
        );
        assert_eq!(parse(&hello(b"a.test.")), Hello::Sni("a.test".into()));
        // Trailing bytes (early data, a second record) do not matter.
        let mut more = hello(b"a.test");
        more.extend([23, 3, 3, 0, 1, 0]);
        assert_eq!(parse(&more), Hello::Sni("a.test".into()));
    }

    #[test]
    fn reads_the_name_in_a_real_rustls_client_hello() {
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from("Real.Example.ORG").unwrap();
        let mut conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
        let mut wire = Vec::new();
        while conn.wants_write() {
            conn.write_tls(&mut wire).unwrap();
        }
        assert_eq!(parse(&wire), Hello::Sni("real.example.org".into()));
        for i in 0..wire.len() {
            assert_eq!(parse(&wire[..i]), Hello::Incomplete, "prefix {i}");
        }
    }

    #[test]
    fn a_hello_split_over_records_is_reassembled() {
        let body = hello_body(&[sni_ext(b"split.test")]);
        for size in [1, 2, 3, 4, 5, 50, 100] {
            assert_eq!(
                parse(&records(&body, size)),
                Hello::Sni("split.test".into()),
                "records of {size}"
            );
        }
    }

    #[test]
    fn hellos_without_a_usable_name() {
        let no_ext = {
            let mut b = hello_body(&[]);
            b.truncate(b.len() - 2); // no extensions block at all
            b
        };
        assert_eq!(parse(&records(&no_ext, MAX_RECORD)), Hello::NoSni);
        assert_eq!(parse(&records(&hello_body(&[]), MAX_RECORD)), Hello::NoSni);
        let other = records(&hello_body(&[(16, vec![0, 0])]), MAX_RECORD);
        assert_eq!(parse(&other), Hello::NoSni);
        for bad in [&b""[..], b"a b", b"a\0b", b"caf\xc3\xa9", b"x/y"] {
            assert_eq!(parse(&hello(bad)), Hello::NoSni, "{bad:?}");
        }
        assert_eq!(parse(&hello(&[b'a'; 254])), Hello::NoSni);
    }

    #[test]
    fn every_truncation_is_incomplete() {
        let full = hello(b"www.example.org");
        for i in 0..full.len() {
            assert_eq!(parse(&full[..i]), Hello::Incomplete, "prefix {i}");
        }
        let split = records(&hello_body(&[sni_ext(b"x.test")]), 7);
        for i in 0..split.len() {
            assert_eq!(parse(&split[..i]), Hello::Incomplete, "prefix {i}");
        }
    }

    #[test]
    fn other_protocols_are_not_tls() {
        for garbage in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"SSH-2.0-OpenSSH_9.6\r\n",
            b"\x16\x02",                 // SSL 2 style version
            b"\x16\x03\x01\x00\x00",     // empty record
            b"\x16\x03\x01\x40\x01",     // record over 2^14
            b"\x16\x03\x01\x00\x05\x02", // a ServerHello
            b"\x17\x03\x03\x00\x10",     // application data
            b"\0",
        ] {
            assert_eq!(parse(garbage), Hello::NotTls, "{garbage:?}");
        }
        // A handshake message claiming more than MAX_HELLO.
        let huge = [HANDSHAKE, 3, 1, 0, 4, CLIENT_HELLO, 0x01, 0x00, 0x00];
        assert_eq!(parse(&huge), Hello::NotTls);
        // Lengths inside the hello that run past its end.
        let mut body = hello_body(&[sni_ext(b"a.test")]);
        let n = body.len();
        body[n - 1] = 0xff;
        body[n - 3] ^= 0x40;
        let _ = parse(&records(&body, MAX_RECORD));
        // A ClientHello with a bad cipher suite vector.
        let mut bad = hello_body(&[]);
        bad[2 + 32 + 1 + 32 + 1] = 3; // odd suites length
        assert_eq!(parse(&records(&bad, MAX_RECORD)), Hello::NotTls);
    }

    #[test]
    fn never_panics_on_any_corruption() {
        let full = hello(b"www.example.org");
        for i in 0..full.len() {
            for b in [0u8, 1, 2, 3, 0x16, 0x7f, 0x80, 0xfe, 0xff] {
                let mut c = full.clone();
                c[i] = b;
                let _ = parse(&c);
                let _ = parse(&c[..i]);
            }
        }
        // Pseudo-random garbage behind a valid record header.
        let mut x: u32 = 0x1234_5678;
        for _ in 0..2000 {
            let mut buf = vec![HANDSHAKE, 3, 3, 0, 200, CLIENT_HELLO, 0, 0, 196];
            for _ in 0..196 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                buf.push(x as u8);
            }
            let _ = parse(&buf);
        }
    }
}
