#!/usr/bin/env bash
# gRPC through a proxy: fairway against HAProxy and nginx, h2c to h2c, on
# this machine, over loopback.
#
#   benches/compare/grpc.sh                  # builds fairway (release) if needed
#   benches/compare/grpc.sh --quick          # 3 s per run, 1 round
#   FAIRWAY_BIN=/path/to/fairway benches/compare/grpc.sh --reps 5
#
# Options: --reps N (3), --duration S (10), --conns N (10), --streams N (10
#   concurrent calls per connection), --skip-install.
# Env: FAIRWAY_BIN.
#
# The server: tests/grpc/peer.py (Debian's python3-grpcio, a real gRPC
# server: gRPC core under Python handlers) serving test.Echo on CPU 1. The
# load: h2load (Debian's nghttp2-client) on CPU 1 too, making unary calls
# to /test.Echo/Unary (one 5-byte message, `content-type:
# application/grpc`, `te: trailers`) over cleartext HTTP/2 with prior
# knowledge, CONNS connections of STREAMS concurrent calls each. Each proxy
# runs one thread on CPU 0: HAProxy (`bind ... proto h2`, `server ...
# proto h2`), nginx (`listen ... http2`, `grpc_pass`), fairway (`h2c:
# true`, `proto: h2c`); `direct` is h2load straight to the server.
#
# The Python server is the bottleneck (every target's calls/s are near the
# direct figure), so the proxy's own cost shows in its CPU time per call
# (utime+stime from /proc/PID/stat) and in the added latency. Before the
# load, every target is checked with the real gRPC client (peer.py
# client): unary, streaming both ways, a status with its message, a
# deadline.
set -euo pipefail
cd "$(dirname "$0")/../.."

REPS=3
DURATION=10
CONNS=10
STREAMS=10
SKIP_INSTALL=0
while [ $# -gt 0 ]; do
  case $1 in
    --reps) REPS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --streams) STREAMS=$2; shift 2 ;;
    --quick) DURATION=3; REPS=1; shift ;;
    --skip-install) SKIP_INSTALL=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "grpc.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

WORK=$(mktemp -d /tmp/fairway-grpcbench.XXXXXX)
chmod 755 "$WORK"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

missing=()
command -v haproxy >/dev/null || missing+=(haproxy)
command -v nginx >/dev/null || missing+=(nginx)
command -v h2load >/dev/null || missing+=(nghttp2-client)
python3 -c 'import grpc' 2>/dev/null || missing+=(python3-grpcio)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$SKIP_INSTALL" = 1 ] && { echo "grpc.sh: missing ${missing[*]}" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ -z "${FAIRWAY_BIN:-}" ]; then
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/fairway-release}
  cargo build --release --quiet --bin fairway
  FAIRWAY_BIN=$CARGO_TARGET_DIR/release/fairway
fi

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
UP=$(port)
TARGETS="direct haproxy nginx fairway"
declare -A PORT=([direct]=$UP [haproxy]=$(port) [nginx]=$(port) [fairway]=$(port))
declare -A PID=()
start() {  # name cpus cmd...
  local name=$1 cpus=$2; shift 2
  taskset -c "$cpus" "$@" >"$WORK/$name.log" 2>&1 &
  pids+=($!); PID[$name]=$!
}
wait_port() {
  for _ in $(seq 400); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 1)" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "grpc.sh: nothing listens on $1" >&2; exit 1
}

start upstream 1 python3 tests/grpc/peer.py server "$UP"
wait_port "$UP"

cat > "$WORK/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 10s
  timeout client 60s
  timeout server 60s
frontend clients
  bind 127.0.0.1:${PORT[haproxy]} proto h2
  default_backend grpc
backend grpc
  server g 127.0.0.1:$UP proto h2
EOF
cat > "$WORK/nginx.conf" <<EOF
daemon off; worker_processes 1;
pid $WORK/nginx.pid; error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off; server_tokens off;
  keepalive_requests 100000000;   # HTTP/2 streams per connection too (default 1000)
  client_body_temp_path $WORK/t1; proxy_temp_path $WORK/t2; fastcgi_temp_path $WORK/t3;
  uwsgi_temp_path $WORK/t4; scgi_temp_path $WORK/t5;
  upstream grpc { server 127.0.0.1:$UP; keepalive 64; }
  server {
    listen 127.0.0.1:${PORT[nginx]} http2;
    location / { grpc_pass grpc://grpc; }
  }
}
EOF
cat > "$WORK/fairway.yaml" <<EOF
global:
  threads: 1
  grace_period: 0s
  pid_file: $WORK/fairway.pid
  upgrade_sock: $WORK/fairway.sock
  log_level: warn
  access_log: false
frontends:
  clients:
    bind: 127.0.0.1:${PORT[fairway]}
    h2c: true
    forwardfor: false
    default_backend: grpc
backends:
  grpc:
    servers: { g: { addr: 127.0.0.1:$UP, proto: h2c } }
