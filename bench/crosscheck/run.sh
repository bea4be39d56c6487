#!/usr/bin/env bash
# Cross-check: the same load from `selectloop load` and from the independent C++ epoll client
# (echo_client.cpp), alternating R times against one `net` echo server, so that both see the
# same machine noise. Usage: bench/crosscheck/run.sh [CONNS] [SIZE] [PIPELINE] [SECONDS] [ROUNDS]
# Needs g++ and a build (make build). Prints each run's throughput line, then the medians.
set -euo pipefail
cd "$(dirname "$0")/../.."
CONNS=${1:-100} SIZE=${2:-1024} PIPELINE=${3:-1} SECONDS_=${4:-3} ROUNDS=${5:-5}
BIN=${TMPDIR:-/tmp}/selectloop-echo-client
g++ -O2 -std=c++17 -o "$BIN" bench/crosscheck/echo_client.cpp
OUT=$(mktemp)
node dist/lib/cli.js echo --model net --port 0 --quiet >"$OUT" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; rm -f "$OUT"' EXIT
for _ in $(seq 50); do grep -q listening "$OUT" && break; sleep 0.1; done
PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$OUT")
echo "net echo server pid $SERVER on port $PORT; $CONNS conns x $SIZE B x $PIPELINE in flight, ${SECONDS_} s runs, $ROUNDS rounds"
node_rates=() cpp_rates=()
for r in $(seq "$ROUNDS"); do
  c=$("$BIN" 127.0.0.1 "$PORT" "$CONNS" "$SIZE" "$PIPELINE" 0.5 "$SECONDS_" | awk '/throughput/ {print $2}')
  n=$(node dist/lib/cli.js load --target "127.0.0.1:$PORT" --conns "$CONNS" --size "$SIZE" --pipeline "$PIPELINE" \
        --warmup 0.5 --duration "$SECONDS_" --server-pid "$SERVER" --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);console.log(r.msgsPerSec, r.server.cpuPct, r.loadCpuPct, r.otherCpuPct, r.errorTotal)})')
  echo "round $r: c++ client ${c} msgs/s | selectloop load ${n%% *} msgs/s (server CPU, load CPU, other CPU %, errors: ${n#* })"
  cpp_rates+=("$c") node_rates+=("${n%% *}")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "median: c++ client $(median "${cpp_rates[@]}") msgs/s, selectloop load $(median "${node_rates[@]}") msgs/s"
