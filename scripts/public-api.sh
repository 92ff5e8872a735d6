#!/usr/bin/env bash
# The public API of the library crates (fairway, fairway-acl, fairway-config,
# fairway-haproxy)
# as a sorted list of items with signatures, in docs/public-api.txt, so that
# API changes show in review as a diff of that file.
#
#   scripts/public-api.sh           regenerate docs/public-api.txt
#   scripts/public-api.sh --check   fail if it is stale (CI)
#
# rustdoc's JSON output is unstable; RUSTC_BOOTSTRAP=1 enables it on stable
# Rust. scripts/public-api.py renders it (JSON format 57, Rust 1.95).
set -euo pipefail
cd "$(dirname "$0")/.."

out=docs/public-api.txt
json=()
for crate in fairway-acl fairway-config fairway-haproxy fairway; do
  RUSTC_BOOTSTRAP=1 cargo rustdoc -q -p "$crate" --lib -- -Zunstable-options --output-format json
  json+=("target/doc/${crate//-/_}.json")
done
fresh=$(mktemp)
trap 'rm -f "$fresh"' EXIT
python3 scripts/public-api.py "${json[@]}" >"$fresh"

if [ "${1:-}" = "--check" ]; then
  if ! diff -u "$out" "$fresh"; then
    echo "public-api: $out is stale: run scripts/public-api.sh and review the diff" >&2
    exit 1
  fi
  echo "public-api: $out is up to date"
else
  cp "$fresh" "$out"
  echo "public-api: wrote $out ($(wc -l <"$out") items)"
fi
