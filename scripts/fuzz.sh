#!/usr/bin/env bash
# Fuzzes one parser with libFuzzer for a number of seconds:
#   scripts/fuzz.sh TARGET SECONDS
# TARGET: remote-write, remote-write-2, otlp, exposition-text, openmetrics, usage-report, selector, config.
# The harnesses are in fuzz/ (a package of their own, built with -sanitize=fuzzer,address);
# the corpus grows under .build/fuzz/corpus/TARGET, seeded from the tests' fixtures, and a
# crash is written to .build/fuzz/crashes/TARGET/ (libFuzzer prints its path and exits 1).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:?usage: scripts/fuzz.sh TARGET SECONDS}"
seconds="${2:?usage: scripts/fuzz.sh TARGET SECONDS}"
scripts/install-dependencies.sh
scratch="$PWD/.build/fuzz"
# The main package is a path dependency, whose new source files a kept build plan would miss.
rm -f "$scratch/build/debug.yaml" "$scratch/build/x86_64-unknown-linux-gnu/debug/description.json"
swift build --package-path fuzz --scratch-path "$scratch/build" --product "fuzz-$target" \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -use-ld=lld  # gold fails on ASan objects
corpus="$scratch/corpus/$target"
crashes="$scratch/crashes/$target"
mkdir -p "$corpus" "$crashes"
[ -n "$(ls -A "$corpus")" ] || python3 fuzz/seeds.py "$target" "$corpus"
# One process, no leak checks (the harnesses keep nothing), inputs up to 1 MiB; Swift's own
# backtracer is off, as it trips over AddressSanitizer (libFuzzer reports the crash itself).
SWIFT_BACKTRACE=enable=no "$scratch/build/debug/fuzz-$target" -max_total_time="$seconds" -max_len=1048576 -detect_leaks=0 \
    -artifact_prefix="$crashes/" -print_final_stats=1 "$corpus"
