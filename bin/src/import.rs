//! `fairway import-haproxy haproxy.cfg > fairway.yaml`.
//!
//! The YAML goes to stdout (or `-o FILE`); every directive that was not
//! converted is listed on stderr as `FILE:LINE: unsupported: DIRECTIVE
//! (REASON)`, remarks as `FILE:LINE: note: ...`. Exit codes: 0 the
//! conversion is complete, 2 some directives were not converted, 1 the
//! input could not be read (or the output written).

use fairway::Config;
use fairway_haproxy::import_haproxy;
use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

/// Exit code when directives were left out.
const INCOMPLETE: u8 = 2;

/// Runs the conversion of `input` (`-` for stdin).
pub fn run(input: &Path, output: Option<&Path>) -> ExitCode {
    let name = if input == Path::new("-") {
        "<stdin>".to_string()
    } else {
        input.display().to_string()
    };
    let mut bytes = Vec::new();
    let read = if input == Path::new("-") {
        std::io::stdin().read_to_end(&mut bytes).map(|_| ())
    } else {
        std::fs::read(input).map(|b| bytes = b)
    };
    if let Err(e) = read {
        eprintln!("fairway: cannot read {name}: {e}");
        return ExitCode::FAILURE;
    }
    let Ok(text) = String::from_utf8(bytes) else {
        eprintln!("fairway: {name} is not UTF-8 text");
        return ExitCode::FAILURE;
    };
    let conv = import_haproxy(&text);
    let written = match output {
        Some(path) => std::fs::write(path, &conv.yaml),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(conv.yaml.as_bytes())
                .and_then(|()| out.flush())
        }
    };
    if let Err(e) = written {
        eprintln!("fairway: cannot write the converted configuration: {e}");
        return ExitCode::FAILURE;
    }
    eprint!("{}", conv.diagnostics(&name));
    // What fairway would say about the result on this machine (server
    // names that do not resolve here, certificate files not present...):
    // worth knowing, but not part of the conversion's completeness.
    let source = output.map_or_else(|| "<converted>".to_string(), |p| p.display().to_string());
    if let Err(errors) = Config::from_yaml_str(&conv.yaml, &source) {
        eprintln!(
            "fairway: warning: the converted configuration does not load on this machine as it is:"
        );
        eprintln!("{errors}");
    }
    eprintln!(
        "fairway: {name}: {} directive(s) not converted, {} note(s)",
        conv.unsupported.len(),
        conv.notes.len()
    );
    if conv.is_complete() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(INCOMPLETE)
    }
}
