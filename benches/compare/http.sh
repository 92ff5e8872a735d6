#!/usr/bin/env bash
# fairway vs HAProxy and nginx in HTTP mode, on this machine, over loopback.
#
#   benches/compare/http.sh                  # builds fairway (release) if needed, runs, prints a table
#   benches/compare/http.sh --quick          # 3 s per run, 1 round: a smoke test
#   benches/compare/http.sh --loads "post-c50 upload-10m"   # only the loads with request bodies
#   benches/compare/http.sh --threads 2      # 2 worker threads per proxy, nothing pinned
#   FAIRWAY_BIN=/path/to/fairway benches/compare/http.sh --reps 5 --duration 20
#
#   benches/compare/http.sh --access-log     # + fairway and HAProxy writing access logs
#   benches/compare/http.sh --access-log --callgrind --targets "haproxy fairway"  # instructions/request
#
# Options: --reps N (3), --duration S (10), --threads N (1), --quick,
#   --loads "small-c50 small-c200 big-c50 post-c50 upload-10m" (the default),
#   --targets "direct haproxy nginx pingora fairway" (pingora is skipped
#   when no binary is found), --uploads N (5 uploads per target and round),
#   --access-log, --callgrind (both below),
#   --skip-install, --out DIR (keep the raw results there).
# Env: FAIRWAY_BIN, PINGORA_BIN (a minimal Pingora proxy taking --listen/--threads/--default/--api, from the bench rig outside this repository;
#   default /tmp/pingora-minimal-target/release/pingora-minimal if present),
#   WARMUP (2 s per target), WRK_THREADS (1), KEEP_WORK=1 (keep the work dir),
#   BASELINE_BIN (another fairway binary, e.g. a build before a change: adds
#   target `baseline`, same config, for before/after figures in one run),
#   ACCESS_LOG_FORMAT (the log-format string of --access-log, below),
#   UPLOAD_EXPECT=0 (upload-10m without `Expect: 100-continue`; by default
#   curl sends it, as it does for any body above 1 MiB).
#
# Access logging (docs/performance.md, session 8). The default run logs
# nothing. `--access-log` adds, in the same run, the same proxies with one
# access line per request:
#   fairway-log    fairway, `access_log: true` (`fairway` key=value format)
#   fairway-json   fairway, `access_log_format: json`
#   fairway-lf     fairway, the HAProxy log-format string $ACCESS_LOG_FORMAT
#   haproxy-lf     HAProxy, the same log-format string (`log stdout format raw`)
# (or name them in --targets; `haproxy-syslog` -- HAProxy sending the same
# lines over UDP to a local syslog sink, a Python receiver on the load CPU
# that appends them to a file -- only that way). Lines go where an operator
# would send them without a syslog daemon: a file on disk,
# $WORK/<target>.log (fairway's stderr, HAProxy's stdout; /tmp here is not a
# tmpfs). The report adds `<variant> / fairway` and `haproxy-lf / HAProxy`
# rows, and the size of each access log. $ACCESS_LOG_FORMAT defaults to
# HAProxy's httplog without the fields fairway does not write (%TR, %CC,
# %CS, connection counts, queues, captures).
#
# `--callgrind`: no load rounds; instead each target runs under
# `valgrind --tool=callgrind` twice per round -- once answering one request
# (start-up and shutdown), once under `wrk -t1 -c10 -d${CG_DURATION:-10}s` --
# and the report gives user-space instructions per request (the difference
# of the two totals over wrk's requests; kernel time is not counted), median
# over --reps. The profiles stay in --out DIR (callgrind_annotate them).
# nginx runs with `master_process off` in this mode.
#
# The scenario is the README's demo (a classic HAProxy demo): ACLs
# `path_end -i /lightwork` and `path_end -i /heavywork` choose two small
# backends, `http-request deny if { path -i -m beg /admin }`, and everything
# else goes round robin over four servers, with keep-alive to the clients
# and to the servers, idle server connections shared by all clients
# (HAProxy `http-reuse always`, fairway `http_reuse: always`, nginx's
# `keepalive` pool). No logging, no X-Forwarded-For (the demo adds none),
# no health checks. Each proxy is given the same number of worker threads
# (HAProxy nbthread, nginx worker_processes, fairway/Pingora threads).
#
# Upstream: one nginx process (no master, one event loop) listening on four
# ports; GET or POST / answers `return 200` with a 100-byte body naming the
# server (a request body is discarded, the connection kept), GET /big a
# 64 KiB file; POST /upload is read whole (in memory) before the answer,
# as an upload handler does (nginx passes it to itself, /upload-sink), so
# that the answer cannot overtake the body; `client_max_body_size 0`. Loads:
#   small-c50   GET /     100-byte body, 50 connections    } wrk, keep-alive,
#   small-c200  GET /     100-byte body, 200 connections   } closed loop:
#   big-c50     GET /big  64 KiB body, 50 connections      } req/s
#   post-c50    POST / with a 1 KiB body, 50 connections   }
#   upload-10m  one 10 MiB POST /upload (curl --data-binary @file, a new
#               connection each), --uploads times in a row per target and
#               round: seconds per upload, median (lower is better)
# plus `direct` (straight to one upstream port) as the ceiling. So that the
# bodies pass unhindered everywhere: nginx (as proxy) has
# `client_max_body_size 0` and `proxy_request_buffering off` (it streams
# the body as HAProxy does instead of spooling it to disk first); HAProxy
# and fairway need nothing (fairway has no request-body size limit: no
# such key in its configuration).
#
# CPU pinning. With --threads 1 (the default) every proxy runs on CPU 0 and
# wrk and the upstream share CPU 1, so the proxy under test has a core of
# its own and the load generator cannot steal it (nor can the proxy slow the
# load generator): req/s then measure the proxy, until CPU 1 saturates --
# the `direct` row shows where that is. With --threads N > 1 nothing is
# pinned (the proxy, wrk and the upstream compete for every core, as in a
# real box); compare ratios, not absolute figures, there.
#
# Runs are interleaved: every round runs each target once, the order
# rotating each round (A B C D, B C D A, ...), so that drift on a shared
# machine hits every target alike; figures are medians over the rounds.
# Measured per run: req/s, p50 and p99 latency (wrk --latency) -- for
# upload-10m instead the median, fastest and slowest seconds per upload --,
# proxy CPU time per request or upload (utime+stime of the proxy's processes from
# /proc/PID/stat, before and after), peak RSS of the proxy's processes
# (sampled every 0.2 s), and "other %": CPU busy time during the run not
# spent by the proxy, the upstream or wrk (someone else's load -- a run with
# a high figure is suspect). Ratios are fairway / HAProxy: above 1 is better
# for req/s, below 1 is better for latency, CPU and seconds per upload.
#
# Needs haproxy, nginx, wrk, curl (Debian packages of those names; installed with
# apt-get when missing unless --skip-install), python3, cargo. Everything
# listens on 127.0.0.1; only processes this script started are stopped.
set -euo pipefail
cd "$(dirname "$0")/../.."

