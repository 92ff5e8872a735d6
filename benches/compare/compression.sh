#!/usr/bin/env bash
# Compressed responses: fairway's gzip (and br, zstd) against HAProxy's and
# nginx's gzip, on the same content, on this machine, over loopback.
#
#   benches/compare/compression.sh                # builds fairway (release) if needed
#   benches/compare/compression.sh --quick        # 3 s per run, 1 round
#   FAIRWAY_BIN=/path/to/fairway benches/compare/compression.sh --reps 5
#
# Options: --reps N (3), --duration S (10), --conns N (50), --skip-install.
# Env: FAIRWAY_BIN, WARMUP (2 s per target).
#
# The content: `page.html`, 128 KiB of English text in HTML (the licences in
# /usr/share/common-licenses, which every Debian has), served by one nginx
# process (CPU 1, with wrk) with its Content-Length. Each proxy runs one
# thread on CPU 0 and compresses at its fast level: HAProxy `compression
# algo gzip` (level 1, tune.comp.maxlevel's default), nginx `gzip on`
# (gzip_comp_level 1), fairway `compression: { algos: [gzip] }` (level 1),
# and fairway again with br and zstd (level 1 each) for reference. wrk
# asks with `Accept-Encoding` naming the one coding.
#
# Measured per run (rounds interleaved, medians): responses/s; the proxy's
# CPU time per response and per MiB of content compressed (utime+stime from
# /proc/PID/stat); the compressed size of the page (curl, once).
set -euo pipefail
cd "$(dirname "$0")/../.."

REPS=3
DURATION=10
CONNS=50
SKIP_INSTALL=0
WARMUP=${WARMUP:-2}
while [ $# -gt 0 ]; do
  case $1 in
    --reps) REPS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --quick) DURATION=3; REPS=1; WARMUP=1; shift ;;
    --skip-install) SKIP_INSTALL=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "compression.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

WORK=$(mktemp -d /tmp/fairway-compbench.XXXXXX)
chmod 755 "$WORK"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

missing=()
for t in haproxy nginx wrk curl; do command -v "$t" >/dev/null || missing+=("$t"); done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$SKIP_INSTALL" = 1 ] && { echo "compression.sh: missing ${missing[*]}" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ -z "${FAIRWAY_BIN:-}" ]; then
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/fairway-release}
  cargo build --release --quiet --bin fairway
  FAIRWAY_BIN=$CARGO_TARGET_DIR/release/fairway
fi

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
UP=$(port)
TARGETS="haproxy nginx fairway fairway-br fairway-zstd"
declare -A PORT=([haproxy]=$(port) [nginx]=$(port) [fairway]=$(port) [fairway-br]=$(port) [fairway-zstd]=$(port))
declare -A CODING=([haproxy]=gzip [nginx]=gzip [fairway]=gzip [fairway-br]=br [fairway-zstd]=zstd)
declare -A PID=()
start() {  # name cpus cmd...
  local name=$1 cpus=$2; shift 2
  taskset -c "$cpus" "$@" >"$WORK/$name.log" 2>&1 &
  pids+=($!); PID[$name]=$!
}
wait_http() {
  for _ in $(seq 400); do
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/page.html" && return 0
    sleep 0.05
  done
  echo "compression.sh: nothing answers on $1" >&2; exit 1
}

