//! `fairway import-haproxy`: arbitrary text as an haproxy.cfg. The
//! converter never fails and always writes YAML that parses; the loader
//! then reads that YAML without panicking (`common::check_load`). Every
//! finding points at a line of the input (0: the file as a whole).

#![no_main]

#[path = "common/mod.rs"]
mod common;

use fairway_config::Config;
use fairway_haproxy::import_haproxy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::assert_no_dns();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let conv = import_haproxy(text);
    if let Err(e) = serde_yaml::from_str::<serde_yaml::Value>(&conv.yaml) {
        panic!("invalid YAML ({e}):\n{}", conv.yaml);
    }
    let lines = text.lines().count();
    for f in conv.unsupported.iter().chain(&conv.notes) {
        assert!(
            f.line <= lines,
            "finding at line {} of {lines}: {f:?}",
            f.line
        );
    }
    let _ = conv.diagnostics("haproxy.cfg");
    assert_eq!(conv.exit_code() == 0, conv.is_complete());
    if common::safe_to_load(&conv.yaml) {
        let result = Config::from_yaml_str_with_env(&conv.yaml, "converted.yaml", &common::env);
        common::check_load(&conv.yaml, result);
    }
});