REPS=3
DURATION=10
THREADS=1
LOADS="small-c50 small-c200 big-c50 post-c50 upload-10m"
UPLOADS=5
TARGETS="direct haproxy nginx pingora fairway"
[ -n "${BASELINE_BIN:-}" ] && TARGETS="$TARGETS baseline"
SKIP_INSTALL=0
OUT=
ACCESS_LOG=0
CALLGRIND=0
CG_DURATION=${CG_DURATION:-10}
ACCESS_LOG_FORMAT=${ACCESS_LOG_FORMAT:-'%ci:%cp [%tr] %ft %b/%s %Tw/%Tc/%Tr/%Ta %ST %B %tsc %{+Q}r'}
WARMUP=${WARMUP:-2}
WRK_THREADS=${WRK_THREADS:-1}
while [ $# -gt 0 ]; do
  case $1 in
    --reps) REPS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --quick) DURATION=3; REPS=1; WARMUP=1; shift ;;
    --loads) LOADS=$2; shift 2 ;;
    --targets) TARGETS=$2; shift 2 ;;
    --uploads) UPLOADS=$2; shift 2 ;;
    --skip-install) SKIP_INSTALL=1; shift ;;
    --access-log) ACCESS_LOG=1; shift ;;
    --callgrind) CALLGRIND=1; shift ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "http.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ "$ACCESS_LOG" = 1 ]; then
  for t in fairway-log fairway-json fairway-lf haproxy-lf; do
    [[ " $TARGETS " == *" $t "* ]] || TARGETS="$TARGETS $t"
  done
fi
if [ "$CALLGRIND" = 1 ]; then
  command -v valgrind >/dev/null || { echo "http.sh: --callgrind needs valgrind" >&2; exit 1; }
  TARGETS=${TARGETS//direct/}
fi

WORK=$(mktemp -d /tmp/fairway-httpbench.XXXXXX)
chmod 755 "$WORK"   # nginx workers started as root run as nobody
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$OUT" ]; then mkdir -p "$OUT" && cp "$WORK"/results "$WORK"/*.cfg "$WORK"/*.conf "$WORK"/*.yaml "$WORK"/callgrind.* "$OUT"/ 2>/dev/null || true; fi
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

# Tools.
missing=()
for t in haproxy nginx wrk curl; do command -v "$t" >/dev/null || missing+=("$t"); done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$SKIP_INSTALL" = 1 ] && { echo "http.sh: missing ${missing[*]}" >&2; exit 1; }
  echo "http.sh: installing ${missing[*]} (apt-get)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ -z "${FAIRWAY_BIN:-}" ]; then
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/fairway-release}
  cargo build --release --quiet --bin fairway
  FAIRWAY_BIN=$CARGO_TARGET_DIR/release/fairway
