#!/usr/bin/env bash
# Installs the Debian packages fairway needs, checked by package name with
# dpkg-query (a command on the PATH is not proof that its package, or a
# library package beside it, is installed).
#
#   scripts/setup.sh            build + test packages (what scripts/test.sh needs)
#   scripts/setup.sh --build    build packages only (what the Dockerfile runs)
#   scripts/setup.sh --check    print the missing packages, exit 1 if any; install nothing
#   scripts/setup.sh --list [build|test]   print the package list, one a line
#
# Safe to run again: it installs only what is missing.
set -euo pipefail

# To build the binary: `cargo build` on a machine with Rust and these.
BUILD=(
  build-essential     # cc, c++ and make: Pingora's and ring's C code, libFuzzer
  cmake               # Pingora's zlib-ng build (libz-ng-sys)
  pkg-config          # -sys crates that probe for system libraries
  protobuf-compiler   # protoc: etcd-client's gRPC code is generated at build time
  libprotobuf-dev     # the google/protobuf/*.proto files protoc imports
)

# To run scripts/test.sh: the real peers the integration tests start.
TEST=(
  ca-certificates     # apt and cargo over TLS
  curl                # the README's examples, the .deb test
  procps              # kill(1): tests send signals
  python3             # scripts/public-api.py (API snapshot), scripts/module-graph.py
  python3-grpcio      # tests/grpc.rs: a real gRPC server and client (tests/grpc/peer.py)
  nghttp2-server      # tests/http2_servers.rs: nghttpd, a real HTTP/2 server (h2c and TLS)
  openssl             # tests/tcp_tls.rs makes its certificates with it
  etcd-server         # discovery tests run a real etcd (/usr/bin/etcd)
  dnsmasq-base        # tests/dns.rs: a real DNS server (/usr/sbin/dnsmasq) for `dns` re-resolution
  haproxy             # import and conformance tests compare with HAProxy
  nginx               # the conformance suite compares with nginx; tests/backends routes with it
  tomcat10            # tests/backends: Tomcat routes an /admin servlet behind the proxies
  openjdk-17-jdk-headless  # tests/backends: javac compiles the servlet (tests/backends/Route.java)
  netcat-openbsd      # admin tests: the seed's `echo ... | nc -U sock`
  chromium            # admin tests: the stats page in headless Chromium
  systemd             # systemd-analyze verifies the .deb's unit
  dpkg-dev            # dpkg-deb and dpkg-architecture build the .deb
  passwd              # useradd: the .deb's postinst makes the fairway user
  util-linux          # setpriv: the .deb test runs fairway as that user
)

mode="${1:-all}"
case "$mode" in
  all) want=("${BUILD[@]}" "${TEST[@]}") ;;
  --build) want=("${BUILD[@]}") ;;
  --check) want=("${BUILD[@]}" "${TEST[@]}") ;;
  --list)
    case "${2:-all}" in
      build) printf '%s\n' "${BUILD[@]}" ;;
      test) printf '%s\n' "${TEST[@]}" ;;
      *) printf '%s\n' "${BUILD[@]}" "${TEST[@]}" ;;
    esac
    exit 0 ;;
  -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "setup: unknown option '$mode' (see --help)" >&2; exit 2 ;;
esac

missing=()
for pkg in "${want[@]}"; do
  status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
  [ "$status" = installed ] || missing+=("$pkg")
done

if [ "$mode" = --check ]; then
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]}"
    echo "setup: run ./scripts/setup.sh to install them"
    exit 1
  fi
  echo "setup: all ${#want[@]} packages installed"
  exit 0
fi

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found; install Rust (rustup) first" >&2
  exit 1
fi
