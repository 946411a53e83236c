for ns in $(ip netns list | awk '{print $1}' | grep '^nat-'); do ip netns del $ns; done
