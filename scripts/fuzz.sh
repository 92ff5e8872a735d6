#!/usr/bin/env bash
# Fuzzes the pure crates with cargo-fuzz on stable Rust: each target of
# fuzz/ runs for SECONDS (default 60), one after another, one process at a
# time. Exits nonzero if any target crashes, panics, hangs or leaks memory;
# the input is left in fuzz/artifacts/TARGET/.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Targets: acl_parse normalize_path config_load import_haproxy (default: all).
# Corpora grow in fuzz/corpus/TARGET (not committed); the committed seeds
# (the repo's configs, fuzz/seeds/, fuzz/regressions/) are read each run.
# See docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

secs="${1:-60}"
shift || true
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(acl_parse normalize_path config_load import_haproxy)

# cargo-fuzz drives libFuzzer (built from source by libfuzzer-sys, so a C++
# compiler is needed: build-essential, see scripts/setup.sh).
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --locked --version 0.13.2
fi

# Stable Rust: the coverage instrumentation cargo-fuzz asks of rustc is
# stable, and the targets are built with debug assertions and overflow
# checks. No sanitizer by default: the fuzzed crates forbid unsafe code.
# FUZZ_SANITIZER=address adds AddressSanitizer (for the unsafe code of
# dependencies such as unsafe-libyaml); its flag, -Zsanitizer, is unstable,
# so the stable compiler is told to accept it with RUSTC_BOOTSTRAP=1. It
# builds into a target dir of its own and runs 6 to 16 times slower.
sanitizer="${FUZZ_SANITIZER:-none}"
flags=(--sanitizer "$sanitizer" --debug-assertions)
if [ "$sanitizer" != none ]; then
  export RUSTC_BOOTSTRAP=1
  flags+=(--target-dir "fuzz/target/$sanitizer")
fi
export CARGO_TERM_COLOR=never
cargo fuzz build "${flags[@]}"

seeds_of() {
  case "$1" in
    acl_parse) echo "fuzz/seeds/acl_parse" ;;
    normalize_path) echo "fuzz/seeds/normalize_path" ;;
    config_load) echo "conf crates/fairway-config/tests/valid crates/fairway-config/tests/invalid" ;;
    import_haproxy) echo "crates/fairway-haproxy/tests/haproxy" ;;
    *) echo "fuzz: unknown target $1" >&2; return 1 ;;
  esac
}
dict_of() {
  case "$1" in
    acl_parse) echo "fuzz/dicts/acl.dict" ;;
    config_load) echo "fuzz/dicts/yaml.dict" ;;
    import_haproxy) echo "fuzz/dicts/haproxy.dict" ;;
  esac
}

mkdir -p fuzz/logs
tag=""
[ "$sanitizer" = none ] || tag="-$sanitizer"
failed=()
summary=""
for t in "${targets[@]}"; do
  dirs=("$root/fuzz/corpus/$t")
  for d in $(seeds_of "$t") "fuzz/regressions/$t"; do
    [ -d "$d" ] && dirs+=("$root/$d")
  done
  mkdir -p "fuzz/corpus/$t"
  opts=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
  dict="$(dict_of "$t")"
  [ -n "$dict" ] && opts+=(-dict="$root/$dict")
  log="fuzz/logs/$t$tag.log"
  echo "fuzz: $t for ${secs}s, sanitizer $sanitizer (log: $log)"
  start=$(date +%s)
  if cargo fuzz run "${flags[@]}" "$t" "${dirs[@]}" -- "${opts[@]}" >"$log" 2>&1; then
    result=ok
  else
    result=FAILED
    failed+=("$t")
    tail -n 40 "$log"
  fi
  took=$(($(date +%s) - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  units=$(find "fuzz/corpus/$t" -type f | wc -l)
  line=$(printf '%-15s %5ss %12s execs %8s/s %6s corpus  %s' \
    "$t" "$took" "${execs:-?}" "${rate:-?}" "$units" "$result")
  echo "fuzz: $line"
  summary+="$line"$'\n'
done

echo "fuzz: summary"
printf '%s' "$summary"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
