#!/usr/bin/env bash
# Delivery bench: the real agent, file → loopback receiver, with full ECS normalisation and
# ack-gated checkpoints. Reports events/s, CPU seconds and peak RSS for each scenario, and a
# baseline measured in the same run (the same path with format = "raw": no parsing).
#
#   bash benches/delivery.sh [LINES]        # default 2,000,000 Dogtag TPS lines (~280 bytes)
#   BUDGET=64MiB bash benches/delivery.sh   # buffer.max_bytes of the agent (default: the agent's, 8MiB)
#   DOWN_SECS=600 bash benches/delivery.sh 4000000   # the sink-down run: 10 minutes, ~1 GB backlog
#   TRANSFORMS=1 TRANSFORMS_ONLY=1 bash benches/delivery.sh 1000000   # filter vs redact+enrich+route vs remap vs chain
#   STOP_AFTER_API=1 bash benches/delivery.sh 1000000   # baseline, Dogtag, Dogtag with the API scraped
#   KAFKA=1 KAFKA_ONLY=1 bash benches/delivery.sh 1000000   # Dogtag to a tansu broker (none, lz4, zstd) against http; then kafka source -> http
#   DETECT=1 bash benches/delivery.sh 1000000   # Dogtag without and with the built-in detect pack; memory with 1M distinct keys
#   PEERS=1 PEERS_ONLY=1 bash benches/delivery.sh 2000000   # gen_audit.py tps/keycloak → _bulk (gzip, none), tps → http gzip, tps → _bulk without ids; syslog-ng on the same lines, ratios
#   ROUNDS=3 PEERS=1 PEERS_ONLY=1 bash benches/delivery.sh 2000000   # the same scenarios three times, interleaved, then medians
set -euo pipefail
cd "$(dirname "$0")/.."
LINES=${1:-2000000}
BUDGET=${BUDGET:-}
BUFFER_LINE=""
[ -n "$BUDGET" ] && BUFFER_LINE="buffer = { max_bytes = \"$BUDGET\" }"
API_LINE=""
WORK=$(mktemp -d /tmp/auditship-bench.XXXXXX)
export RESULTS="$WORK/results.tsv"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

cargo build --release --quiet --bin auditship --example bench_receiver --example kafka_counter
AGENT=${AGENT:-target/release/auditship}  # AGENT=/path/to/another/build: the same scenarios on it
RECEIVER=target/release/examples/bench_receiver

python3 - "$WORK/tps_audit" "$LINES" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
events = [
  "[AuditEvent=TOKEN_PIN_RESET][IP=10.30.1.{i}][SubjectID=user{i}][CUID=40906145C7622419AA01][Outcome=Failure][tokenType=userKey][AppletVersion=1.4.58768072][Info=pin reset not allowed] token op pin reset failure",
  "[AuditEvent=TOKEN_AUTH][IP=10.30.1.{i}][SubjectID=user{i}][CUID=40906145C7622419AA02][MSN=1A2B3C4D][Outcome=Success][OP=enroll][tokenType=userKey][AppletVersion=1.4.58768072] token authentication",
  "[AuditEvent=TOKEN_FORMAT][IP=10.30.1.{i}][SubjectID=user{i}][CUID=40906145C7622419AA03][MSN=1A2B3C4F][Outcome=Success][tokenType=userKey][KeyVersion=01] token op format success",
]
with open(path, "w") as f:
    for i in range(n):
        s = i % 60
        f.write(f"0.http-bio-8080-exec-{i % 16} - [12/Jan/2025:08:{(i // 60) % 60:02d}:{s:02d} CET] [14] [6] " + events[i % 3].format(i=i % 250) + "\n")
PY
BYTES=$(stat -c %s "$WORK/tps_audit")
echo "input: $LINES lines, $((BYTES / 1024 / 1024)) MiB"

write_config() { # format sink-toml [transforms-toml sink-inputs]: one file source, one sink "out"
  # (Quotes inside ${4:-...} in a here-document are dropped: the default is set outside it.)
  local inputs=${4:-'"in"'}
  local source="[sources.in]
type = \"file\"
include = ['${INPUT:-$WORK/tps_audit}']
format = \"$1\""
  [ -n "${SOURCE_TOML:-}" ] && source=$SOURCE_TOML
  cat > "$WORK/p.toml" <<TOML
data_dir = '$WORK/data'
$BUFFER_LINE
$API_LINE
$source
${3:-}
[sinks.out]
inputs = [$inputs]
$2
TOML
}

