#!/usr/bin/env bash
# NAT lab (root): resolver 203.0.113.10, routers nat-rK masquerading 10.K.0.0/24 (home-router firewall).
#   N=3 bash Benchmarks/nat-lab-setup.sh; HOSTS="nat-h1 nat-h2 nat-h3" BIN=.build/release/meshstep bash Benchmarks/nat-lab-run.sh
#   baseline without NAT, same lab: for k in 1 2 3; do ip netns exec nat-rK nft flush ruleset; done; HOSTS="nat-r1 nat-r2 nat-r3" ...
# NAT lab: resolver on the "internet" (203.0.113.10), N routers (203.0.113.1K) each masquerading a
# LAN 10.K.0.0/24 with one host 10.K.0.2. MODE: cone (masquerade) or symmetric (fully-random, iptables: --random-fully).
# INPUT: drop (home router: unsolicited to the router itself dropped) or accept.
# PUBLIC=K adds K hosts on the internet side without a NAT: nat-p1 (203.0.113.51), ...
# The "internet" (nat-inet) is a router, not a switch: every attachment has its own veth, and the
# hub answers ARP for the other addresses (proxy ARP) and forwards, so each path between two
# attachments crosses one router hop, as on the real internet.
set -e
N=${N:-3}; MODE=${MODE:-cone}; INPUT=${INPUT:-drop}
ip netns add nat-inet
ip netns exec nat-inet sysctl -qw net.ipv4.ip_forward=1
# attach NS HUBPORT DEV ADDRESS: a veth from the hub to NS, ADDRESS/24 on DEV, a host route back.
attach() {
  ip -n nat-inet link add $2 type veth peer name $3 netns $1
  ip netns exec nat-inet sysctl -qw net.ipv4.conf.$2.proxy_arp=1
  ip -n nat-inet addr add 203.0.113.1/32 dev $2; ip -n nat-inet link set $2 up
  ip -n nat-inet route add $4/32 dev $2
  ip -n $1 addr add $4/24 dev $3; ip -n $1 link set $3 up; ip -n $1 link set lo up
}
ip netns add nat-res
attach nat-res pres eth0 203.0.113.10
for k in $(seq 1 $N); do
  r=nat-r$k; h=nat-h$k
  ip netns add $r; ip netns add $h
  ip -n $r link add lanbr type bridge; ip -n $r link set lanbr up
  attach $r pr$k wan 203.0.113.$((10+k))
  ip -n $r addr add 10.$k.0.1/24 dev lanbr
  for j in $(seq 1 ${PER_LAN:-1}); do
    h=nat-h$k; [ $j -gt 1 ] && h=nat-h$k-$j
    [ $j -gt 1 ] && ip netns add $h
    ip -n $r link add lan$j type veth peer name eth0 netns $h
    ip -n $r link set lan$j master lanbr; ip -n $r link set lan$j up
    ip -n $h addr add 10.$k.0.$((j+1))/24 dev eth0; ip -n $h link set eth0 up; ip -n $h link set lo up
    ip -n $h route add default via 10.$k.0.1
  done
  ip netns exec $r sysctl -qw net.ipv4.ip_forward=1
  rf=""; [ "$MODE" = symmetric ] && rf="fully-random"
  pol=accept; [ "$INPUT" = drop ] && pol=drop
  ip netns exec $r nft -f - <<NFT
table ip nat {
  chain post {
    type nat hook postrouting priority 100;
    oifname "wan" masquerade $rf
  }
}
table inet filter {
  chain forwarding {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname "lanbr" accept
  }
  chain incoming {
    type filter hook input priority 0; policy $pol;
    ct state established,related accept
    iifname "lanbr" accept
    iifname "lo" accept
  }
}
NFT
done
for p in $(seq 1 ${PUBLIC:-0}); do
  ip netns add nat-p$p
  attach nat-p$p pp$p eth0 203.0.113.$((50+p))
done
