#!/usr/bin/env bash
# The test command: installs what a fresh Debian machine lacks, then runs
# every test of the workspace (unit, integration, doc tests, examples),
# then a short fuzzing smoke run (FUZZ_SECONDS per target, default 60).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh

export CARGO_TERM_COLOR=never
# A one-off build: incremental state would only cost disk (gigabytes) and time.
export CARGO_INCREMENTAL=0
# Every integration test file is a [[test]] of bin/Cargo.toml: a file
# nobody registered would never run, and CI would stay green.
for f in tests/*.rs tests/*/main.rs; do
  grep -q "path = \"../$f\"" bin/Cargo.toml \
    || { echo "test.sh: $f is not a [[test]] target of bin/Cargo.toml" >&2; exit 1; }
done
# Data flows one way: no module imports one that imports it back.
python3 scripts/module-graph.py
# `rust-version` is the highest the locked dependency tree declares (no
# older toolchain can be fetched here to try a build with).
python3 scripts/rust-version-check
cargo fmt --all -- --check
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
cargo build --workspace --all-targets
cargo test --workspace --all-targets --no-fail-fast
cargo test --workspace --doc
# The public API snapshot (docs/public-api.txt) must match the code.
./scripts/public-api.sh --check
# The four library crates package for crates.io, and each builds from its
# package alone (the others from theirs: `--workspace`).
cargo publish --workspace --dry-run --locked
# Fuzz smoke: each target of fuzz/ for 60 s, on stable (docs/fuzzing.md).
./scripts/fuzz.sh "${FUZZ_SECONDS:-60}"
