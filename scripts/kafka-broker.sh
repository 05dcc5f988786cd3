# Sourced by scripts/demo.sh, benches/compare.sh and scripts/install-kafka.sh. Makes the
# scratch directory $work and the `pids` array, both cleaned up on exit (every pid killed,
# $work removed).
#
# start_broker NAME PORT [PROPERTY=VALUE ...] starts a single-node Apache Kafka (KRaft,
# PLAINTEXT on 127.0.0.1:PORT, its controller on a free port) in $work/NAME, adds its pid to
# `pids`, and waits until it has started. Extra properties are appended to its configuration.
# Expects $root; KMIRROR_KAFKA_VERSION and the other node.sh settings apply.
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# A free port below the kernel's ephemeral range: a port handed out for port 0 can be handed
# again to the local end of an outgoing connection before the broker binds it.
kafka_free_port() {
    python3 - <<'PY'
import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for _ in range(1000):
    port = random.randrange(10000, low if low > 11000 else 32768)
    try:
        socket.create_server(("127.0.0.1", port)).close()
        print(port)
        break
    except OSError:
        pass
PY
}

start_broker() { # name port [property=value ...]
    local name=$1 port=$2 dir=$work/$1
    shift 2
    local controller
    controller=$(kafka_free_port)
    mkdir -p "$dir"
    {
        cat "$root/scripts/kafka/base.properties"
        echo "node.id=1"
        echo "controller.quorum.voters=1@127.0.0.1:$controller"
        echo "listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller"
        echo "advertised.listeners=PLAINTEXT://127.0.0.1:$port"
        echo "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
        echo "log.dirs=$dir/data"
        local p
        for p in "$@"; do echo "$p"; done
    } >"$dir/server.properties"
    "$root/scripts/kafka/node.sh" format "$dir" >"$dir/format.log" 2>&1 || {
        cat "$dir/format.log" >&2
        exit 1
    }
    "$root/scripts/kafka/node.sh" start "$dir" >"$dir/kafka.log" 2>&1 &
    pids+=($!)
    local i
    for i in $(seq 600); do
        grep -q "Kafka Server started" "$dir/kafka.log" 2>/dev/null && return
        sleep 0.1
    done
    echo "Kafka ($name, port $port) did not start within 60 s; its log:" >&2
    tail -30 "$dir/kafka.log" >&2
    exit 1
}