EOF
start haproxy 0 haproxy -db -f "$WORK/haproxy.cfg"
start nginx 0 nginx -p "$WORK" -e "$WORK/nginx-error.log" -c "$WORK/nginx.conf"
start fairway 0 "$FAIRWAY_BIN" -c "$WORK/fairway.yaml"
for t in $TARGETS; do wait_port "${PORT[$t]}"; done

# Every target passes gRPC as the real client expects.
for t in $TARGETS; do
  out=$(python3 tests/grpc/peer.py client "127.0.0.1:${PORT[$t]}")
  python3 - "$out" <<'EOF' || { echo "grpc.sh: $t: gRPC calls fail: $out" >&2; exit 1; }
import json, sys
o = json.loads(sys.argv[1])
assert o["unary"] == "hello" and o["server_stream"] == ["n0", "n1", "n2"]
assert o["client_stream"] == "abc" and o["bidi"] == ["X", "Y"]
assert o["fail"] == ["NOT_FOUND", "no such thing"] and o["slow"][0] == "DEADLINE_EXCEEDED"
EOF
done

printf '\x00\x00\x00\x00\x05hello' > "$WORK/call.bin"
proc_ticks() {  # utime+stime of a process and its children, in ticks
  local sum=0 p
  for p in "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null); do
    [ -r "/proc/$p/stat" ] && sum=$((sum + $(awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$p/stat")))
  done
  echo "$sum"
}
HZ=$(getconf CLK_TCK)
run() {  # target
  local t=$1 c0=0 c1=0 rps ok mean
  [ "$t" != direct ] && c0=$(proc_ticks "${PID[$t]}")
  taskset -c 1 h2load -D "$DURATION" -c "$CONNS" -m "$STREAMS" -d "$WORK/call.bin" \
    -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:${PORT[$t]}/test.Echo/Unary" > "$WORK/h2load.out" 2>&1 || true
  [ "$t" != direct ] && c1=$(proc_ticks "${PID[$t]}")
  rps=$(awk '/^finished in/{gsub(/,/, "", $4); print $4}' "$WORK/h2load.out")
  ok=$(awk '/^requests:/{print $8}' "$WORK/h2load.out")
  mean=$(awk '/^time for request:/{print $6}' "$WORK/h2load.out")
  [ -z "$rps" ] || [ "${ok:-0}" = 0 ] && { echo "grpc.sh: h2load failed for $t" >&2; cat "$WORK/h2load.out" >&2; exit 1; }
  echo "$t $rps $(python3 -c "
u='$mean'; v=float(u.rstrip('mus')); print(v/1000 if u.endswith('us') else v*1000 if u.endswith('s') and not u.endswith('ms') else v)
") $(awk -v d=$((c1 - c0)) -v hz="$HZ" -v n="$ok" 'BEGIN{printf "%.1f", 1e6 * d / hz / n}')" >> "$WORK/results"
  printf '  %-8s %8.0f calls/s  mean %s\n' "$t" "$rps" "$mean" >&2
}
read -ra tl <<< "$TARGETS"
: > "$WORK/results"
for rep in $(seq "$REPS"); do
  n=${#tl[@]}
  for ((k = 0; k < n; k++)); do run "${tl[$(((k + rep - 1) % n))]}"; sleep 1; done
done

echo
echo "fairway $("$FAIRWAY_BIN" --version | awk '{print $2}'), $(haproxy -v | head -1 | awk '{print "HAProxy "$3}'), $(nginx -v 2>&1 | sed 's|.*/|nginx |'), $(h2load --version | head -1 | awk '{print "h2load "$2}'); one proxy thread on CPU 0, h2load + the Python gRPC server on CPU 1"
echo "unary calls, $CONNS connections x $STREAMS streams; ${DURATION}s per run, median of $REPS interleaved rounds; load average at end $(cut -d' ' -f1-3 /proc/loadavg)"
echo
python3 - "$WORK/results" "$TARGETS" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    t, *vals = line.split()
    runs.setdefault(t, []).append([float(v) for v in vals])
names = {"direct": "direct (no proxy)", "haproxy": "HAProxy", "nginx": "nginx", "fairway": "fairway"}
med = lambda t, i: statistics.median(r[i] for r in runs[t])
print("| target | calls/s | mean latency ms | proxy CPU µs/call |")
print("|---|---:|---:|---:|")
for t in sys.argv[2].split():
    cpu = "-" if t == "direct" else f"{med(t, 2):.1f}"
    print(f"| {names[t]} | {med(t, 0):,.0f} | {med(t, 1):.2f} | {cpu} |")
if "haproxy" in runs and "fairway" in runs:
    print(f"| **fairway / HAProxy** | **{med('fairway', 0) / med('haproxy', 0):.2f}** | **{med('fairway', 1) / med('haproxy', 1):.2f}** | **{med('fairway', 2) / med('haproxy', 2):.2f}** |")
print()
print("runs (calls/s):", "; ".join(f"{t} " + "/".join(f"{r[0]:.0f}" for r in v) for t, v in runs.items()))
EOF
