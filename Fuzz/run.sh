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
swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name MeshstepWireFuzz \
  Sources/MeshstepWire/*.swift Fuzz/DecodeFuzzer.swift -o "$bin"
# Seed corpus: one valid datagram of each kind (Fuzz/seeds/).
cp -n Fuzz/seeds/* Fuzz/corpus-run/ 2>/dev/null || true
"$bin" -max_total_time="$seconds" -max_len=1400 -timeout=5 -rss_limit_mb=2048 \
  -artifact_prefix=Fuzz/out/ -print_final_stats=1 Fuzz/corpus-run 2>&1 | tail -n 25
echo "fuzz: ${seconds}s pass finished without a crash"
