#!/usr/bin/env bash
# Memory over a long match: two `meshstep bot` processes (2 players on loopback), RSS of slot 0
# read from /proc every 5 s until the match ends.
#   Benchmarks/memory-long-match.sh [binary] [ticks]      defaults: .build/release/meshstep 36000
# Prints the RSS curve (one line a minute), the growth from tick 3,600 to the end, and a JSON line.
set -euo pipefail
bin="${1:-.build/release/meshstep}"
ticks="${2:-36000}"
[ -x "$bin" ] || { echo "error: $bin is not built; run: swift build -c release --product meshstep" >&2; exit 1; }
[[ "$ticks" =~ ^[0-9]+$ ]] && [ "$ticks" -ge 7200 ] || { echo "error: ticks must be a number of at least 7200 (got $ticks)" >&2; exit 1; }
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" bot --mesh rss --password p --players 2 --slot 0 --ticks "$ticks" --port "$port" --json > "$dir/bot0.json" 2> "$dir/bot0.err" &
a=$!
"$bin" bot --mesh rss --password p --players 2 --slot 1 --ticks "$ticks" --peer "127.0.0.1:$port" --json > "$dir/bot1.json" 2> "$dir/bot1.err" &
b=$!
trap 'kill $a $b 2>/dev/null || true' EXIT
start=$(date +%s.%N)
while kill -0 "$a" 2>/dev/null; do
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$a/status" 2>/dev/null || true)
  [ -n "$rss" ] && echo "$(python3 -c "print(round($(date +%s.%N) - $start, 1))") $rss" >> "$dir/rss"
  sleep 5
done
wait "$a" || { echo "error: slot 0 failed:" >&2; cat "$dir/bot0.err" >&2; exit 1; }
wait "$b" || true
python3 - "$dir" "$ticks" <<'PY'
import json, sys
folder, ticks = sys.argv[1], int(sys.argv[2])
rows = [tuple(map(float, line.split())) for line in open(f"{folder}/rss")]
report = json.load(open(f"{folder}/bot0.json"))
# The match starts about a second after launch; tick 3,600 is a minute into it.
at3600 = min(rows, key=lambda r: abs(r[0] - 61))[1]
end = rows[-1][1]
for minute in range(0, int(rows[-1][0] // 60) + 1):
    r = min(rows, key=lambda r: abs(r[0] - 60 * minute - 1))
    print(f"{r[0]:6.0f} s  RSS {r[1] / 1024:6.1f} MB")
print(f"ticks {report['ticks_completed']} at {report['ticks_per_second']:.1f} ticks/s; RSS at tick 3,600 {at3600 / 1024:.1f} MB, "
      f"at the end {end / 1024:.1f} MB: {(end - at3600) / 1024:+.1f} MB")
print(json.dumps({"ticks": report["ticks_completed"], "rss_kb_tick_3600": int(at3600), "rss_kb_end": int(end),
                  "growth_kb": int(end - at3600), "curve": [[r[0], int(r[1])] for r in rows]}))
PY