fi
PINGORA_BIN=${PINGORA_BIN:-/tmp/pingora-minimal-target/release/pingora-minimal}
if [[ " $TARGETS " == *" pingora "* && ! -x $PINGORA_BIN ]]; then
  echo "http.sh: no bare Pingora binary at $PINGORA_BIN; skipping that column" >&2
  TARGETS=${TARGETS//pingora/}
fi

for load in $LOADS; do
  [[ $load =~ ^(small|big|post)-c[0-9]+$ || $load = upload-10m ]] \
    || { echo "http.sh: unknown load $load (small-cN, big-cN, post-cN, upload-10m)" >&2; exit 2; }
done

if [ "$THREADS" = 1 ]; then PROXY_CPUS=0; LOAD_CPUS=1; PIN="proxy on CPU 0, wrk + upstream on CPU 1"
else PROXY_CPUS=0-$(($(nproc) - 1)); LOAD_CPUS=$PROXY_CPUS; PIN="nothing pinned"; fi

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
UP1=$(port); UP2=$(port); UP3=$(port); UP4=$(port)
declare -A PORT=([direct]=$UP1 [haproxy]=$(port) [nginx]=$(port) [pingora]=$(port) [fairway]=$(port) [baseline]=$(port)
  [fairway-log]=$(port) [fairway-json]=$(port) [fairway-lf]=$(port) [haproxy-lf]=$(port) [haproxy-syslog]=$(port))
declare -A PID=()

WAIT_TRIES=400; WAIT_MAX=1
[ "$CALLGRIND" = 1 ] && { WAIT_TRIES=2400; WAIT_MAX=20; }  # start-up under valgrind is slow
wait_http() {  # port pid: until GET / answers
  for _ in $(seq "$WAIT_TRIES"); do
    curl -s -o /dev/null --max-time "$WAIT_MAX" "http://127.0.0.1:$1/" && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.05
  done
  echo "http.sh: nothing answers on $1" >&2; exit 1
}
start() {  # name cpus cmd...
  local name=$1 cpus=$2; shift 2
  taskset -c "$cpus" "$@" >"$WORK/$name.log" 2>&1 &
  pids+=($!); PID[$name]=$!
}

# ---------------------------------------------------------------- upstream
head -c 65536 /dev/urandom > "$WORK/big"; chmod 644 "$WORK/big"
# Request bodies: post-c50's wrk script (wrk adds the Content-Length), the upload.
cat > "$WORK/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = string.rep("x", 1024)
wrk.headers["Content-Type"] = "application/octet-stream"
EOF
UPLOAD_BYTES=$((10 * 1024 * 1024))
[[ " $LOADS " == *" upload-10m "* ]] && head -c "$UPLOAD_BYTES" /dev/urandom > "$WORK/upload"
UPLOAD_CURL=(curl -s -o /dev/null --max-time 60 -w '%{http_code} %{time_total} %{size_upload}\n'
  -H 'Content-Type: application/octet-stream' --data-binary "@$WORK/upload")
[ "${UPLOAD_EXPECT:-1}" = 0 ] && UPLOAD_CURL+=(-H 'Expect:')
upstream_server() {  # port name: a 100-byte body naming the server
  local body; body=$(printf 'upstream=%s %-88s' "$2" '' | tr ' ' .)
  echo "  server { listen 127.0.0.1:$1 backlog=4096; root $WORK; location = /big { }
    location / { return 200 \"${body:0:99}\n\"; }
    location = /upload { client_body_buffer_size 16m; proxy_pass http://127.0.0.1:$1/upload-sink; }
    location = /upload-sink { return 200 \"${body:0:16} got \$content_length bytes\n\"; } }"
}
cat > "$WORK/upstream.conf" <<EOF
daemon off; master_process off; worker_processes 1;
pid $WORK/upstream.pid; error_log $WORK/upstream-error.log warn;
worker_rlimit_nofile 65535;
events { worker_connections 16384; }
http {
  access_log off; server_tokens off; default_type text/plain;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_timeout 300s; keepalive_requests 100000000;
  client_max_body_size 0;
  open_file_cache max=16 inactive=300s;
  client_body_temp_path $WORK/t-up-body; proxy_temp_path $WORK/t-up-proxy;
  fastcgi_temp_path $WORK/t-up-fcgi; uwsgi_temp_path $WORK/t-up-uwsgi; scgi_temp_path $WORK/t-up-scgi;
$(upstream_server "$UP1" server1)
$(upstream_server "$UP2" server2)
$(upstream_server "$UP3" server3)
$(upstream_server "$UP4" server4)
}
EOF
start upstream "$LOAD_CPUS" nginx -p "$WORK" -e "$WORK/upstream-error.log" -c "$WORK/upstream.conf"
wait_http "$UP1" "${PID[upstream]}"

# ------------------------------------------------------------------ proxies
cat > "$WORK/haproxy.cfg" <<EOF
global
  nbthread $THREADS
  maxconn 4096
defaults
  mode http
  option http-keep-alive
  timeout connect 10s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
  http-reuse always
frontend clients
  bind 127.0.0.1:${PORT[haproxy]}
  acl lightwork path_end -i /lightwork
  acl heavywork path_end -i /heavywork
  http-request deny if { path -i -m beg /admin }
  use_backend lightServers if lightwork
  use_backend heavyServers if heavywork
  default_backend servers
backend lightServers
  server server1 127.0.0.1:$UP1
  server server2 127.0.0.1:$UP2
backend heavyServers
  balance source
  server server3 127.0.0.1:$UP3
  server server4 127.0.0.1:$UP4
backend servers
  balance roundrobin
  server server1 127.0.0.1:$UP1
  server server2 127.0.0.1:$UP2
  server server3 127.0.0.1:$UP3
  server server4 127.0.0.1:$UP4
EOF

NGINX_MASTER=; [ "$CALLGRIND" = 1 ] && NGINX_MASTER=" master_process off;"
cat > "$WORK/nginx.conf" <<EOF
daemon off; worker_processes $THREADS;$NGINX_MASTER
pid $WORK/nginx.pid; error_log $WORK/nginx-error.log warn;
worker_rlimit_nofile 65535;
events { worker_connections 16384; }
http {
  access_log off; server_tokens off; tcp_nodelay on;
  keepalive_timeout 60s; keepalive_requests 100000000;
  client_max_body_size 0; proxy_request_buffering off;  # stream request bodies, as HAProxy
  client_body_temp_path $WORK/t-body; proxy_temp_path $WORK/t-proxy;
  fastcgi_temp_path $WORK/t-fcgi; uwsgi_temp_path $WORK/t-uwsgi; scgi_temp_path $WORK/t-scgi;
  upstream lightServers { server 127.0.0.1:$UP1; server 127.0.0.1:$UP2; keepalive 256; keepalive_requests 100000000; }
  upstream heavyServers { hash \$remote_addr; server 127.0.0.1:$UP3; server 127.0.0.1:$UP4; keepalive 256; keepalive_requests 100000000; }
  upstream servers { server 127.0.0.1:$UP1; server 127.0.0.1:$UP2; server 127.0.0.1:$UP3; server 127.0.0.1:$UP4;
                     keepalive 256; keepalive_requests 100000000; }
  server {
    listen 127.0.0.1:${PORT[nginx]} backlog=4096;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_buffer_size 16k; proxy_buffers 8 16k; proxy_busy_buffers_size 32k;  # 64 KiB in memory
    location ~* ^/admin { return 403; }
    location ~* /lightwork\$ { proxy_pass http://lightServers; }
    location ~* /heavywork\$ { proxy_pass http://heavyServers; }
    location / { proxy_pass http://servers; }
  }
}
EOF

cat > "$WORK/fairway.yaml" <<EOF
global:
  threads: $THREADS
  grace_period: 0s
  pid_file: $WORK/fairway.pid
  upgrade_sock: $WORK/fairway.sock
  log_level: warn
  access_log: false
frontends:
  clients:
    bind: 127.0.0.1:${PORT[fairway]}
    timeout_client: 60s
    forwardfor: false
    acl:
      lightwork: path_end -i /lightwork
      heavywork: path_end -i /heavywork
    http_request:
      - deny if { path -i -m beg /admin }
    use_backend:
      - lightServers if lightwork
      - heavyServers if heavywork
    default_backend: servers
backends:
  lightServers:
    http_reuse: always
    servers: { server1: { addr: 127.0.0.1:$UP1 }, server2: { addr: 127.0.0.1:$UP2 } }
  heavyServers:
    balance: source
    http_reuse: always
    servers: { server3: { addr: 127.0.0.1:$UP3 }, server4: { addr: 127.0.0.1:$UP4 } }
  servers:
    balance: roundrobin
    http_reuse: always
    servers:
      server1: { addr: 127.0.0.1:$UP1 }
      server2: { addr: 127.0.0.1:$UP2 }
      server3: { addr: 127.0.0.1:$UP3 }
      server4: { addr: 127.0.0.1:$UP4 }
EOF

# Access-log variants: the same configs, another port, one line per request.
sed_escape() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }
fairway_variant() {  # name format
  local q; q=$(sed_escape "${2//\'/\'\'}")
  sed -e "s|127.0.0.1:${PORT[fairway]}|127.0.0.1:${PORT[$1]}|" -e "s|/fairway\.|/$1.|" \
      -e "s|^  access_log: false|  access_log: true\n  access_log_format: '$q'|" "$WORK/fairway.yaml" > "$WORK/$1.yaml"
}
haproxy_variant() {  # name log-target
  sed -e "s|127.0.0.1:${PORT[haproxy]}|127.0.0.1:${PORT[$1]}|" \
      -e "s|^  maxconn 4096|&\n  log $2 local0|" \
      -e "s|^  mode http|&\n  log global\n  log-format \"$(sed_escape "$ACCESS_LOG_FORMAT")\"|" "$WORK/haproxy.cfg" > "$WORK/$1.cfg"
}
fairway_variant fairway-log fairway
fairway_variant fairway-json json
fairway_variant fairway-lf "$ACCESS_LOG_FORMAT"
haproxy_variant haproxy-lf "stdout format raw"
SYSLOG_PORT=$(port)
haproxy_variant haproxy-syslog "127.0.0.1:$SYSLOG_PORT len 4096"
[ -n "${BASELINE_BIN:-}" ] &&
  sed -e "s|127.0.0.1:${PORT[fairway]}|127.0.0.1:${PORT[baseline]}|" -e "s|/fairway\.|/baseline.|" \
    "$WORK/fairway.yaml" > "$WORK/baseline.yaml"

launch() {  # target [wrapper...]: starts the target (under the wrapper, e.g. valgrind)
  local t=$1; shift
  case $t in
    direct) return ;;
    haproxy|haproxy-lf) start "$t" "$PROXY_CPUS" "$@" haproxy -db -f "$WORK/$t.cfg" ;;
    haproxy-syslog)
      # The syslog sink: a UDP receiver appending what it gets to a file.
      [ -n "${PID[syslog-sink]:-}" ] || start syslog-sink "$LOAD_CPUS" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind(("127.0.0.1", int(sys.argv[1])))
with open(sys.argv[2], "ab", buffering=0) as f:  # a write per line, as a syslog daemon
    while True:
        d = s.recv(65536)
        f.write(d if d.endswith(b"\n") else d + b"\n")' "$SYSLOG_PORT" "$WORK/haproxy-syslog.sink"
      : > "$WORK/haproxy-syslog.sink"
      start "$t" "$PROXY_CPUS" "$@" haproxy -db -f "$WORK/$t.cfg" ;;
    nginx) start nginx "$PROXY_CPUS" "$@" nginx -p "$WORK" -e "$WORK/nginx-error.log" -c "$WORK/nginx.conf" ;;
    # Bare Pingora routes by prefix (/api, /admin), not by the demo's ACLs:
    # GET / goes round robin over the same four servers.
    pingora) start pingora "$PROXY_CPUS" "$@" "$PINGORA_BIN" --listen "127.0.0.1:${PORT[pingora]}" --threads "$THREADS" \
               --default "127.0.0.1:$UP1,127.0.0.1:$UP2,127.0.0.1:$UP3,127.0.0.1:$UP4" \
               --api "127.0.0.1:$UP1,127.0.0.1:$UP2" --state-dir "$WORK" ;;
    fairway|fairway-log|fairway-json|fairway-lf) start "$t" "$PROXY_CPUS" "$@" "$FAIRWAY_BIN" -c "$WORK/$t.yaml" ;;
    baseline) start baseline "$PROXY_CPUS" "$@" "$BASELINE_BIN" -c "$WORK/baseline.yaml" ;;
    *) echo "http.sh: unknown target $t" >&2; exit 2 ;;
  esac
  wait_http "${PORT[$t]}" "${PID[$t]}"
}
# Where a target's access lines go (none: no access log).
access_log_file() {
  case $1 in
    fairway-log|fairway-json|fairway-lf|haproxy-lf) echo "$WORK/$1.log" ;;
    haproxy-syslog) echo "$WORK/haproxy-syslog.sink" ;;
  esac
}