run() { # name format sink-toml [transforms-toml sink-inputs]
  local name=$1 format=$2 sink=$3 transforms=${4:-} inputs=${5:-} port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  rm -rf "$WORK/data" "$WORK/count"
  # The receiver under /usr/bin/time too: its CPU shares the same two cores.
  if [ -n "${RECEIVER_CMD:-}" ]; then
    /usr/bin/time -f "%U %S" -o "$WORK/rtime" $RECEIVER_CMD "$WORK/count" &
  else
    /usr/bin/time -f "%U %S" -o "$WORK/rtime" "$RECEIVER" "$port" "$WORK/count" &
  fi
  local rpid=$!
  sleep 0.3
  [ -n "${PEER_CONF:-}" ] || write_config "$format" "${sink//PORT/$port}" "$transforms" "$inputs"
  # Read the input once first: this VM pages cold memory out (DAMON), and reading a file the
  # host had paged out cost the agent's reader 0.73 CPU-s of system time for 566 MB against
  # 0.12 once warm (session 15): a run would otherwise measure how long ago the file was read.
  cat "${INPUT:-$WORK/tps_audit}" > /dev/null
  local start end
  start=$(date +%s.%N)
  if [ -n "${PEER_CONF:-}" ]; then
    # A peer instead of the agent (syslog-ng): its config template with the receiver's port.
    mkdir -p "$WORK/data"
    sed "s/@PORT@/$port/; s|@INPUT@|${INPUT:-$WORK/tps_audit}|" "$PEER_CONF" > "$WORK/peer.conf"
    /usr/bin/time -f "%U %S %M" -o "$WORK/time" $PEER_CMD &
  else
    /usr/bin/time -f "%U %S %M" -o "$WORK/time" "$AGENT" --log-level warn run --config "$WORK/p.toml" &
  fi
  local apid=$!
  local t10="" t90=""
  for _ in $(seq 1 12000); do # at most 10 minutes
    count=$(cat "$WORK/count" 2>/dev/null || true)
    [ -z "$t10" ] && [ "${count:-0}" -ge $((LINES / 10)) ] 2>/dev/null && t10=$(date +%s.%N)
    [ -z "$t90" ] && [ "${count:-0}" -ge $((LINES * 9 / 10)) ] 2>/dev/null && t90=$(date +%s.%N)
    [ "${count:-0}" -ge "$LINES" ] 2>/dev/null && break
    kill -0 $apid 2>/dev/null || { echo "$name: ended before delivering every line ($(tr '\n' ' ' < "$WORK/time"))"; break; }
    sleep 0.05
  done
  end=$(date +%s.%N)
  kill -TERM "$(pgrep -P $apid || echo $apid)" 2>/dev/null || kill -TERM $apid
  wait $apid || true
  kill "$(pgrep -P $rpid || echo $rpid)" 2>/dev/null || true
  wait $rpid 2>/dev/null || true
  read -r user sys rss < "$WORK/time"
  local ruser=0 rsys=0
  [ -s "$WORK/rtime" ] && read -r ruser rsys < <(tail -1 "$WORK/rtime")
  python3 - "$name" "$LINES" "$start" "$end" "$user" "$sys" "$rss" "${t10:-0}" "${t90:-0}" "$ruser" "$rsys" <<'PY'
import os, sys
name, n, start, end, user, sys_, rss, t10, t90, ruser, rsys = sys.argv[1:]
n = int(n)
secs = float(end) - float(start)
cpu = float(user) + float(sys_)
# Steady state: from the 10% to the 90% mark, without start-up and the last batch's timeout.
steady = 0.8 * n / (float(t90) - float(t10)) if float(t90) > float(t10) else 0
try:
    receiver = float(ruser) + float(rsys)
except ValueError:
    receiver = 0.0
print(f"{name:<34} {n/secs:>10,.0f} events/s  {steady:>10,.0f} steady  {cpu:>6.2f} CPU-s  {n/cpu:>9,.0f} events/CPU-s  peak RSS {int(rss)/1024:>6.1f} MiB  receiver {receiver:>5.2f} CPU-s")
with open(os.environ["RESULTS"], "a") as out:
    out.write(f"{name}\t{n/secs:.0f}\t{cpu:.2f}\t{int(rss)/1024:.1f}\n")
PY
}

