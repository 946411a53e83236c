#!/usr/bin/env bash
# One `meshstep bot` per namespace in HOSTS (slots in order), through the lab's resolver; prints
# each bot's ticks, checksum, input latency and bytes. EXTRA adds flags to every bot (for example
# EXTRA=--auto-input-delay).
BIN=${BIN:-/work/main/.build/release/meshstep}
TICKS=${TICKS:-600}
mkdir -p /tmp/nat
ip netns exec nat-res $BIN resolver --port 7400 > /tmp/nat/res.out 2> /tmp/nat/res.err &
RES=$!
sleep 0.5
i=0; pids=""
N=$(echo $HOSTS | wc -w)
for h in $HOSTS; do
  ip netns exec $h $BIN bot --mesh M --password P --players $N --slot $i --resolver 203.0.113.10:7400 --ticks $TICKS $EXTRA --json > /tmp/nat/f$i.out 2> /tmp/nat/f$i.err &
  pids="$pids $!"; i=$((i+1))
done
wait $pids
kill -INT $RES; wait $RES
for i in $(seq 0 $((N-1))); do python3 -c "
import json
d = json.load(open('/tmp/nat/f$i.out'))
links = ' '.join('%d:%.3f' % (l['slot'], l['rtt_ms']) for l in d.get('links', []))
print($i, d['ticks_completed'], d['checksum_at_final_tick'], 'p50', d['input_latency_ms_p50'], 'p99', d['input_latency_ms_p99'],
      'bytes', round(d['bytes_per_input_per_peer']), 'delay', d.get('input_delay'), [(c['delay'], c['after_tick']) for c in d.get('input_delay_changes', [])], 'stall', round(d['longest_stall_ms']), [(s['tick'], round(s['ms'])) for s in d.get('stalls_over_50ms', [])], 'link rtt ms', links, 'relayed', d.get('relayed_messages', 0))
" 2>&1 || tail -n1 /tmp/nat/f$i.err; done
