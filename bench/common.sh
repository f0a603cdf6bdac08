# Sourced by the benchmark scripts: where the binaries come from, the size of a run, free ports.
#
# BENCH_SMOKE=1 is the smoke run the test command makes of every script (BenchSmokeTests): the
# binaries already built in BENCH_BIN (the tests' debug build: nothing is built again), tiny
# sizes, a few seconds, so that no script rots unseen. Its figures mean nothing; its
# side-by-side lines must appear. Otherwise: release builds of the products a script names, and
# its full sizes.

# bench_build PRODUCT...: builds them in release (not in a smoke run) and sets $bin to their folder.
bench_build() {
    if [ -n "${BENCH_SMOKE:-}" ]; then
        bin="${BENCH_BIN:?a smoke run takes the binaries already built from BENCH_BIN}"
    else
        for product in "$@"; do swift build -c release --product "$product"; done
        bin="$(swift build -c release --show-bin-path)"
    fi
}

# sized FULL SMOKE: the size for this run.
sized() { if [ -n "${BENCH_SMOKE:-}" ]; then echo "$2"; else echo "$1"; fi; }

# free_port: a loopback port nobody listens on now.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_ready URL: until it answers 2xx (a daemon started in the background), at most 60 s.
wait_ready() {
    for _ in $(seq 1 600); do curl -skf "$1" >/dev/null && return 0; sleep 0.1; done
    echo "$1 did not answer within 60 s" >&2
    return 1
}

# start_victoria_metrics DIR PORT LOG: VictoriaMetrics (Debian's victoria-metrics) on DIR, in the
# background, keeping every sample (a load's may be hours old) and answering queries of the
# newest at once; sets $vm_pid and waits until it is healthy.
start_victoria_metrics() {
    victoria-metrics -storageDataPath="$1" -httpListenAddr="127.0.0.1:$2" -retentionPeriod=10y -search.latencyOffset=0s >"$3" 2>&1 &
    vm_pid=$!
    wait_ready "127.0.0.1:$2/health"
}
