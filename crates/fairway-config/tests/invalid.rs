//! The invalid-config corpus: each `tests/invalid/NAME.yaml` must fail to
//! load with exactly the text of `tests/invalid/NAME.err` (what `fairway -t`
//! prints on stderr).
//!
//! After an intended change of messages, regenerate the expected files with
//! `FAIRWAY_BLESS=1 cargo test -p fairway-config --test invalid` and review
//! the diff.

use fairway_config::Config;
use std::fs;
use std::path::{Path, PathBuf};

/// The environment the corpus is loaded with.
fn env(name: &str) -> Option<String> {
    match name {
        "BACKEND_PORT" => Some("8001".to_string()),
        _ => None,
    }
}

/// The corpus files, relative to the crate directory (cargo's working
/// directory for tests), so that messages carry relative names.
fn corpus() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir("tests/invalid")
        .expect("tests/invalid exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// Loads a file; a panic counts as a failure with its message.
fn errors_of(path: &Path) -> Result<String, String> {
    let loaded = std::panic::catch_unwind(|| Config::from_file_with_env(path, &env));
    match loaded {
        Ok(Err(e)) => Ok(format!("{e}\n")),
        Ok(Ok(_)) => Err("loaded without errors".to_string()),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(format!("panicked: {msg}"))
        }
    }
}

#[test]
fn every_invalid_config_fails_with_the_expected_errors() {
    let bless = std::env::var_os("FAIRWAY_BLESS").is_some();
    let files = corpus();
    assert!(files.len() >= 20, "the corpus is missing: {files:?}");
    let mut failures = Vec::new();
    for yaml in &files {
        let expected_file = yaml.with_extension("err");
        let actual = match errors_of(yaml) {
            Ok(actual) => actual,
            Err(why) => {
                failures.push(format!("{}: {why}", yaml.display()));
                continue;
            }
        };
        if bless {
            fs::write(&expected_file, &actual).expect("write .err file");
            continue;
        }
        match fs::read_to_string(&expected_file) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => failures.push(format!(
                "{}:\n--- expected\n{expected}--- actual\n{actual}",
                yaml.display()
            )),
            Err(e) => failures.push(format!("{}: {e}", expected_file.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus files failed:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn every_expected_error_file_has_its_config() {
    for entry in fs::read_dir("tests/invalid").expect("tests/invalid exists") {
        let path = entry.expect("readable directory entry").path();
        if path.extension().is_some_and(|e| e == "err") {
            assert!(
                path.with_extension("yaml").exists(),
                "{} has no .yaml",
                path.display()
            );
        }
    }
}
