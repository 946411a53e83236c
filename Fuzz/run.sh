#!/usr/bin/env bash
# Builds the wire-decoder fuzzer with libFuzzer and AddressSanitizer and runs it.
#   Fuzz/run.sh [SECONDS]        default 60; CI runs a short pass
# Crashing inputs are written to Fuzz/out/; add each one to
# Tests/MeshstepWireTests/FuzzRegressions.swift as a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
mkdir -p Fuzz/out Fuzz/corpus-run
bin=Fuzz/out/decode-fuzzer
# The linker warns about sanitizer symbols it cannot export; keep the log, show it on failure.
if ! swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name MeshstepWireFuzz -package-name meshstep \
  Sources/MeshstepWire/*.swift Fuzz/DecodeFuzzer.swift -o "$bin" > Fuzz/out/build.log 2>&1; then
  cat Fuzz/out/build.log >&2
  echo "error: building the fuzzer failed (needs a Swift toolchain with libFuzzer, as swift.org's Linux builds have)" >&2
  exit 1
fi
# Seed corpus: one valid datagram of each kind (Fuzz/seeds/).
cp -n Fuzz/seeds/* Fuzz/corpus-run/ 2>/dev/null || true
"$bin" -max_total_time="$seconds" -max_len=1400 -timeout=5 -rss_limit_mb=2048 \
  -artifact_prefix=Fuzz/out/ -print_final_stats=1 Fuzz/corpus-run > Fuzz/out/fuzz.log 2>&1 || {
  tail -n 60 Fuzz/out/fuzz.log >&2
  echo "error: the fuzzer found a crash; the input is in Fuzz/out/crash-*. Add it to Tests/MeshstepWireTests/FuzzRegressions.swift" >&2
  exit 1
}
grep -E "^(Done|stat::number_of_executed_units|stat::new_units_added)" Fuzz/out/fuzz.log || true
echo "fuzz: ${seconds}s pass finished without a crash"
