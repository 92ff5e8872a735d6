#!/usr/bin/env bash
# Installs the system packages fairway needs to build and test on Debian.
# Safe to run again: it installs only what is missing.
set -euo pipefail

need=()
command -v cmake >/dev/null || need+=(cmake)          # Pingora's zlib-ng build
command -v cc >/dev/null || need+=(build-essential)
command -v c++ >/dev/null || need+=(g++)                    # scripts/fuzz.sh: libfuzzer-sys compiles libFuzzer
command -v pkg-config >/dev/null || need+=(pkg-config)
{ [ -x /usr/bin/kill ] || [ -x /bin/kill ]; } || need+=(procps)       # tests send signals with kill(1)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)          # scripts/public-api.py renders the API snapshot
command -v openssl >/dev/null || need+=(openssl)           # tests/tcp_tls.rs makes its certificates with it
command -v protoc >/dev/null || need+=(protobuf-compiler)   # etcd-client (gRPC) build
command -v etcd >/dev/null || need+=(etcd-server)          # discovery tests run a real etcd (/usr/bin/etcd)
command -v haproxy >/dev/null || need+=(haproxy)          # tests/import.rs compares fairway with HAProxy
command -v nc >/dev/null || need+=(netcat-openbsd)         # admin tests: the seed's `echo ... | nc -U sock`
command -v chromium >/dev/null || need+=(chromium)         # admin tests: the stats page in headless Chromium

if [ "${#need[@]}" -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found; install Rust (rustup) first" >&2
  exit 1
fi
