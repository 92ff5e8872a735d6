//! `fairway replay -c new.yaml ACCESS_LOG`: what would change under a new
//! configuration, decided from a log of real traffic (no request is sent).
//! Exit codes: 0 nothing changes, 3 something does, 1 the configuration or
//! the log could not be read.

use fairway::replay::{Replayer, Report};
use fairway::{Config, Runtime};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::ExitCode;

/// Exit code when an outcome changes.
const CHANGED: u8 = 3;

/// Replays `log` (`-` for stdin) under the configuration in `conf`.
pub fn run(conf: &Path, log: &Path, examples: usize) -> ExitCode {
    let config = match Config::from_file(conf) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!(
                "fairway: configuration has {} error(s)",
                errors.diagnostics.len()
            );
            return ExitCode::FAILURE;
        }
    };
    let input: Box<dyn Read> = if log == Path::new("-") {
        Box::new(std::io::stdin())
    } else {
        match std::fs::File::open(log) {
            Ok(f) => Box::new(f),
            Err(e) => {
                eprintln!("fairway: cannot read {}: {e}", log.display());
                return ExitCode::FAILURE;
            }
        }
    };
    let rt = Runtime::new(&config);
    let replayer = Replayer::new(&rt);
    let mut report = Report::new(examples);
    let mut reader = BufReader::with_capacity(1 << 20, input);
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => report.line(&replayer, line.trim_end_matches(['\n', '\r'])),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => report.skipped += 1,
            Err(e) => {
                eprintln!("fairway: cannot read {}: {e}", log.display());
                return ExitCode::FAILURE;
            }
        }
    }
    print!("{report}");
    if report.changed() > 0 {
        ExitCode::from(CHANGED)
    } else {
        ExitCode::SUCCESS
    }
}
