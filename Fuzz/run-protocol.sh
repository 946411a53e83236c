#!/usr/bin/env bash
# Builds the protocol fuzzer (resolver messages and service, session payloads against a started
# session, handshake sequences; Fuzz/Protocol/ProtocolFuzzer.swift) with libFuzzer and
# AddressSanitizer, and runs it. The first build compiles every dependency instrumented, in its
# own build directory (.build-fuzz): several minutes.
#   Fuzz/run-protocol.sh [SECONDS] [JOBS]     default 60 seconds, 1 job
# Crashing inputs are written to Fuzz/out/protocol-crash-*; run one again with
#   .build-fuzz/release/meshstep-protocol-fuzz Fuzz/out/protocol-crash-...
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
jobs="${2:-1}"
mkdir -p Fuzz/out Fuzz/corpus-protocol
echo "== building the protocol fuzzer (release, -sanitize=fuzzer,address, .build-fuzz)"
if ! MESHSTEP_FUZZ=1 swift build -c release --build-path .build-fuzz --product meshstep-protocol-fuzz \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -use-ld=lld > Fuzz/out/protocol-build.log 2>&1; then
  tail -n 40 Fuzz/out/protocol-build.log >&2
  echo "error: building the protocol fuzzer failed (needs a Swift toolchain with libFuzzer, as swift.org's Linux builds have); log: Fuzz/out/protocol-build.log" >&2
  exit 1
fi
# Seeds: one input per target (the first byte picks it).
for t in 0 1 2; do [ -e Fuzz/corpus-protocol/seed-$t ] || printf "\\x0$t" > Fuzz/corpus-protocol/seed-$t; done
echo "== fuzzing for ${seconds}s with ${jobs} job(s)"
args=(-max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=4096 -artifact_prefix=Fuzz/out/protocol- -print_final_stats=1)
if [ "$jobs" -gt 1 ]; then args+=(-fork="$jobs"); fi
if ! .build-fuzz/release/meshstep-protocol-fuzz "${args[@]}" Fuzz/corpus-protocol > Fuzz/out/protocol-fuzz.log 2>&1; then
  tail -n 60 Fuzz/out/protocol-fuzz.log >&2
  echo "error: the protocol fuzzer found a crash; the input is in Fuzz/out/protocol-crash-*" >&2
  exit 1
fi
grep -E "^(Done|stat::number_of_executed_units|stat::new_units_added)|protocol-fuzzer executions" Fuzz/out/protocol-fuzz.log || true
echo "protocol fuzz: ${seconds}s pass finished without a crash"
