//! The config loader: arbitrary text as a fairway YAML file, and as a
//! discovery servers file. It must return a config or every error, never
//! panic; see `common::check_load` for what is checked of the result.

#![no_main]

#[path = "common/mod.rs"]
mod common;

use fairway_config::{parse_server_value, parse_servers_file, Config};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::assert_no_dns();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if !common::safe_to_load(text) {
        return;
    }
    let result = Config::from_yaml_str_with_env(text, "fuzz.yaml", &common::env);
    common::check_load(text, result);

    // A watched servers file, and each line as one discovered value.
    if let Ok((good, _bad)) = parse_servers_file(text) {
        for (name, addr, weight) in good {
            assert!(!name.is_empty());
            assert_ne!(addr.port(), 0);
            assert!(weight.is_none_or(|w| w <= 256));
        }
    }
    for line in text.lines().take(16) {
        if let Ok((addr, weight)) = parse_server_value(line) {
            assert_ne!(addr.port(), 0);
            assert!(weight.is_none_or(|w| w <= 256));
        }
    }
});
