#!/usr/bin/env bash
# Profile-guided release build: an instrumented agent runs the delivery bench's scenarios (the
# project's Dogtag lines and the peers' TPS and Keycloak lines into `_bulk` with and without
# gzip and into http) and `auditship parse` over the test fixtures of the other formats; the
# release binary is then built again with that profile (rustc -Cprofile-use). Needs the
# llvm-tools rustup component (added when missing) and ../shared/bench/gen_audit.py (or
# GEN_AUDIT=path).
#
#   bash benches/pgo.sh                 # → target/pgo/auditship (about 20 minutes: two release builds)
#   AGENT=target/pgo/auditship PEERS=1 PEERS_ONLY=1 bash benches/delivery.sh 2000000
#   bash packaging/build-deb target/pgo/auditship   # a package of that binary
set -euo pipefail
cd "$(dirname "$0")/.."
LINES=${LINES:-300000}
OUT=$PWD/target/pgo
host=$(rustc -vV | sed -n 's/^host: //p')
tools=$(rustc --print sysroot)/lib/rustlib/$host/bin
[ -x "$tools/llvm-profdata" ] || rustup component add llvm-tools
rm -rf "$OUT/profiles" "$OUT/build-scripts"
mkdir -p "$OUT/profiles"

# Build scripts and proc macros are instrumented too: what they write stays apart.
RUSTFLAGS="-Cprofile-generate=$OUT/build-scripts" \
  cargo build --release --locked --bin auditship --target-dir "$OUT/gen"

# One profile file per agent process (%p), merged below.
export LLVM_PROFILE_FILE="$OUT/profiles/agent-%p.profraw"
AGENT="$OUT/gen/release/auditship" PEERS=1 bash benches/delivery.sh "$LINES"
for format in auditd sap totp keycloak dogtag; do
  for _ in $(seq 1 200); do cat tests/fixtures/"$format"/*.log; done |
    "$OUT/gen/release/auditship" parse --format "$format" > /dev/null
done
unset LLVM_PROFILE_FILE

"$tools/llvm-profdata" merge -o "$OUT/merged.profdata" "$OUT"/profiles/*.profraw
RUSTFLAGS="-Cprofile-use=$OUT/merged.profdata" \
  cargo build --release --locked --bin auditship --target-dir "$OUT/use"
cp "$OUT/use/release/auditship" "$OUT/auditship"
echo "profile-guided build: $OUT/auditship"
