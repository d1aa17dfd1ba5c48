#!/usr/bin/env bash
# Compares two builds of microbatch on the runtime benchmarks (throughput and flush lateness), the
# variants interleaved round by round so that a noisy minute on a shared machine hits both:
#
#   bash bench/compare-builds.sh <baseline checkout, built> [rounds] [lateness rounds] [lateness seconds]
#
# Each run is a fresh Node process of bench/throughput/worker.ts or bench/lateness.ts in that
# checkout (which imports its own dist/). Prints one JSON line per run, then the medians.
set -euo pipefail
base=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")/.." && pwd)
rounds=${2:-7}
late_rounds=${3:-3}
late_seconds=${4:-30}
out=$(mktemp)
run() { # label dir script args…
  local label=$1 dir=$2
  shift 2
  (cd "$dir" && NODE_OPTIONS= node --import tsx "$@") | sed -n "s/^@@bench-result //p" |
    sed "s/^/{\"build\":\"$label\",\"run\":/; s/\$/}/" | tee -a "$out"
}
for ((r = 1; r <= rounds; r++)); do
  for mode in single arrays; do
    # Alternate which build goes first, so neither always runs on the warmer machine.
    if ((r % 2)); then order="base new"; else order="new base"; fi
    for b in $order; do
      dir=$([ "$b" = base ] && echo "$base" || echo "$here")
      run "$b" "$dir" bench/throughput/worker.ts microbatch "$mode" 2000000
    done
  done
done
for ((r = 1; r <= late_rounds; r++)); do
  if ((r % 2)); then order="base new"; else order="new base"; fi
  for b in $order; do
    dir=$([ "$b" = base ] && echo "$base" || echo "$here")
    run "$b" "$dir" bench/lateness.ts microbatch "$late_seconds"
  done
done
node -e '
const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
for (const mode of ["single", "arrays"]) {
  const rate = (b) => median(lines.filter((l) => l.build === b && l.run.mode === mode && l.run.recordsPerSecond).map((l) => l.run.recordsPerSecond));
  const [b, n] = [rate("base"), rate("new")];
  console.log(`throughput ${mode}: base ${(b / 1e6).toFixed(2)} M rec/s, new ${(n / 1e6).toFixed(2)} M rec/s, new/base ${(n / b).toFixed(3)}`);
}
for (const q of ["median", "p99"]) {
  const late = (b) => median(lines.filter((l) => l.build === b && l.run.lateness).map((l) => l.run.lateness[q]));
  console.log(`lateness ${q}: base ${late("base").toFixed(2)} ms, new ${late("new").toFixed(2)} ms`);
}
' "$out"
