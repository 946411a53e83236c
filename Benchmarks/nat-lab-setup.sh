#!/usr/bin/env bash
# NAT lab (root): resolver 203.0.113.10, routers nat-rK masquerading 10.K.0.0/24 (home-router firewall).
#   N=3 bash Benchmarks/nat-lab-setup.sh; HOSTS="nat-h1 nat-h2 nat-h3" BIN=.build/release/meshstep bash Benchmarks/nat-lab-run.sh
#   baseline without NAT, same lab: for k in 1 2 3; do ip netns exec nat-rK nft flush ruleset; done; HOSTS="nat-r1 nat-r2 nat-r3" ...
# NAT lab: resolver on the "internet" (203.0.113.10), N routers (203.0.113.1K) each masquerading a
# LAN 10.K.0.0/24 with one host 10.K.0.2. MODE: cone (masquerade) or symmetric (fully-random, iptables: --random-fully).
# INPUT: drop (home router: unsolicited to the router itself dropped) or accept.
# PUBLIC=K adds K hosts on the internet side without a NAT: nat-p1 (203.0.113.51), ...
set -e
N=${N:-3}; MODE=${MODE:-cone}; INPUT=${INPUT:-drop}
ip netns add nat-inet; ip -n nat-inet link add br0 type bridge; ip -n nat-inet link set br0 up
ip netns add nat-res
ip -n nat-inet link add pres type veth peer name eth0 netns nat-res
ip -n nat-inet link set pres master br0; ip -n nat-inet link set pres up
ip -n nat-res addr add 203.0.113.10/24 dev eth0; ip -n nat-res link set eth0 up; ip -n nat-res link set lo up
for k in $(seq 1 $N); do
  r=nat-r$k; h=nat-h$k
  ip netns add $r; ip netns add $h
  ip -n $r link add lanbr type bridge; ip -n $r link set lanbr up
  ip -n nat-inet link add pr$k type veth peer name wan netns $r
  ip -n nat-inet link set pr$k master br0; ip -n nat-inet link set pr$k up
  ip -n $r addr add 203.0.113.$((10+k))/24 dev wan; ip -n $r link set wan up; ip -n $r link set lo up
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
  ip -n nat-inet link add pp$p type veth peer name eth0 netns nat-p$p
  ip -n nat-inet link set pp$p master br0; ip -n nat-inet link set pp$p up
  ip -n nat-p$p addr add 203.0.113.$((50+p))/24 dev eth0; ip -n nat-p$p link set eth0 up; ip -n nat-p$p link set lo up
done
