#!/usr/bin/env bash
# Builds the protocol fuzzer (resolver messages and service, session payloads against a started
# session, handshake sequences; Fuzz/Protocol/ProtocolFuzzer.swift) with libFuzzer and
# AddressSanitizer, and runs it. The first build compiles every dependency instrumented, in its
# own build directory (.build-fuzz): several minutes.
#   Fuzz/run-protocol.sh [SECONDS] [JOBS]     default 60 seconds, 1 job, all three targets
#   MESHSTEP_FUZZ_TARGET=resolver|session|handshake Fuzz/run-protocol.sh ...   one target only
# Crashing inputs are written to Fuzz/out/protocol-TARGET-crash-*; run one again with
#   .build-fuzz/release/meshstep-protocol-fuzz Fuzz/out/protocol-TARGET-crash-...
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
jobs="${2:-1}"
target="${MESHSTEP_FUZZ_TARGET:-all}"
corpus="Fuzz/corpus-protocol-$target"
mkdir -p Fuzz/out "$corpus"
echo "== building the protocol fuzzer (release, -sanitize=fuzzer,address, .build-fuzz)"
if ! MESHSTEP_FUZZ=1 swift build -c release --build-path .build-fuzz --product meshstep-protocol-fuzz \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -use-ld=lld > Fuzz/out/protocol-build.log 2>&1; then
  tail -n 40 Fuzz/out/protocol-build.log >&2
  echo "error: building the protocol fuzzer failed (needs a Swift toolchain with libFuzzer, as swift.org's Linux builds have); log: Fuzz/out/protocol-build.log" >&2
  exit 1
fi
# Seeds: one input per target (the first byte picks it).
if [ "$target" = "all" ]; then
  for t in 0 1 2; do [ -e "$corpus/seed-$t" ] || printf "\\x0$t" > "$corpus/seed-$t"; done
fi
echo "== fuzzing target(s) '$target' for ${seconds}s with ${jobs} job(s)"
args=(-max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=4096 -artifact_prefix="Fuzz/out/protocol-$target-" -print_final_stats=1)
if [ "$jobs" -gt 1 ]; then args+=(-fork="$jobs"); fi
if ! .build-fuzz/release/meshstep-protocol-fuzz "${args[@]}" "$corpus" > "Fuzz/out/protocol-$target.log" 2>&1; then
  tail -n 60 "Fuzz/out/protocol-$target.log" >&2
  echo "error: the protocol fuzzer found a crash; the input is in Fuzz/out/protocol-$target-crash-*" >&2
  exit 1
fi
grep -E "^(Done|stat::number_of_executed_units|stat::new_units_added)|protocol-fuzzer executions" "Fuzz/out/protocol-$target.log" || true
echo "protocol fuzz: ${seconds}s pass finished without a crash"