[ "$CALLGRIND" = 1 ] || for t in $TARGETS; do launch "$t"; done

# Same answers everywhere: round robin over the four servers, /admin denied;
# the access-log variants wrote their lines.
[ "$CALLGRIND" = 1 ] || for t in $TARGETS; do
  [ "$t" = direct ] && continue
  seen=$(for _ in 1 2 3 4 5 6 7 8; do curl -s "http://127.0.0.1:${PORT[$t]}/" | cut -c10-16; done | sort -u | tr '\n' ' ')
  admin=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${PORT[$t]}/admin/x")
  big=$(curl -s -o /dev/null -w '%{size_download}' "http://127.0.0.1:${PORT[$t]}/big")
  [ "$seen" = "server1 server2 server3 server4 " ] && [ "$admin" = 403 ] && [ "$big" = 65536 ] \
    || { echo "http.sh: $t misbehaves: GET / reached [$seen], /admin/x -> $admin, /big -> $big bytes" >&2; exit 1; }
  if [[ " $LOADS " == *" post-c"* ]]; then  # a 1 KiB POST, then a GET on the same connection
    fmt='%{http_code} %{size_upload} %{num_connects}\n'
    post=$(head -c 1024 /dev/zero | tr '\0' x | curl -s -o /dev/null -w "$fmt" --data-binary @- "http://127.0.0.1:${PORT[$t]}/" \
      --next -s -o /dev/null -w "$fmt" "http://127.0.0.1:${PORT[$t]}/" | tr '\n' ' ')
    [ "$post" = "200 1024 1 200 0 0 " ] \
      || { echo "http.sh: $t misbehaves: POST / (1 KiB) then GET / on one connection -> [$post] (want 200 1024 1 200 0 0)" >&2; exit 1; }
  fi
  if [[ " $LOADS " == *" upload-10m "* ]]; then
    up=$("${UPLOAD_CURL[@]}" "http://127.0.0.1:${PORT[$t]}/upload" || true)
    [[ $up == "200 "*" $UPLOAD_BYTES" ]] \
      || { echo "http.sh: $t misbehaves: 10 MiB POST /upload -> [$up] (want 200 ... $UPLOAD_BYTES)" >&2; exit 1; }
  fi
  f=$(access_log_file "$t")
  [ -z "$f" ] && continue
  sleep 0.3
  grep -q '/big' "$f" 2>/dev/null \
    || { echo "http.sh: $t wrote no access line for GET /big to $f" >&2; exit 1; }