# The page: 128 KiB of licence text as HTML.
{ echo '<!doctype html><html><head><title>licences</title></head><body><pre>'
  cat /usr/share/common-licenses/* 2>/dev/null || true; } > "$WORK/page.html"
truncate -s 131072 "$WORK/page.html"
SIZE=$(stat -c %s "$WORK/page.html")
chmod 644 "$WORK/page.html"

cat > "$WORK/upstream.conf" <<EOF
daemon off; master_process off; worker_processes 1;
pid $WORK/upstream.pid; error_log $WORK/upstream-error.log warn;
events { worker_connections 4096; }
http {
  access_log off; server_tokens off; include /etc/nginx/mime.types;
  sendfile on; keepalive_timeout 300s; keepalive_requests 100000000;
  open_file_cache max=16 inactive=300s;
  client_body_temp_path $WORK/t1; proxy_temp_path $WORK/t2; fastcgi_temp_path $WORK/t3;
  uwsgi_temp_path $WORK/t4; scgi_temp_path $WORK/t5;
  server { listen 127.0.0.1:$UP backlog=4096; root $WORK; }
}
EOF
start upstream 1 nginx -p "$WORK" -e "$WORK/upstream-error.log" -c "$WORK/upstream.conf"
wait_http "$UP"

cat > "$WORK/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 10s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend clients
  bind 127.0.0.1:${PORT[haproxy]}
  compression algo gzip
  compression type text/html
  default_backend app
backend app
  server s 127.0.0.1:$UP
EOF
cat > "$WORK/nginx.conf" <<EOF
daemon off; worker_processes 1;
pid $WORK/nginx.pid; error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off; server_tokens off;
  keepalive_timeout 60s; keepalive_requests 100000000;
  client_body_temp_path $WORK/t6; proxy_temp_path $WORK/t7; fastcgi_temp_path $WORK/t8;
  uwsgi_temp_path $WORK/t9; scgi_temp_path $WORK/t10;
  upstream app { server 127.0.0.1:$UP; keepalive 256; }
  server {
    listen 127.0.0.1:${PORT[nginx]} backlog=4096;
    gzip on; gzip_comp_level 1; gzip_types text/html; gzip_proxied any;
    proxy_http_version 1.1; proxy_set_header Connection "";
    location / { proxy_pass http://app; }
  }
}
EOF
front() {  # name algo
  printf '  %s:\n    bind: 127.0.0.1:%s\n    forwardfor: false\n    compression: { algos: [%s], types: [text/html] }\n    default_backend: app\n' \
    "$1" "${PORT[$1]}" "$2"
}
cat > "$WORK/fairway.yaml" <<EOF
global:
  threads: 1
  grace_period: 0s
  pid_file: $WORK/fairway.pid
  upgrade_sock: $WORK/fairway.sock
  log_level: warn
  access_log: false
frontends:
$(front fairway gzip)
$(front fairway-br br)
$(front fairway-zstd zstd)
backends:
  app:
    servers: { s: { addr: 127.0.0.1:$UP } }
EOF
start haproxy 0 haproxy -db -f "$WORK/haproxy.cfg"
start nginx 0 nginx -p "$WORK" -e "$WORK/nginx-error.log" -c "$WORK/nginx.conf"
start fairway 0 "$FAIRWAY_BIN" -c "$WORK/fairway.yaml"
PID[fairway-br]=${PID[fairway]}; PID[fairway-zstd]=${PID[fairway]}
for t in $TARGETS; do wait_http "${PORT[$t]}"; done

# Every target compresses with its coding, and the page decodes whole.
declare -A OUT=()
for t in $TARGETS; do
  c=${CODING[$t]}
  enc=$(curl -s -D - -o "$WORK/$t.body" -H "Accept-Encoding: $c" "http://127.0.0.1:${PORT[$t]}/page.html" \
        | awk -F': ' 'tolower($1)=="content-encoding"{print $2}' | tr -d '\r')
  [ "$enc" = "$c" ] || { echo "compression.sh: $t answered Content-Encoding [$enc], not $c" >&2; exit 1; }
  OUT[$t]=$(stat -c %s "$WORK/$t.body")
  python3 - "$WORK/$t.body" "$WORK/page.html" "$c" <<'EOF' || { echo "compression.sh: $t: the page does not decode" >&2; exit 1; }
import sys, gzip
body, page, coding = open(sys.argv[1], 'rb').read(), open(sys.argv[2], 'rb').read(), sys.argv[3]
if coding == 'gzip':
    assert gzip.decompress(body) == page
EOF
done

proc_ticks() {  # utime+stime of a process and its children (nginx's worker), in ticks
  local sum=0 p
  for p in "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null); do
    [ -r "/proc/$p/stat" ] && sum=$((sum + $(awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$p/stat")))
  done
  echo "$sum"
}
HZ=$(getconf CLK_TCK)
run() {  # target
  local t=$1 c0 c1 rps reqs
  c0=$(proc_ticks "${PID[$t]}")
  taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" -H "Accept-Encoding: ${CODING[$t]}" \
    "http://127.0.0.1:${PORT[$t]}/page.html" > "$WORK/wrk.out" 2>&1
  c1=$(proc_ticks "${PID[$t]}")
  rps=$(awk '/^Requests\/sec:/{print $2}' "$WORK/wrk.out")
  reqs=$(awk '/ requests in /{print $1}' "$WORK/wrk.out")
  [ -z "$rps" ] && { echo "compression.sh: wrk failed for $t" >&2; cat "$WORK/wrk.out" >&2; exit 1; }
  echo "$t $rps $(awk -v d=$((c1 - c0)) -v hz="$HZ" -v n="$reqs" -v s="$SIZE" \
    'BEGIN{printf "%.1f %.2f", 1e6 * d / hz / n, 1e3 * d / hz / (n * s / 1048576)}')" >> "$WORK/results"
  printf '  %-13s %8.0f resp/s\n' "$t" "$rps" >&2
}
read -ra tl <<< "$TARGETS"
for t in "${tl[@]}"; do
  taskset -c 1 wrk -t1 -c"$CONNS" -d"${WARMUP}s" -H "Accept-Encoding: ${CODING[$t]}" "http://127.0.0.1:${PORT[$t]}/page.html" > /dev/null
done
: > "$WORK/results"
for rep in $(seq "$REPS"); do
  n=${#tl[@]}
  for ((k = 0; k < n; k++)); do run "${tl[$(((k + rep - 1) % n))]}"; sleep 1; done
done

echo
echo "fairway $("$FAIRWAY_BIN" --version | awk '{print $2}'), $(haproxy -v | head -1 | awk '{print "HAProxy "$3}'), $(nginx -v 2>&1 | sed 's|.*/|nginx |'); one proxy thread on CPU 0, wrk -c$CONNS + nginx upstream on CPU 1"
echo "page.html: $SIZE bytes; ${DURATION}s per run, median of $REPS interleaved rounds; load average at end $(cut -d' ' -f1-3 /proc/loadavg)"
echo
declare -p OUT | sed 's/^declare -A OUT=//' > "$WORK/sizes"
python3 - "$WORK/results" "$TARGETS" "$SIZE" "$WORK/sizes" <<'EOF'
import re, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    t, *vals = line.split()
    runs.setdefault(t, []).append([float(v) for v in vals])
size = int(sys.argv[3])
sizes = dict(re.findall(r'\[([\w-]+)\]="(\d+)"', open(sys.argv[4]).read()))
names = {"haproxy": "HAProxy gzip", "nginx": "nginx gzip", "fairway": "fairway gzip",
         "fairway-br": "fairway br", "fairway-zstd": "fairway zstd"}
med = lambda t, i: statistics.median(r[i] for r in runs[t])
print("| target | responses/s | MiB/s of content | proxy CPU µs/response | CPU ms per MiB | compressed size | ratio |")
print("|---|---:|---:|---:|---:|---:|---:|")
for t in sys.argv[2].split():
    out = int(sizes[t])
    print(f"| {names[t]} | {med(t, 0):,.0f} | {med(t, 0) * size / 1048576:,.1f} | {med(t, 1):.0f} | {med(t, 2):.2f} | {out:,} B | {size / out:.2f} |")
if "haproxy" in runs and "fairway" in runs:
    print(f"| **fairway / HAProxy (gzip)** | **{med('fairway', 0) / med('haproxy', 0):.2f}** | | **{med('fairway', 1) / med('haproxy', 1):.2f}** | **{med('fairway', 2) / med('haproxy', 2):.2f}** | {int(sizes['fairway']) / int(sizes['haproxy']):.2f} | |")
print()
print("runs (responses/s):", "; ".join(f"{t} " + "/".join(f"{r[0]:.0f}" for r in v) for t, v in runs.items()))
EOF
