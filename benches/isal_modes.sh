#!/usr/bin/env bash
# ISA-L level 1 on bulk bodies of the agent's own documents, with and without document ids,
# stateful (the sinks' way) against stateless pieces (benches/isal_modes.c). Compression alone,
# one core; the delivery bench is the end-to-end measure.
#
#   bash benches/isal_modes.sh [LINES]   # default 200,000 gen_audit.py TPS lines
set -euo pipefail
cd "$(dirname "$0")/.."
LINES=${1:-200000}
WORK=$(mktemp -d /tmp/auditship-isal.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cargo build --release --quiet --bin auditship
OUT=$(dirname "$(find target/release/build -path '*isal-sys-*/out/lib/libisal.a' | head -1)")/..
[ -f "$OUT/lib/libisal.a" ] || { echo "ISA-L's build (isal-sys) was not found under target/release/build"; exit 1; }
cc -O2 -o "$WORK/isal_modes" benches/isal_modes.c -I"$OUT/include" -I"$OUT/isa-l/include" "$OUT/lib/libisal.a"
python3 "${GEN_AUDIT:-../shared/bench/gen_audit.py}" --kind tps --lines "$LINES" --out "$WORK/tps.log"
target/release/auditship parse --format dogtag "$WORK/tps.log" > "$WORK/docs.ndjson"
# Action lines as the elasticsearch sink writes them, with ids (random 128-bit hex: the ids'
# hash output) and without.
python3 - "$WORK" <<'PY'
import random, sys
work = sys.argv[1]
random.seed(1)
with open(f"{work}/docs.ndjson", "rb") as docs, open(f"{work}/ids.ndjson", "wb") as ids, open(f"{work}/noids.ndjson", "wb") as noids:
    for doc in docs:
        ids.write(b'{"create":{"_index":"auditship-2016.02.16","_id":"%032x"}}\n' % random.getrandbits(128) + doc)
        noids.write(b'{"create":{"_index":"auditship-2016.02.16"}}\n' + doc)
PY
for file in ids noids; do
  echo "$file: $(stat -c %s "$WORK/$file.ndjson") bytes"
  "$WORK/isal_modes" "$WORK/$file.ndjson" 0
  "$WORK/isal_modes" "$WORK/$file.ndjson" 1
done
# Every body must decode to what went in: the first body of the stateless mode, checked.
FIRST_BODY="$WORK/first.gz" "$WORK/isal_modes" "$WORK/ids.ndjson" 1 256 1 > /dev/null
cmp <(gzip -dc "$WORK/first.gz") <(head -c 1048576 "$WORK/ids.ndjson") && echo "the stateless mode's first body decodes to its input"