# Of every run so far (ROUNDS > 1: the scenarios run again, interleaved): `summary medians`,
# each scenario's median and range; `summary ratios`, each scenario against the peer measured
# on the same lines in the same run (medians when ROUNDS > 1).
summary() {
  python3 - "$RESULTS" "$1" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, evs, cpu, rss = line.rstrip("\n").split("\t")
    rows.setdefault(name, []).append((float(evs), float(cpu), float(rss)))
if sys.argv[2] == "medians":
    print("medians of interleaved runs:")
    for name, runs in rows.items():
        evs, cpu, rss = (sorted(col) for col in zip(*runs))
        print(f"{name:<34} {statistics.median(evs):>10,.0f} events/s ({evs[0]:,.0f}-{evs[-1]:,.0f})  "
              f"{statistics.median(cpu):>6.2f} CPU-s ({cpu[0]:.2f}-{cpu[-1]:.2f})  "
              f"peak RSS {statistics.median(rss):>5.1f} MiB ({rss[0]:.1f}-{rss[-1]:.1f})  n={len(runs)}")
    sys.exit(0)
def med(name):
    return [statistics.median(col) for col in zip(*rows[name])]
# The peer on the same lines: the first word of a scenario's name (tps, keycloak).
lines = []
for name in rows:
    peer = f"syslog-ng 3.38: {name.split()[0]} → _bulk none"
    if name.startswith("syslog-ng") or peer not in rows:
        continue
    (evs, cpu, rss), (p_evs, p_cpu, p_rss) = med(name), med(peer)
    lines.append(f"  {name:<34} {evs / p_evs:>5.2f}x  {p_cpu / cpu:>5.2f}x  {rss / p_rss:>5.2f}x")
if lines:
    print("against syslog-ng on the same lines in this run (events/s, events per CPU-s, peak RSS):")
    print("\n".join(lines))
PY
}

echo "scenario                           end to end         steady state   CPU         per CPU-s            memory"
# Kafka (#16): file -> kafka (a tansu broker in memory on loopback, read back by kafka_counter)
# against file -> http (bench_receiver) in the same run.
if [ -n "${KAFKA:-}" ]; then
  TANSU=$(command -v tansu || echo "$HOME/.cargo/bin/tansu")
  kport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$TANSU" broker --listener-url "tcp://127.0.0.1:$kport" --advertised-listener-url "tcp://127.0.0.1:$kport" --storage-engine memory://tansu/ >/dev/null 2>&1 &
  for _ in $(seq 1 100); do "$TANSU" topic list --broker "tcp://127.0.0.1:$kport" >/dev/null 2>&1 && break; sleep 0.1; done
  HTTP_SINK='type = "http"
uri = "http://127.0.0.1:PORT/ingest"'
  run "dogtag → http" dogtag "$HTTP_SINK"
  for codec in none lz4 zstd; do
    "$TANSU" topic create "bench-$codec" --partitions 3 --broker "tcp://127.0.0.1:$kport" >/dev/null
    RECEIVER_CMD="target/release/examples/kafka_counter 127.0.0.1:$kport bench-$codec 3" \
      run "dogtag → kafka ($codec)" dogtag "type = \"kafka\"
bootstrap_servers = \"127.0.0.1:$kport\"
topic = \"bench-$codec\"
key_field = \"user.name\"
compression = \"$codec\""
  done
  # The aggregator side: the documents just produced (bench-none), read back by a kafka
  # source in a consumer group and shipped to http. Its baseline, in the same run: a bare
  # librdkafka member of a group reading the same topic (kafka_counter with a group).
  start=$(date +%s.%N)
  target/release/examples/kafka_counter "127.0.0.1:$kport" bench-none 3 "$WORK/gcount" bench-baseline &
  gpid=$!
  for _ in $(seq 1 12000); do
    [ "$(cat "$WORK/gcount" 2>/dev/null || echo 0)" -ge "$LINES" ] 2>/dev/null && break
    sleep 0.05
  done
  end=$(date +%s.%N)
  kill $gpid; wait $gpid 2>/dev/null || true
  python3 -c "import sys; n=int(sys.argv[1]); s=float(sys.argv[3])-float(sys.argv[2]); print(f\"{'kafka group reader alone':<34} {n/s:>10,.0f} events/s\")" "$LINES" "$start" "$end"
  SOURCE_TOML="[sources.in]
