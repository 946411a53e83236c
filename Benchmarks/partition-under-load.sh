#!/usr/bin/env bash
# The issue's real-socket partition check, N times, while `yes > /dev/null` keeps every core busy:
#   Benchmarks/partition-under-load.sh [binary] [runs]
# Prints one line per run (halted slots and reasons, drops, ticks) and a final count of the runs
# that gave halted [3, 4], agreed drops of [3, 4], 400 ticks and equal checksums.
set -euo pipefail
bin="${1:-.build/debug/meshstep}"
runs="${2:-10}"
[ -x "$bin" ] || { echo "error: $bin is not built; run: swift build" >&2; exit 1; }
export MESHSTEP_DEBUG=1
pids=()
for _ in $(seq "$(nproc)"); do yes > /dev/null & pids+=($!); done
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
good=0
log=$(mktemp)
for i in $(seq "$runs"); do
  out=$("$bin" bots --network udp --players 5 --ticks 400 --loss 0.05 --seed 4 --input-delay 3 \
        --partition 120:0,1,2:300 --disconnect-timeout 500 --json 2>"$log" || true)
  verdict=$(python3 -c '
import json, sys
try: r = json.loads(sys.argv[1])
except Exception: print("no-report"); sys.exit()
halted = sorted(h["slot"] for h in r["halted"]); drops = sorted(d["slot"] for d in r["drops"])
ok = halted == [3, 4] and drops == [3, 4] and r["drops_agree"] and r["ticks_completed"] == 400 and r["checksums_agree"]
reasons = "; ".join(sorted(set(h["reason"].split(":")[0] for h in r["halted"])))
print(("ok" if ok else "FAIL"), "halted", halted, "drops", drops, "agree", r["drops_agree"], "ticks", r["ticks_completed"], "checksums", r["checksums_agree"], "|", reasons)' "$out")
  echo "run $i: $verdict"
  # A failing run keeps its report and its events (MESHSTEP_DEBUG) for a look.
  case "$verdict" in ok*) ;; *) echo "$out" > "/tmp/partition-fail-$i.json"; cp "$log" "/tmp/partition-fail-$i.log";; esac
  case "$verdict" in ok*) good=$((good + 1));; esac
done
echo "$good of $runs runs as expected (load: $(nproc) x yes)"
