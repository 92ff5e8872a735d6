#!/usr/bin/env bash
# fairway vs HAProxy in tcp mode, on this machine, over loopback.
#
#   benches/compare/tcp.sh                 # builds fairway (release) if needed, runs, prints a table
#   FAIRWAY_BIN=/path/to/fairway benches/compare/tcp.sh
#   SECS=10 REPEAT=3 CONNS=4 THREADS=4 PROXY_THREADS=2 benches/compare/tcp.sh
#   HAPROXY_SPLICE=1 benches/compare/tcp.sh   # HAProxy with `option splice-auto` (kernel splicing)
#
# Both proxies run in tcp mode with PROXY_THREADS worker threads, no
# logging, in front of the same echo upstream (benches/compare/tcpload.rs,
# built with `rustc -O`: standard library only). Measured for each proxy
# and for the upstream alone (baseline):
#   * throughput: CONNS connections stream 64 KiB writes through the
#     proxy to the echo and back for SECS seconds; MB/s of echoed bytes
#     (each byte crosses the proxy twice);
#   * connection rate: THREADS loops of connect, 1-byte echo, close for
#     SECS seconds; completed connections per second.
# Each figure is the median of REPEAT runs; the proxies take turns (the
# order alternates) so that drift on a busy machine hits both alike. The
# ratios are fairway / HAProxy (1.0 = equal, above 1 = fairway faster).
# Needs: haproxy (Debian package `haproxy`), rustc, cargo. Everything
# listens on 127.0.0.1 and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/../.."

SECS=${SECS:-10}
REPEAT=${REPEAT:-3}
CONNS=${CONNS:-4}
THREADS=${THREADS:-4}
PROXY_THREADS=${PROXY_THREADS:-2}
WORK=$(mktemp -d /tmp/fairway-tcpbench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

command -v haproxy >/dev/null || { echo "tcp.sh: haproxy is not installed (apt-get install haproxy)" >&2; exit 1; }

# The load tool.
rustc -O --edition 2021 -o "$WORK/tcpload" benches/compare/tcpload.rs

# fairway, release build.
if [ -z "${FAIRWAY_BIN:-}" ]; then
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/fairway-release}
  cargo build --release --quiet --bin fairway
  FAIRWAY_BIN=$CARGO_TARGET_DIR/release/fairway
fi

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
UP=$(port); HA=$(port); FW=$(port)

wait_port() {
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "tcp.sh: nothing listens on $1" >&2; exit 1
}

"$WORK/tcpload" echo "$UP" & pids+=($!)
wait_port "$UP"

cat > "$WORK/haproxy.cfg" <<EOF
global
  nbthread $PROXY_THREADS
  maxconn 4000
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
$( [ "${HAPROXY_SPLICE:-0}" = 1 ] && echo "  option splice-auto" )
frontend tcp
  bind 127.0.0.1:$HA
  default_backend echo
backend echo
  server e1 127.0.0.1:$UP
EOF
haproxy -q -f "$WORK/haproxy.cfg" & pids+=($!)

cat > "$WORK/fairway.yaml" <<EOF
global:
  threads: $PROXY_THREADS
  grace_period: 1s
  pid_file: $WORK/fairway.pid
  upgrade_sock: $WORK/fairway.sock
  log_level: warn
  access_log: false
frontends:
  tcp:
    bind: 127.0.0.1:$FW
    mode: tcp
    default_backend: echo
backends:
  echo:
    mode: tcp
    servers: { e1: { addr: 127.0.0.1:$UP } }
EOF
"$FAIRWAY_BIN" -c "$WORK/fairway.yaml" 2>"$WORK/fairway.log" & pids+=($!)
wait_port "$HA"; wait_port "$FW"

throughput() { "$WORK/tcpload" throughput "127.0.0.1:$1" "$CONNS" "$SECS"; }
connrate() {
  local r; r=$("$WORK/tcpload" connrate "127.0.0.1:$1" "$THREADS" "$SECS")
  sleep 2   # let the TIME_WAIT sockets of the run thin out
  echo "$r"
}

echo "HAProxy $(haproxy -v | head -1 | awk '{print $3}')$( [ "${HAPROXY_SPLICE:-0}" = 1 ] && echo ' with splice-auto'), default tune.bufsize; fairway $("$FAIRWAY_BIN" --version | awk '{print $2}')"
echo "tcp mode, ${SECS}s per run, median of $REPEAT, $CONNS streams, $THREADS connecting threads, $PROXY_THREADS proxy threads, $(nproc) cores"
: > "$WORK/results"
for i in $(seq "$REPEAT"); do
  if [ $((i % 2)) -eq 1 ]; then order="haproxy:$HA fairway:$FW"; else order="fairway:$FW haproxy:$HA"; fi
  echo "upstream mbps $(throughput "$UP")" >> "$WORK/results"
  for t in $order; do echo "${t%%:*} mbps $(throughput "${t##*:}")" >> "$WORK/results"; done
  echo "upstream rate $(connrate "$UP")" >> "$WORK/results"
  for t in $order; do echo "${t%%:*} rate $(connrate "${t##*:}")" >> "$WORK/results"; done
done

python3 - "$WORK/results" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, what, value = line.split()
    runs.setdefault((name, what), []).append(float(value))
med = {k: statistics.median(v) for k, v in runs.items()}
print(f"{'':<22} {'throughput MB/s':>16} {'connections/s':>15}")
for name, label in [("upstream", "upstream (no proxy)"), ("haproxy", "haproxy"), ("fairway", "fairway")]:
    print(f"{label:<22} {med[(name, 'mbps')]:>16.1f} {med[(name, 'rate')]:>15.0f}")
print(f"{'fairway / HAProxy':<22} {med[('fairway', 'mbps')] / med[('haproxy', 'mbps')]:>16.2f} "
      f"{med[('fairway', 'rate')] / med[('haproxy', 'rate')]:>15.2f}")
print("runs:", "; ".join(f"{n} {w} " + "/".join(f"{x:.0f}" for x in v) for (n, w), v in sorted(runs.items())))
EOF
