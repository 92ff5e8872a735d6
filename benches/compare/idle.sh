#!/usr/bin/env bash
# Memory per kept-alive idle client connection: fairway vs HAProxy and nginx,
# on this machine, over loopback.
#
#   benches/compare/idle.sh                  # builds fairway (release) if needed, runs, prints a table
#   benches/compare/idle.sh --quick          # 1 round: a smoke test
#   FAIRWAY_BIN=/path/to/fairway BASELINE_BIN=/path/to/old/fairway benches/compare/idle.sh --reps 5
#
# Options: --reps N (3), --conns "4000 10000" (the N measured), --targets
#   "haproxy nginx fairway", --settle S (3: idle seconds before the second
#   measurement), --quick (1 round), --skip-install, --out DIR (keep the
#   raw results and the configurations there).
# Env: FAIRWAY_BIN, BASELINE_BIN (another fairway binary, e.g. a build before
#   a change: adds target `baseline`, same config), WARMUP (1 s of wrk -c50
#   before the first measurement; 0: none), CONCURRENCY (50: requests in
#   flight while the connections open), KEEP_WORK=1 (keep the work dir).
#
# Each proxy runs the README's demo configuration, the one of http.sh
# (ACL routing over four servers, keep-alive both ways, idle server
# connections shared by all clients: HAProxy `http-reuse always`, fairway
# `http_reuse: always`, nginx's `keepalive` pool; no logging), with
# one worker thread (HAProxy nbthread 1, nginx worker_processes 1, fairway
# threads: 1) on CPU 0, and limits raised for the largest N (HAProxy
# maxconn, nginx worker_connections and worker_rlimit_nofile, `ulimit -n`
# of this script and so of fairway). The upstream is one nginx process on
# four ports answering GET / with 100 bytes (as in http.sh), on CPU 1 with
# the client.
#
# One measurement, for each target and N, the targets in a rotating order
# each round: start the proxy; warm it up (wrk -c50 for WARMUP s, so that
# its server-side pools and allocator are in use); sum VmRSS of all its
# processes (/proc/PID/status; nginx: the master and its worker); open N
# client connections with benches/compare/idle_clients.py (one Python
# asyncio process): each sends one `GET / HTTP/1.1` request, keep-alive,
# reads its whole response, then stays open and idle (at most CONCURRENCY
# requests in flight, so the proxy needs few server connections); wait
# --settle seconds; sum VmRSS again; check that the connections are still
# open; stop the proxy. Reported: (RSS after - RSS before) / N in KiB per
# idle connection, the median over the rounds, and its ratio to HAProxy's
# (below 1 is better).
#
# Needs haproxy, nginx, wrk, curl (Debian packages of those names; installed
# with apt-get when missing unless --skip-install), python3, cargo.
# Everything listens on 127.0.0.1; each process this script starts runs in
# its own process group and is stopped (the group) at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."

REPS=3
CONNS="4000 10000"
TARGETS="haproxy nginx fairway"
[ -n "${BASELINE_BIN:-}" ] && TARGETS="$TARGETS baseline"
SETTLE=3
SKIP_INSTALL=0
OUT=
WARMUP=${WARMUP:-1}
CONCURRENCY=${CONCURRENCY:-50}
while [ $# -gt 0 ]; do
  case $1 in
    --reps) REPS=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --targets) TARGETS=$2; shift 2 ;;
    --settle) SETTLE=$2; shift 2 ;;
    --quick) REPS=1; shift ;;
    --skip-install) SKIP_INSTALL=1; shift ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "idle.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
for t in $TARGETS; do
  case $t in
    haproxy|nginx|fairway) ;;
    baseline) [ -n "${BASELINE_BIN:-}" ] || { echo "idle.sh: target baseline needs BASELINE_BIN" >&2; exit 2; } ;;
    *) echo "idle.sh: unknown target $t (haproxy nginx fairway baseline)" >&2; exit 2 ;;
  esac
done
MAX_N=0
for n in $CONNS; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "idle.sh: --conns wants numbers, got $n" >&2; exit 2; }
  [ "$n" -gt "$MAX_N" ] && MAX_N=$n