done

# ------------------------------------------------------------- measurement
proc_ticks() {  # utime+stime of the processes (and their threads) $@, in ticks
  local sum=0 p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    sum=$((sum + $(awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$p/stat")))
  done
  echo "$sum"
}
tree() {  # a process and its children (nginx workers)
  echo "$1"; cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+$' || true
}
busy_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
rss_sampler() {  # out pids...: peak summed VmRSS in kB, until killed
  local out=$1 max=0 s; shift
  while :; do
    s=$(for p in "$@"; do awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null; done | awk '{s+=$1} END{print s+0}')
    [ "$s" -gt "$max" ] && { max=$s; echo "$max" > "$out"; }
    sleep 0.2
  done
}
to_ms() { awk -v x="$1" 'BEGIN{v=x+0; u=x; sub(/^[0-9.]+/,"",u); if(u=="us")v/=1000; else if(u=="s")v*=1000; printf "%.3f", v}'; }
HZ=$(getconf CLK_TCK)

run() {  # load target -> one line in results
  local load=$1 t=$2 path=/ conns=${1##*-c}
  local -a script=()
  [[ $load == big-* ]] && path=/big
  [[ $load == post-* ]] && script=(-s "$WORK/post.lua")
  local -a pp=() up=()
  [ "$t" != direct ] && mapfile -t pp < <(tree "${PID[$t]}")
  mapfile -t up < <(tree "${PID[upstream]}")
  echo 0 > "$WORK/rss"
  local sampler=
  if [ ${#pp[@]} -gt 0 ]; then rss_sampler "$WORK/rss" "${pp[@]}" & sampler=$!; fi
  local p0 u0 b0 w0 p1 u1 b1 w1 TIMEFORMAT='%U %S'
  p0=$(proc_ticks "${pp[@]}"); u0=$(proc_ticks "${up[@]}"); b0=$(busy_ticks); w0=$(date +%s.%N)
  if [[ $load == upload-* ]]; then
    { time for _ in $(seq "$UPLOADS"); do
        taskset -c "$LOAD_CPUS" "${UPLOAD_CURL[@]}" "http://127.0.0.1:${PORT[$t]}/upload" || echo "curl failed"
      done > "$WORK/upload.out"; } 2> "$WORK/time"
  else
    { time taskset -c "$LOAD_CPUS" wrk -t"$WRK_THREADS" -c"$conns" -d"${DURATION}s" --latency "${script[@]}" \
        "http://127.0.0.1:${PORT[$t]}$path" > "$WORK/wrk.out" 2>&1; } 2> "$WORK/time"
  fi
  p1=$(proc_ticks "${pp[@]}"); u1=$(proc_ticks "${up[@]}"); b1=$(busy_ticks); w1=$(date +%s.%N)
  [ -n "$sampler" ] && { kill "$sampler"; wait "$sampler" 2>/dev/null || true; }
  local wcpu other
  wcpu=$(awk '{print $1 + $2}' "$WORK/time")
  other=$(awk -v all=$((b1 - b0)) -v ours=$((p1 - p0 + u1 - u0)) -v w="$wcpu" -v hz="$HZ" -v s="$(awk -v a="$w0" -v b="$w1" 'BEGIN{print b - a}')" -v n="$(nproc)" \
    'BEGIN{o = 100 * ((all - ours) / hz - w) / (s * n); printf "%.0f", (o < 0 ? 0 : o)}')
  if [[ $load == upload-* ]]; then
    # Seconds per upload: median, fastest, slowest; proxy CPU ms per upload.
    local bad secs cpu_ms med lo hi
    bad=$(awk -v n="$UPLOAD_BYTES" '!($1 == 200 && $3 == n)' "$WORK/upload.out")
    [ -n "$bad" ] && { echo "http.sh: upload failed for $t: $bad" >&2; exit 1; }
    secs=$(awk '{print $2}' "$WORK/upload.out" | sort -g | awk '{v[NR] = $1} END{printf "%.4f %.4f %.4f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), v[1], v[NR]}')
    cpu_ms=$(awk -v d=$((p1 - p0)) -v hz="$HZ" -v n="$UPLOADS" 'BEGIN{printf "%.2f", 1e3 * d / hz / n}')
    echo "$load $t $secs $cpu_ms $(cat "$WORK/rss") $other" >> "$WORK/results"
    read -r med lo hi <<< "$secs"
    printf '  %-10s %-8s %7.4f s/upload (%.4f-%.4f)  %6s ms/upload  other %s%%\n' \
      "$load" "$t" "$med" "$lo" "$hi" "$([ "$t" = direct ] && echo - || echo "$cpu_ms")" "$other" >&2
    return
  fi
  local rps reqs p50 p99 errs
  rps=$(awk '/^Requests\/sec:/{print $2}' "$WORK/wrk.out")
  reqs=$(awk '/ requests in /{print $1}' "$WORK/wrk.out")
  p50=$(to_ms "$(awk '$1=="50%"{print $2}' "$WORK/wrk.out")")
  p99=$(to_ms "$(awk '$1=="99%"{print $2}' "$WORK/wrk.out")")
  errs=$(awk '/Non-2xx/{n+=$NF} /Socket errors/{gsub(/[^0-9 ]/," "); n+=$1+$2+$3+$4} END{print n+0}' "$WORK/wrk.out")
  [ -z "$rps" ] && { echo "http.sh: wrk failed for $t/$load:" >&2; cat "$WORK/wrk.out" >&2; exit 1; }
  [ "$errs" != 0 ] && echo "http.sh: warning: $errs errors or non-2xx answers in $t/$load" >&2
  local cpu_us
  cpu_us=$(awk -v d=$((p1 - p0)) -v hz="$HZ" -v n="$reqs" 'BEGIN{printf "%.2f", 1e6 * d / hz / n}')
  echo "$load $t $rps $p50 $p99 $cpu_us $(cat "$WORK/rss") $other" >> "$WORK/results"
  printf '  %-10s %-8s %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms  %6s us/req  other %s%%\n' \
    "$load" "$t" "$rps" "$p50" "$p99" "$([ "$t" = direct ] && echo - || echo "$cpu_us")" "$other" >&2
}

# ------------------------------------------------------ --callgrind mode
cg_run() {  # target kind(idle|load) rep -> one line in results
  local t=$1 kind=$2 rep=$3 out="$WORK/callgrind.$1.$2.$3" reqs=0 errs=0
  launch "$t" valgrind --tool=callgrind --callgrind-out-file="$out"
  if [ "$kind" = load ]; then
    taskset -c "$LOAD_CPUS" wrk -t1 -c10 -d"${CG_DURATION}s" "http://127.0.0.1:${PORT[$t]}/" > "$WORK/wrk.out" 2>&1
    reqs=$(awk '/ requests in /{print $1}' "$WORK/wrk.out")
    errs=$(awk '/Non-2xx/{n+=$NF} /Socket errors/{gsub(/[^0-9 ]/," "); n+=$1+$2+$3+$4} END{print n+0}' "$WORK/wrk.out")
    [ "$errs" != 0 ] && echo "http.sh: warning: $errs errors or non-2xx answers in $t under valgrind" >&2
  fi
  kill -TERM "${PID[$t]}"
  for _ in $(seq 1200); do kill -0 "${PID[$t]}" 2>/dev/null || break; sleep 0.1; done
  wait "${PID[$t]}" 2>/dev/null || true
  local ir lines=0 f
  ir=$(awk '/^(summary|totals):/{print $2; exit}' "$out" 2>/dev/null)
  [ -n "$ir" ] || { echo "http.sh: no callgrind totals for $t ($kind)" >&2; exit 1; }
  f=$(access_log_file "$t")
  [ -n "$f" ] && { sleep 0.3; lines=$(grep -c clients "$f" || true); }  # the frontend, in every format
  echo "$t $rep $kind $ir $reqs $lines" >> "$WORK/results"
  printf '  %-14s %-4s round %s: %14s Ir  %7s requests  %7s access lines\n' "$t" "$kind" "$rep" "$ir" "$reqs" "$lines" >&2
}
if [ "$CALLGRIND" = 1 ]; then
  : > "$WORK/results"
  for rep in $(seq "$REPS"); do
    for t in $TARGETS; do cg_run "$t" idle "$rep"; cg_run "$t" load "$rep"; done
  done
  echo
  echo "fairway $("$FAIRWAY_BIN" --version | awk '{print $2}'), $(haproxy -v | head -1 | awk '{print "HAProxy "$3}'), $(valgrind --version)"
  echo "callgrind, user-space instructions per request: (load run - one-request run) / wrk's requests; wrk -t1 -c10 -d${CG_DURATION}s GET /, demo routing, $THREADS proxy thread(s) on CPU $PROXY_CPUS; median of $REPS rounds"
  [ "$ACCESS_LOG" = 1 ] && echo "access-log format string: $ACCESS_LOG_FORMAT"
  echo
  python3 - "$WORK/results" "$TARGETS" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    t, rep, kind, ir, reqs, lines = line.split()
    rows.setdefault((t, rep), {})[kind] = (int(ir), int(reqs), int(lines))
per = {}
for (t, rep), k in rows.items():
    (ir1, _, _), (ir2, n, lines) = k["idle"], k["load"]
    per.setdefault(t, []).append(((ir2 - ir1) / n, n, lines))
ref = lambda t: "fairway" if t.startswith("fairway-") else "haproxy" if t.startswith("haproxy-") else None
print("| target | requests (under valgrind) | instructions / request | vs logging off | access lines |")
print("|---|---:|---:|---:|---:|")
for t in sys.argv[2].split():
    if t not in per:
        continue
    v = per[t]
    m = statistics.median(x[0] for x in v)
    r = ref(t)
    d = ""
    if r in per:
        mr = statistics.median(x[0] for x in per[r])
        d = f"{m - mr:+,.0f} ({100 * (m - mr) / mr:+.1f} %)"
    print(f"| {t} | {statistics.median(x[1] for x in v):,.0f} | {m:,.0f} | {d} | {statistics.median(x[2] for x in v):,.0f} |")
print()
print("rounds (Ir/request):", "; ".join(f"{t} " + "/".join(f"{x[0]:.0f}" for x in v) for t, v in per.items()))
EOF
  exit 0
fi

read -ra tl <<< "$TARGETS"
echo "warm-up ${WARMUP}s per target" >&2
for t in "${tl[@]}"; do taskset -c "$LOAD_CPUS" wrk -t1 -c50 -d"${WARMUP}s" "http://127.0.0.1:${PORT[$t]}/" > /dev/null; done
: > "$WORK/results"
for load in $LOADS; do
  for rep in $(seq "$REPS"); do
    n=${#tl[@]}
    for ((k = 0; k < n; k++)); do run "$load" "${tl[$(((k + rep - 1) % n))]}"; sleep 1; done
  done
done

# ------------------------------------------------------------------ report
echo
echo "fairway $("$FAIRWAY_BIN" --version | awk '{print $2}'), $(haproxy -v | head -1 | awk '{print "HAProxy "$3}'), $(nginx -v 2>&1 | sed 's|.*/|nginx |'), wrk -t$WRK_THREADS"
up_note=
if [[ " $LOADS " == *" upload-10m "* ]]; then
  up_note=" (upload-10m: $UPLOADS uploads per run, curl"
  if [ "${UPLOAD_EXPECT:-1}" = 0 ]; then up_note="$up_note without Expect)"; else up_note="$up_note with Expect: 100-continue)"; fi
fi
echo "demo routing, $THREADS proxy thread(s), $PIN; ${DURATION}s per run$up_note, median of $REPS interleaved rounds; $(nproc) cores; load average at end $(cut -d' ' -f1-3 /proc/loadavg)"
logs=
for t in $TARGETS; do
  f=$(access_log_file "$t"); [ -n "$f" ] && [ -s "$f" ] || continue
  logs="$logs${logs:+; }$t $(awk '{n++; b+=length($0)+1} END{printf "%d lines, %.0f bytes/line", n, b/n}' "$f")"
done
[ -n "$logs" ] && { echo "access-log format string: $ACCESS_LOG_FORMAT"; echo "access logs (files on $(df --output=fstype "$WORK" | tail -1)): $logs"; }
echo
python3 - "$WORK/results" "$TARGETS" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    load, t, *vals = line.split()
    runs.setdefault((load, t), []).append([float(v) for v in vals])
targets = sys.argv[2].split()
names = {"direct": "direct (no proxy)", "haproxy": "HAProxy", "nginx": "nginx",
         "pingora": "bare Pingora", "fairway": "fairway", "baseline": "fairway (baseline)",
         "fairway-log": "fairway, access log `fairway`", "fairway-json": "fairway, access log `json`",
         "fairway-lf": "fairway, access log log-format", "haproxy-lf": "HAProxy, log-format to a file",
         "haproxy-syslog": "HAProxy, log-format to syslog (UDP)"}
def med(load, t, i):
    return statistics.median(r[i] for r in runs[(load, t)])
print("| load | target | req/s | p50 ms | p99 ms | proxy CPU µs/req | peak RSS MiB | other CPU % |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
loads = list(dict.fromkeys(l for l, _ in runs))
uploads = [l for l in loads if l.startswith("upload-")]
for load in loads:
    if load in uploads:
        continue
    for t in targets:
        if (load, t) not in runs:
            continue
        proxy = t != "direct"
        print(f"| {load} | {names[t]} | {med(load, t, 0):,.0f} | {med(load, t, 1):.2f} | {med(load, t, 2):.2f} | "
              + (f"{med(load, t, 3):.1f} | {med(load, t, 4) / 1024:.1f}" if proxy else "- | -")
              + f" | {med(load, t, 5):.0f} |")
    for t, label in (("baseline", "fairway (baseline) / HAProxy"), ("fairway", "**fairway / HAProxy**")):
        if (load, t) in runs and (load, "haproxy") in runs:
            r = [med(load, t, i) / med(load, "haproxy", i) for i in range(5)]
            print(f"| {load} | {label} | **{r[0]:.2f}** | {r[1]:.2f} | **{r[2]:.2f}** | **{r[3]:.2f}** | {r[4]:.2f} | |")
    # Access logging on / off, same proxy.
    for t, ref in (("fairway-log", "fairway"), ("fairway-json", "fairway"), ("fairway-lf", "fairway"),
                   ("haproxy-lf", "haproxy"), ("haproxy-syslog", "haproxy")):
        if (load, t) in runs and (load, ref) in runs:
            r = [med(load, t, i) / med(load, ref, i) for i in range(5)]
            print(f"| {load} | {t} / {ref} (log off) | **{r[0]:.3f}** | {r[1]:.2f} | {r[2]:.2f} | **{r[3]:.3f}** | {r[4]:.2f} | |")
# Uploads: seconds per upload, lower is better.
if uploads:
    print()
    print("| load | target | s per upload, median (lower is better) | fastest s | slowest s | proxy CPU ms/upload | peak RSS MiB | other CPU % |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
for load in uploads:
    for t in targets:
        if (load, t) not in runs:
            continue
        proxy = t != "direct"
        print(f"| {load} | {names[t]} | {med(load, t, 0):.4f} | {med(load, t, 1):.4f} | {med(load, t, 2):.4f} | "
              + (f"{med(load, t, 3):.2f} | {med(load, t, 4) / 1024:.1f}" if proxy else "- | -")
              + f" | {med(load, t, 5):.0f} |")
    for t, label in (("baseline", "fairway (baseline) / HAProxy"), ("fairway", "**fairway / HAProxy** (time: below 1 is better)")):
        if (load, t) in runs and (load, "haproxy") in runs:
            r = [f"{med(load, t, i) / med(load, 'haproxy', i):.2f}" if med(load, "haproxy", i) else "-" for i in range(5)]
            print(f"| {load} | {label} | **{r[0]}** | {r[1]} | {r[2]} | **{r[3]}** | {r[4]} | |")
print()
print("runs (req/s):", "; ".join(f"{l} {t} " + "/".join(f"{r[0]:.0f}" for r in v) for (l, t), v in runs.items() if l not in uploads))
if uploads:
    print("runs (s per upload):", "; ".join(f"{l} {t} " + "/".join(f"{r[0]:.4f}" for r in v) for (l, t), v in runs.items() if l in uploads))
EOF
