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
node dist/bin/selectloop.js echo --model net --port 0 --quiet >"$OUT" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; rm -f "$OUT"' EXIT
for _ in $(seq 50); do grep -q listening "$OUT" && break; sleep 0.1; done
PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$OUT")
echo "net echo server pid $SERVER on port $PORT; $CONNS conns x $SIZE B x $PIPELINE in flight, ${SECONDS_} s runs, $ROUNDS rounds"
# CPU ticks (USER_HZ = 100 a second): the whole machine busy, and the server alone.
busy() { awk '/^cpu / {print $2+$3+$4+$7+$8+$9}' /proc/stat; }
server_ticks() { awk '{sub(/.*\) /, ""); print $12+$13}' "/proc/$SERVER/stat"; }
node_rates=() cpp_rates=()
for r in $(seq "$ROUNDS"); do
  # The C++ client measures its own window; the server's CPU and the machine's are read around
  # the whole run (warm-up included), so its "other CPU" is an estimate of the noise.
  b0=$(busy) s0=$(server_ticks) t0=$(date +%s%N)
  out=$("$BIN" 127.0.0.1 "$PORT" "$CONNS" "$SIZE" "$PIPELINE" 0.5 "$SECONDS_")
  b1=$(busy) s1=$(server_ticks) t1=$(date +%s%N)
  c=$(awk '/throughput/ {print $2}' <<<"$out")
  ccpu=$(awk '/client CPU/ {sub(/%/, "", $3); print $3}' <<<"$out")
  cs=$(( (t1 - t0) / 10000000 ))  # elapsed in ticks
  scpu=$(( (s1 - s0) * 100 / cs )) other=$(awk -v m=$(( (b1 - b0) * 100 / cs )) -v s=$(( (s1 - s0) * 100 / cs )) -v c="$ccpu" 'BEGIN {o = m - s - c; print (o < 0 ? 0 : int(o))}')
  n=$(node dist/bin/selectloop.js load --target "127.0.0.1:$PORT" --conns "$CONNS" --size "$SIZE" --pipeline "$PIPELINE" \
        --warmup 0.5 --duration "$SECONDS_" --server-pid "$SERVER" --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);console.log(r.msgsPerSec, Math.round(r.server.cpuPct), Math.round(r.loadCpuPct), Math.round(r.otherCpuPct), r.errorTotal)})')
  read -r nr ns nc no ne <<<"$n"
  printf 'round %2d: c++ client %7d msgs/s (server %3d%%, client %3.0f%%, other ~%3d%%) | selectloop load %7d msgs/s (server %3d%%, load %3d%%, other %3d%%, errors %d)\n' \
    "$r" "$c" "$scpu" "$ccpu" "$other" "$nr" "$ns" "$nc" "$no" "$ne"
  cpp_rates+=("$c") node_rates+=("$nr")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "median: c++ client $(median "${cpp_rates[@]}") msgs/s, selectloop load $(median "${node_rates[@]}") msgs/s"
