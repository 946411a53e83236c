#!/usr/bin/env bash
# Figures for docs/BENCHMARKS.md ("Session integrity"): the simulator table (4, 8, 16 players at
# 0/10/20% loss), every attacker, and the two stalls, as markdown rows. Needs a release build:
#   swift build -c release --product meshstep && Benchmarks/integrity.sh [.build/release/meshstep]
set -euo pipefail
bin="${1:-.build/release/meshstep}"
[ -x "$bin" ] || { echo "error: $bin is not built; run: swift build -c release --product meshstep" >&2; exit 1; }
row() { python3 -c '
import json, sys
r = json.load(sys.stdin); label = sys.argv[1]; keys = sys.argv[2:]
print("| " + label + " | " + " | ".join(str(r.get(k)) for k in keys) + " |")' "$@"; }

echo "### Simulator: 3600 ticks, 30 ms links + 0-10 ms jitter, seed 1 (tanks; coins for 16 players)"
echo "| players, loss | ticks/s | p50 ms | p99 ms | longest stall ms | bytes/input/peer | checksums agree | wall s |"
echo "|---|---:|---:|---:|---:|---:|---|---:|"
for p in 4 8 16; do
  for l in 0 0.1 0.2; do
    game=tanks; [ $p -gt 8 ] && game=coins   # the tank arena has 8 slots
    "$bin" bots --players $p --ticks 3600 --network sim --loss $l --latency 30 --jitter 10 --seed 1 --game $game --json |
      row "$p, $l" ticks_per_second input_latency_ms_p50 input_latency_ms_p99 longest_stall_ms bytes_per_input_per_peer checksums_agree wall_seconds
  done
done

echo; echo "### Attackers: 5 players, 1200 ticks, 5% loss, 30 ms + 10 ms jitter, seed 11"
echo "| attack | honest checksums agree | honest dropped | honest halted | attacker named | ticks completed |"
echo "|---|---|---|---|---|---:|"
for k in forged-decision lying-votes ack-overflow drop-all slot-claim equivocate; do
  "$bin" bots --players 5 --ticks 1200 --network sim --loss 0.05 --latency 30 --jitter 10 --seed 11 --attacker $k --json |
    row "$k" honest_checksums_agree honest_dropped honest_halted attacker_named ticks_completed || true
done

echo; echo "### Stalls: 5 players, 1200 ticks, seed 12"
echo "| stall | drops | halted | ticks completed | checksums agree |"
echo "|---|---|---|---:|---|"
for st in 2@300:1500 2@300:5000; do
  "$bin" bots --players 5 --ticks 1200 --network sim --seed 12 --stall $st --json | row "$st" drops halted ticks_completed checksums_agree
done
