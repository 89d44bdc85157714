#!/usr/bin/env bash
# Instructions per event of the whole agent, the measure of #17 that holds across machines
# (seconds do not: the development machine's speed per instruction changed 2.1-2.5x between
# sessions 25 and 26 for the same count). callgrind counts the instructions of the real agent
# over gen_audit.py's TPS lines, tailed into the loopback `_bulk` receiver with default settings,
# and the count is repeatable for the same binary, input and paths, whatever else the machine
# is doing (the work directory's name is in every event: compare builds within one machine).
#
#   bash benches/instructions.sh [LINES]            # default 200,000 TPS lines, gzip (the default)
#   COMPRESSION=none bash benches/instructions.sh   # the same without compression
#   AGENT=/path/to/other/build bash benches/instructions.sh   # another build, same input
#   KEEP=out.callgrind bash benches/instructions.sh           # keep the profile for callgrind_annotate
set -euo pipefail
cd "$(dirname "$0")/.."
LINES=${1:-200000}
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)"; exit 1; }
WORK=$(mktemp -d /tmp/auditship-instr.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
cargo build --release --quiet --bin auditship --example bench_receiver
AGENT=${AGENT:-target/release/auditship}
python3 "${GEN_AUDIT:-../shared/bench/gen_audit.py}" --kind tps --lines "$LINES" --out "$WORK/tps.log"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$WORK/p.toml" <<TOML
data_dir = '$WORK/data'
[sources.in]
type = "file"
include = ['$WORK/tps.log']
format = "dogtag"
[sinks.out]
inputs = ["in"]
type = "elasticsearch"
endpoints = ["http://127.0.0.1:$port"]
compression = "${COMPRESSION:-gzip}"
TOML
target/release/examples/bench_receiver "$port" "$WORK/count" &
rpid=$!
sleep 0.3
valgrind --tool=callgrind --callgrind-out-file="$WORK/out" "$AGENT" --log-level warn run --config "$WORK/p.toml" 2> "$WORK/valgrind.log" &
apid=$!
for _ in $(seq 1 12000); do # at most 20 minutes
  [ "$(cat "$WORK/count" 2>/dev/null || echo 0)" -ge "$LINES" ] 2>/dev/null && break
  kill -0 $apid 2>/dev/null || { echo "the agent ended before delivering every line:"; tail -5 "$WORK/valgrind.log"; exit 1; }
  sleep 0.1
done
count=$(cat "$WORK/count" 2>/dev/null || echo 0)
kill -TERM $apid
wait $apid || true
kill $rpid 2>/dev/null || true
[ "$count" -ge "$LINES" ] || { echo "only $count of $LINES events delivered in 20 minutes"; exit 1; }
[ -n "${KEEP:-}" ] && cp "$WORK/out" "$KEEP"
total=$(callgrind_annotate "$WORK/out" 2>/dev/null | awk '/PROGRAM TOTALS/ && !done { gsub(",", "", $1); print $1; done = 1 }')
python3 -c "import sys; t, n = int(sys.argv[1]), int(sys.argv[2]); print(f'{n:,} TPS lines -> _bulk (${COMPRESSION:-gzip}), the whole agent: {t / 1e6:,.1f} M instructions, {t / n:,.0f} per event')" "$total" "$LINES"