done

# File descriptors: N client sockets in the client and in the proxy, plus
# the proxy's few server connections. As many as the hard limit allows (a
# container may forbid raising it), at least N + 1000; HAProxy is told
# `ulimit-n` and `no strict-limits` (it would otherwise want 2 x maxconn
# descriptors and refuse to start).
MAXCONN=$((MAX_N + 500))
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
[ "$NOFILE" -ge $((MAX_N + 1000)) ] \
  || { echo "idle.sh: ulimit -n is $NOFILE, too low for $MAX_N connections (raise the hard limit)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/fairway-idlebench.XXXXXX)
chmod 755 "$WORK"   # nginx workers started as root run as nobody
pids=()
stop_group() {  # pid: TERM its process group; KILL what is left once the leader is gone (or after 5 s)
  kill -TERM -- "-$1" 2>/dev/null || return 0
  local st
  for _ in $(seq 50); do  # the leader is our child: a zombie until waited for
    st=$(awk '{sub(/^.*\) /, ""); print $1}' "/proc/$1/stat" 2>/dev/null || true)
    if [ -z "$st" ] || [ "$st" = Z ]; then break; fi
    sleep 0.1
  done
  kill -KILL -- "-$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  for p in "${pids[@]}"; do stop_group "$p"; done
  if [ -n "$OUT" ]; then mkdir -p "$OUT"; cp "$WORK"/results "$WORK"/*.cfg "$WORK"/*.conf "$WORK"/*.yaml "$OUT"/ 2>/dev/null || true; fi
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Tools.
missing=()
for t in haproxy nginx wrk curl; do command -v "$t" >/dev/null || missing+=("$t"); done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$SKIP_INSTALL" = 1 ] && { echo "idle.sh: missing ${missing[*]}" >&2; exit 1; }
  echo "idle.sh: installing ${missing[*]} (apt-get)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ -z "${FAIRWAY_BIN:-}" ]; then
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/fairway-release}
  cargo build --release --quiet --bin fairway
  FAIRWAY_BIN=$CARGO_TARGET_DIR/release/fairway
fi

if [ "$(nproc)" -ge 2 ]; then PROXY_CPUS=0; LOAD_CPUS=1; else PROXY_CPUS=0; LOAD_CPUS=0; fi

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
UP1=$(port); UP2=$(port); UP3=$(port); UP4=$(port)
declare -A PORT=([haproxy]=$(port) [nginx]=$(port) [fairway]=$(port) [baseline]=$(port))
declare -A PID=()

start() {  # name cpus cmd...: in a process group of its own
  local name=$1 cpus=$2; shift 2
  setsid taskset -c "$cpus" "$@" >"$WORK/$name.log" 2>&1 &
  pids+=($!); PID[$name]=$!
}
forget() {  # pid: no longer to be stopped at the end
  local p keep=()
  for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  pids=("${keep[@]}")
}
stop() {  # name
  stop_group "${PID[$1]}"
  forget "${PID[$1]}"
}
wait_http() {  # port pid: until GET / answers
  for _ in $(seq 400); do
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/" && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.05
  done
  echo "idle.sh: nothing answers on $1" >&2; exit 1
}

# ---------------------------------------------------------------- upstream
upstream_server() {  # port name: a 100-byte body naming the server
  local body; body=$(printf 'upstream=%s %-88s' "$2" '' | tr ' ' .)
  printf '  server { listen 127.0.0.1:%s backlog=4096; location / { return 200 "%s\\n"; } }\n' "$1" "${body:0:99}"
}
cat > "$WORK/upstream.conf" <<EOF
daemon off; master_process off; worker_processes 1;
pid $WORK/upstream.pid; error_log $WORK/upstream-error.log warn;
worker_rlimit_nofile $NOFILE;
events { worker_connections $MAXCONN; }
http {
  access_log off; server_tokens off; default_type text/plain; tcp_nodelay on;
  keepalive_timeout 300s; keepalive_requests 100000000;
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
# The demo configuration of http.sh, one thread, limits for MAX_N.
cat > "$WORK/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn $MAXCONN
  ulimit-n $NOFILE
  no strict-limits  # maxconn x 2 may exceed ulimit-n: server connections are few here
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

cat > "$WORK/nginx.conf" <<EOF
daemon off; worker_processes 1;
pid $WORK/nginx.pid; error_log $WORK/nginx-error.log warn;
worker_rlimit_nofile $NOFILE;
events { worker_connections $NOFILE; }  # counts client and server connections
http {
  access_log off; server_tokens off; tcp_nodelay on;
  keepalive_timeout 60s; keepalive_requests 100000000;
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
    proxy_buffer_size 16k; proxy_buffers 8 16k; proxy_busy_buffers_size 32k;
    location ~* ^/admin { return 403; }
    location ~* /lightwork\$ { proxy_pass http://lightServers; }
    location ~* /heavywork\$ { proxy_pass http://heavyServers; }
    location / { proxy_pass http://servers; }
  }
}
EOF

fairway_yaml() {  # name: the demo configuration, listening on PORT[name]
  cat <<EOF
global:
  threads: 1
  grace_period: 0s
  pid_file: $WORK/$1.pid
  upgrade_sock: $WORK/$1.sock
  log_level: warn
  access_log: false
frontends:
  clients:
    bind: 127.0.0.1:${PORT[$1]}
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
}
fairway_yaml fairway > "$WORK/fairway.yaml"
[ -n "${BASELINE_BIN:-}" ] && fairway_yaml baseline > "$WORK/baseline.yaml"

launch() {  # target
  case $1 in
    haproxy) start haproxy "$PROXY_CPUS" haproxy -db -f "$WORK/haproxy.cfg" ;;
    nginx) start nginx "$PROXY_CPUS" nginx -p "$WORK" -e "$WORK/nginx-error.log" -c "$WORK/nginx.conf" ;;
    fairway) start fairway "$PROXY_CPUS" "$FAIRWAY_BIN" -c "$WORK/fairway.yaml" ;;
    baseline) start baseline "$PROXY_CPUS" "$BASELINE_BIN" -c "$WORK/baseline.yaml" ;;
  esac
  wait_http "${PORT[$1]}" "${PID[$1]}"
  local admin
  admin=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${PORT[$1]}/admin/x")
  [ "$admin" = 403 ] || { echo "idle.sh: $1 misbehaves: /admin/x -> $admin, not 403 (not the demo configuration?)" >&2; exit 1; }
}

# ------------------------------------------------------------- measurement
tree() {  # a process and all its descendants
  local c kids
  echo "$1"
  kids=$(cat /proc/"$1"/task/*/children 2>/dev/null || true)
  for c in $kids; do tree "$c"; done
}
rss_kib() {  # summed VmRSS (KiB) of a process and its descendants
  local p sum=0 v
  for p in $(tree "$1"); do
    v=$(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null || true)
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}

