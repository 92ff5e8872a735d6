//! Random input: the converter never panics and always writes YAML that
//! parses (and that the loader reads without panicking). Set FUZZ_ROUNDS
//! for a longer run, e.g. `FUZZ_ROUNDS=300000 cargo test --release -p
//! fairway-config random_input`.

use super::import_haproxy;
use fairway_config::Config;

/// A small deterministic generator (xorshift64*), so the fuzz test needs
/// no extra crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

#[test]
fn random_input_never_panics_and_always_gives_yaml() {
    let words = [
        "global",
        "defaults",
        "frontend",
        "backend",
        "listen",
        "userlist",
        "bind",
        "mode",
        "http",
        "tcp",
        "server",
        "acl",
        "use_backend",
        "default_backend",
        "http-request",
        "http-response",
        "set-header",
        "replace-path",
        "set-status",
        "return",
        "string",
        "lf-string",
        "%[hdr(x),lower]",
        "%ci",
        "%s",
        "res.hdr(x)",
        "unique-id-header",
        "unique-id-format",
        "deny",
        "if",
        "unless",
        "{",
        "}",
        "!",
        "||",
        "or",
        "path_beg",
        "/x",
        "-i",
        "-m",
        "beg",
        "ssl",
        "crt",
        "check",
        "inter",
        "rise",
        "fall",
        "weight",
        "backup",
        "cookie",
        "insert",
        "option",
        "httpchk",
        "forwardfor",
        "redispatch",
        "timeout",
        "client",
        "server",
        "connect",
        "10s",
        "0",
        "stats",
        "enable",
        "auth",
        "a:b",
        "socket",
        "/tmp/s",
        "*:80",
        ":81",
        "127.0.0.1:1",
        "x",
        "y",
        "from",
        "\"",
        "'",
        "\\",
        "#",
        "$",
        "${",
        "%[",
        "\t",
        ":",
        "-",
        "é",
        "\u{0}",
        "redirect",
        "scheme",
        "https",
        "ssl_fc",
        "TRUE",
        "METH_GET",
        "tcp-request",
        "content",
        "reject",
        "monitor-uri",
        "http-check",
        "expect",
        "status",
        "send",
        "hdr",
        "balance",
        "roundrobin",
        "hash",
        "default-server",
        "maxconn",
        "sni",
        "str(x)",
        "verify",
        "none",
        "resolvers",
        "nameserver",
        "10.0.0.1:53",
        "parse-resolv-conf",
        "hold",
        "valid",
        "resolve",
        "init-addr",
        "_http._tcp.x",
        "retry-on",
        "all-retryable-errors",
        "0rtt-rejected",
        "503",
        "observe",
        "layer7",
        "error-limit",
        "on-error",
        "mark-down",
        "log-format",
        "%ci:%cp",
        "%TR",
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let rounds: usize = std::env::var("FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    for _ in 0..rounds {
        let mut text = String::new();
        for _ in 0..(rng.next() % 20) {
            if rng.next() % 3 == 0 {
                text.push_str("    ");
            }
            for _ in 0..(1 + rng.next() % 7) {
                text.push_str(rng.pick(&words));
                text.push(if rng.next() % 9 == 0 { '\t' } else { ' ' });
            }
            text.push('\n');
        }
        let conv = import_haproxy(&text);
        if let Err(e) = serde_yaml::from_str::<serde_yaml::Value>(&conv.yaml) {
            panic!("invalid YAML ({e}) for input:\n{text}\n---\n{}", conv.yaml);
        }
        let _ = Config::from_yaml_str_with_env(&conv.yaml, "fuzz", &|_| None);
    }
    // Arbitrary bytes too.
    for _ in 0..2000 {
        let bytes: Vec<u8> = (0..rng.next() % 200)
            .map(|_| (rng.next() % 128) as u8)
            .collect();
        let text = String::from_utf8_lossy(&bytes);
        let conv = import_haproxy(&text);
        assert!(
            serde_yaml::from_str::<serde_yaml::Value>(&conv.yaml).is_ok(),
            "{text:?}"
        );
    }
}