type = \"kafka\"
bootstrap_servers = \"127.0.0.1:$kport\"
topics = [\"bench-none\"]
group_id = \"bench-aggregator\"
librdkafka_options = { \"fetch.wait.max.ms\" = \"10\" }" \
    run "kafka (ecs) → http" raw "$HTTP_SINK"
  [ -n "${KAFKA_ONLY:-}" ] && exit 0
fi
# The peers' workload (#17): ../shared/bench/gen_audit.py's TPS and Keycloak lines, tailed from
# the start into a loopback _bulk receiver with default settings (gzip on, full ECS, ack-gated
# checkpoints); the same TPS lines without compression and to the http sink, in the same run.
if [ -n "${PEERS:-}" ]; then
  GEN=${GEN_AUDIT:-../shared/bench/gen_audit.py}
  python3 "$GEN" --kind tps --lines "$LINES" --out "$WORK/gen_tps.log"
  python3 "$GEN" --kind keycloak --lines "$LINES" --out "$WORK/gen_keycloak.log"
  echo "gen_audit: tps $(( $(stat -c %s "$WORK/gen_tps.log") / LINES )) bytes/line, keycloak $(( $(stat -c %s "$WORK/gen_keycloak.log") / LINES )) bytes/line"
  ES_SINK='type = "elasticsearch"
endpoints = ["http://127.0.0.1:PORT"]'
  : > "$RESULTS"
  SYSLOG_NG=$(command -v syslog-ng || true)
  if [ -n "$SYSLOG_NG" ] && ! ls /usr/lib/syslog-ng/*/libhttp.so >/dev/null 2>&1; then
    SYSLOG_NG=""
  fi
  if [ -n "$SYSLOG_NG" ]; then
    cat > "$WORK/syslog-ng.conf" <<CONF
@version: 3.38
options { stats-freq(0); };
source s_in { file("@INPUT@" flags(no-parse) follow-freq(0.1) log-iw-size(10000) log-fetch-limit(1000)); };
destination d_bulk {
  http(url("http://127.0.0.1:@PORT@/_bulk") method("POST") workers(2) batch-lines(1000)
       batch-timeout(100) headers("Content-Type: application/x-ndjson") body-suffix("\n")
       body("{\"index\":{\"_index\":\"syslog-ng\"}}\n\$(format-json --scope rfc5424)"));
};
log { source(s_in); destination(d_bulk); flags(flow-control); };
CONF
  else
    echo "syslog-ng with its http module is not installed: no peer in this run (apt-get install syslog-ng-core syslog-ng-mod-http; Debian then removes rsyslog, which the tests need: apt-get install rsyslog rsyslog-gnutls rsyslog-relp after the bench)"
  fi
  # What this machine's cores do with a fixed job, to compare machines: gzip -1 over the TPS lines.
  python3 - "$WORK/gen_tps.log" <<'PY'
import sys, time, zlib
data = open(sys.argv[1], "rb").read(200 << 20)
start = time.perf_counter()
c = zlib.compressobj(1, zlib.DEFLATED, 31)
size = len(c.compress(data)) + len(c.flush())
secs = time.perf_counter() - start
print(f"calibration: zlib deflate level 1 on {len(data) >> 20} MiB of TPS lines: {len(data) / secs / 1e6:.0f} MB/s on one core, ratio {len(data) / size:.1f}")
PY
  for _ in $(seq 1 "${ROUNDS:-1}"); do
  INPUT="$WORK/gen_tps.log" run "tps → _bulk gzip (default)" dogtag "$ES_SINK"
  INPUT="$WORK/gen_tps.log" run "tps → _bulk none" dogtag "$ES_SINK
compression = \"none\""
  INPUT="$WORK/gen_keycloak.log" run "keycloak → _bulk gzip" keycloak "$ES_SINK"
  INPUT="$WORK/gen_tps.log" run "tps → http gzip" dogtag 'type = "http"
uri = "http://127.0.0.1:PORT/ingest"
compression = "gzip"'
  # The first scenario again without document ids (`id = "none"`: Elasticsearch picks them,
  # and a batch sent again after a crash is indexed twice): what the default deterministic
  # ids cost, 32 hex digits a document that deflate can do little with.
  INPUT="$WORK/gen_tps.log" run "tps → _bulk gzip, id = none" dogtag "$ES_SINK
id = \"none\""
  # The first scenario again with the receiver as it was before session 13 (zlib-rs inflate
  # into one buffer): what the README's earlier figures were measured with.
  BENCH_INFLATE=zlib INPUT="$WORK/gen_tps.log" run "tps → _bulk gzip, zlib receiver" dogtag "$ES_SINK"
  # The peer, in the same run: syslog-ng (the fastest peer on these lines in PEERS.md) reading
  # the same TPS file into the same receiver's /_bulk. PEERS.md does not give its config; this
  # one is the plainest that delivers every line: the raw line as MESSAGE in an RFC 5424 JSON
  # document (no parsing, no gzip), two workers, 1,000 lines per request, and flow control
  # (without it, syslog-ng dropped about 7% of the lines here, session 26) with a source
  # window of 10,000 (with the default 100, a batch of 1,000 never fills and each waits its
  # 100 ms timeout: 972 events/s).
  if [ -n "$SYSLOG_NG" ]; then
    for kind in tps keycloak; do
      INPUT="$WORK/gen_$kind.log" PEER_CONF="$WORK/syslog-ng.conf" PEER_CMD="$SYSLOG_NG -F --no-caps -f $WORK/peer.conf -R $WORK/data/persist -c $WORK/data/ctl -p $WORK/data/pid" \
        run "syslog-ng 3.38: $kind → _bulk none" raw ""
    done
  fi
  done
  [ "${ROUNDS:-1}" -gt 1 ] && summary medians
  summary ratios
  [ -n "${PEERS_ONLY:-}" ] && exit 0
fi
# Detection (#15): the built-in pack on the Dogtag workload against the same path without it,
# then memory with one authentication failure per distinct user (every event a new key):
# the default cap of 100,000 keys per rule against a cap above the number of keys.
if [ -n "${DETECT:-}" ]; then
  HTTP_SINK='type = "http"
uri = "http://127.0.0.1:PORT/ingest"'
  run "dogtag → http (detect off)" dogtag "$HTTP_SINK"
  run "dogtag → filter (keeps all) → http" dogtag "$HTTP_SINK" '[transforms.d]
type = "filter"
inputs = ["in"]
condition = "exists(.event.kind)"' '"d"'
  run "dogtag → detect builtin → http" dogtag "$HTTP_SINK" '[transforms.d]
type = "detect"
inputs = ["in"]' '"d"'
  python3 - "$WORK/auth_failures" "$LINES" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    for i in range(n):
        f.write(f"0.http-bio-8443-exec-{i % 16} - [12/Jan/2025:08:{(i // 60) % 60:02d}:{i % 60:02d} CET] [14] [6] [AuditEvent=AUTH][SubjectID=$Unidentified$][Outcome=Failure][AuthMgr=passwdUserDBAuthMgr][AttemptedCred=user{i}] authentication failure\n")
PY
  [ -n "${DETECT_FAST:-}" ] || INPUT="$WORK/auth_failures" run "1M keys, detect max_keys 100,000" dogtag "$HTTP_SINK" '[transforms.d]
type = "detect"
inputs = ["in"]' '"d"'
  [ -n "${DETECT_FAST:-}" ] || INPUT="$WORK/auth_failures" run "1M keys, detect max_keys 2,000,000" dogtag "$HTTP_SINK" '[transforms.d]
type = "detect"
inputs = ["in"]
max_keys = 2000000' '"d"'
  [ -n "${DETECT_ONLY:-}" ] && exit 0
fi
# Transforms (#12): filter alone against redact + enrich + route, and a five-statement remap,
# in the same run.
if [ -n "${TRANSFORMS:-}" ]; then
  printf 'username,department\n' > "$WORK/users.csv"
  for i in $(seq 0 249); do printf 'user%s,dept%s\n' "$i" $((i % 5)) >> "$WORK/users.csv"; done
  HTTP_SINK='type = "http"
uri = "http://127.0.0.1:PORT/ingest"'
  run "dogtag → filter → http" dogtag "$HTTP_SINK" '[transforms.f]
type = "filter"
inputs = ["in"]
condition = "exists(.event.action)"' '"f"'
  run "dogtag → redact+enrich+route → http" dogtag "$HTTP_SINK" "[transforms.r]
type = \"redact\"
inputs = [\"in\"]
fields = [\"user.name\"]
patterns = [\"email\"]
mode = \"hmac\"
key = \"k\"
[transforms.e]
type = \"enrich\"
inputs = [\"r\"]
set = { \"labels.site\" = \"fra1\" }
[[transforms.e.lookup]]
file = '$WORK/users.csv'
match = { username = \"user.name\" }
add = { department = \"labels.department\" }
[transforms.s]
type = \"route\"
inputs = [\"e\"]
route.failures = '.event.outcome == \"failure\"'" '"s.failures", "s._unmatched"'
  run "dogtag → remap (5 statements) → http" dogtag "$HTTP_SINK" "[transforms.m]
type = \"remap\"
inputs = [\"in\"]
source = '''
.user.name = downcase(string!(.user.name))
.labels.site = \"fra1\"
del(.dogtag.params_raw)
if .event.outcome == \"failure\" { .labels.alert = true }
.labels.token = upcase(string(.dogtag.token.type) ?? \"none\")
'''" '"m"'
  run "dogtag → chain (hash chain) → http" dogtag "$HTTP_SINK" '[transforms.c]
type = "chain"
inputs = ["in"]' '"c"'
  [ -n "${TRANSFORMS_ONLY:-}" ] && exit 0
fi

run "baseline: raw → http ndjson"      raw    'type = "http"
uri = "http://127.0.0.1:PORT/ingest"'
run "dogtag → http ndjson"             dogtag 'type = "http"
uri = "http://127.0.0.1:PORT/ingest"'
# The API on and scraped 10 times a second, against the same run without it (#13).
API_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
API_LINE="[api]
address = \"127.0.0.1:$API_PORT\""
(for _ in $(seq 1 6000); do curl -s "http://127.0.0.1:$API_PORT/metrics" > /dev/null || true; sleep 0.1; done) &
SCRAPER=$!
run "dogtag → http ndjson, API scraped"  dogtag 'type = "http"
uri = "http://127.0.0.1:PORT/ingest"'
kill $SCRAPER 2>/dev/null || true
API_LINE=""
[ -n "${STOP_AFTER_API:-}" ] && exit 0
run "dogtag → http ndjson + gzip"      dogtag 'type = "http"
uri = "http://127.0.0.1:PORT/ingest"
compression = "gzip"'
run "dogtag → elasticsearch _bulk"     dogtag 'type = "elasticsearch"
endpoints = ["http://127.0.0.1:PORT"]
compression = "none"'
run "dogtag → elasticsearch bulk+gzip" dogtag 'type = "elasticsearch"
endpoints = ["http://127.0.0.1:PORT"]'

# Sink down: the destination refuses connections for DOWN_SECS while the whole input waits on
# disk. Peak RSS must stay near the budget (the backlog stays in the file), then everything is
# delivered once the receiver comes up.
DOWN_SECS=${DOWN_SECS:-30}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
rm -rf "$WORK/data" "$WORK/count"
write_config dogtag "type = \"http\"
uri = \"http://127.0.0.1:$port/ingest\""
"$AGENT" --log-level error run --config "$WORK/p.toml" &
apid=$!
peak=0
for _ in $(seq 1 "$DOWN_SECS"); do
  rss=$(awk '/VmRSS/ {print $2}' /proc/$apid/status 2>/dev/null || echo 0)
  [ "${rss:-0}" -gt "$peak" ] && peak=$rss
  sleep 1
done
"$RECEIVER" "$port" "$WORK/count" &
rpid=$!
for _ in $(seq 1 6000); do
  rss=$(awk '/VmRSS/ {print $2}' /proc/$apid/status 2>/dev/null || echo 0)
  [ "${rss:-0}" -gt "$peak" ] && peak=$rss
  count=$(cat "$WORK/count" 2>/dev/null || true)
  [ "${count:-0}" -ge "$LINES" ] 2>/dev/null && break
  sleep 0.1
done
kill -TERM $apid; wait $apid || true
kill $rpid; wait $rpid 2>/dev/null || true
echo "sink down ${DOWN_SECS}s with $((BYTES / 1024 / 1024)) MiB backlog, budget ${BUDGET:-default}: peak RSS $((peak / 1024)) MiB, then delivered ${count:-0} of $LINES"
