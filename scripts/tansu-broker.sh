# Sourced by scripts/demo.sh and benches/compare.sh. Makes the scratch directory $work and
# the `pids` array, both cleaned up on exit (every pid killed, $work removed).
# start_broker NAME PORT starts a tansu broker (sqlite storage) on 127.0.0.1:PORT in
# $work/NAME, adds its pid to `pids`, and waits until it accepts connections. Expects $tools.
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

start_broker() { # name port
    mkdir -p "$work/$1"
    (cd "$work/$1" && exec env -i PATH="$PATH" "$tools/bin/tansu" broker \
        --listener-url "tcp://127.0.0.1:$2" --advertised-listener-url "tcp://127.0.0.1:$2" \
        --storage-engine sqlite://tansu.db >"$work/$1/tansu.log" 2>&1) &
    pids+=($!)
    for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return; sleep 0.1; done
    echo "tansu on port $2 did not start" >&2
    exit 1
}