measure() {  # target n rep -> one line in results
  local t=$1 n=$2 rep=$3 before after client status ok failed open
  launch "$t"
  [ "$WARMUP" != 0 ] && taskset -c "$LOAD_CPUS" wrk -t1 -c50 -d"${WARMUP}s" "http://127.0.0.1:${PORT[$t]}/" > /dev/null
  sleep 0.5
  before=$(rss_kib "${PID[$t]}")
  : > "$WORK/client.out"
  setsid taskset -c "$LOAD_CPUS" python3 benches/compare/idle_clients.py --port "${PORT[$t]}" --conns "$n" \
    --concurrency "$CONCURRENCY" > "$WORK/client.out" 2> "$WORK/client.err" &
  client=$!; pids+=("$client")
  for _ in $(seq 1200); do  # up to 2 minutes to open them all
    grep -q '^ready' "$WORK/client.out" && break
    kill -0 "$client" 2>/dev/null || break
    sleep 0.1
  done
  status=$(grep '^ready' "$WORK/client.out" || true)
  [ -n "$status" ] || { echo "idle.sh: the client did not get its $n connections open through $t:" >&2; cat "$WORK/client.err" >&2; exit 1; }
  ok=${status#*ok=}; ok=${ok%% *}; failed=${status##*failed=}
  [ "$failed" = 0 ] || echo "idle.sh: warning: $failed of $n connections failed through $t: $(cat "$WORK/client.err")" >&2
  sleep "$SETTLE"
  after=$(rss_kib "${PID[$t]}")
  kill -USR1 "$client"; wait "$client" || true
  forget "$client"
  open=$(sed -n 's/^open=//p' "$WORK/client.out")
  [ "${open:-0}" = "$ok" ] || echo "idle.sh: warning: $t closed $((ok - ${open:-0})) of $ok idle connections within ${SETTLE}s" >&2
  stop "$t"
  [ "$ok" -gt 0 ] || { echo "idle.sh: no connection through $t" >&2; exit 1; }
  echo "$t $n $rep $before $after $ok ${open:-0}" >> "$WORK/results"
  printf '  %-8s N=%-6s round %s: RSS %7.1f -> %7.1f MiB, %6.2f KiB per idle connection (%s open)\n' "$t" "$n" "$rep" \
    "$(awk -v k="$before" 'BEGIN{print k / 1024}')" "$(awk -v k="$after" 'BEGIN{print k / 1024}')" \
    "$(awk -v a="$after" -v b="$before" -v n="$ok" 'BEGIN{print (a - b) / n}')" "${open:-0}" >&2
}

read -ra tl <<< "$TARGETS"
: > "$WORK/results"
for rep in $(seq "$REPS"); do
  for n in $CONNS; do
    k=${#tl[@]}
    for ((i = 0; i < k; i++)); do measure "${tl[$(((i + rep - 1) % k))]}" "$n" "$rep"; done
  done
done

# ------------------------------------------------------------------ report
echo
echo "fairway $("$FAIRWAY_BIN" --version | awk '{print $2}'), $(haproxy -v | head -1 | awk '{print "HAProxy "$3}'), $(nginx -v 2>&1 | sed 's|.*/|nginx |'), $(python3 --version)"
echo "demo routing, 1 proxy thread on CPU $PROXY_CPUS, client + upstream on CPU $LOAD_CPUS; RSS of the proxy's processes before N idle keep-alive connections (after ${WARMUP}s wrk -c50) and ${SETTLE}s after they all had their answer; median of $REPS rounds; $(nproc) cores; load average at end $(cut -d' ' -f1-3 /proc/loadavg)"
echo
python3 - "$WORK/results" "$TARGETS" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    t, n, rep, before, after, ok, still = line.split()
    runs.setdefault((t, int(n)), []).append((int(before), int(after), int(ok), int(still)))
names = {"haproxy": "HAProxy", "nginx": "nginx", "fairway": "fairway", "baseline": "fairway (baseline)"}
per = lambda v: [(a - b) / ok for b, a, ok, _ in v]
print("| target | N | KiB per idle connection | ratio to HAProxy | RSS before MiB | RSS after MiB | still open |")
print("|---|---:|---:|---:|---:|---:|---:|")
for n in sorted({n for _, n in runs}):
    ref = statistics.median(per(runs[("haproxy", n)])) if ("haproxy", n) in runs else None
    for t in sys.argv[2].split():
        if (t, n) not in runs:
            continue
        v = runs[(t, n)]
        m = statistics.median(per(v))
        ratio = f"{m / ref:.2f}" if ref and ref > 0 else "-"
        if t == "fairway":
            ratio = f"**{ratio}**"
        print(f"| {names[t]} | {n:,} | {m:.2f} | {ratio} | {statistics.median(x[0] for x in v) / 1024:.1f} | "
              f"{statistics.median(x[1] for x in v) / 1024:.1f} | {min(x[3] for x in v):,} |")
print()
print("rounds (KiB per idle connection):", "; ".join(f"{t} N={n} " + "/".join(f"{x:.2f}" for x in per(v)) for (t, n), v in runs.items()))
EOF
