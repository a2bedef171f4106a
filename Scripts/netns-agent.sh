#!/bin/sh
# Stands in for ssh as an MPI launcher's agent, for ranks on hosts emulated by network
# namespaces (see Tests/MultiprocessingTests/MPI/EmulatedHosts.swift):
#   MPICH:    mpiexec.mpich -launcher ssh -launcher-exec netns-agent.sh -hosts 10.77.0.11,...
#   Open MPI: mpiexec.openmpi --mca plm_rsh_agent netns-agent.sh --host 10.77.0.11,...
# The launcher calls it as it would call ssh: options, a host, then the command, whose words
# ssh would join with spaces and hand to the remote shell. NETNS_AGENT_HOSTS says where each
# host is: space-separated ADDRESS=NAMESPACE=HOSTNAME entries. The command runs in that
# namespace, in a UTS namespace of its own whose host name is HOSTNAME, so that each emulated
# host also has a name of its own, as MPI_Get_processor_name reports it.
set -eu

# Skip ssh's options as a launcher passes them (Hydra: -x; others may add -o/-p/-l VALUE).
while [ $# -gt 0 ]; do
    case "$1" in
    -[bcDEeFIiJLlmOopQRSWw]) shift 2 ;;
    -*) shift ;;
    *) break ;;
    esac
done
if [ $# -lt 2 ]; then
    echo "netns-agent: usage: netns-agent.sh [ssh options] HOST COMMAND..." >&2
    exit 255
fi
host=$1
shift

for entry in ${NETNS_AGENT_HOSTS:-}; do
    address=${entry%%=*}
    rest=${entry#*=}
    namespace=${rest%%=*}
    name=${rest#*=}
    if [ "$address" = "$host" ] || [ "$name" = "$host" ]; then
        # 255 is what ssh exits with when it cannot reach the host: launchers know it.
        exec ip netns exec "$namespace" unshare --uts sh -c 'hostname "$0" && exec sh -c "$1"' "$name" "$*"
    fi
done
echo "netns-agent: no emulated host $host in NETNS_AGENT_HOSTS" >&2
exit 255
