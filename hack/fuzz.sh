#!/usr/bin/env bash
# make fuzz: each fuzz target under internal/ for FUZZTIME.
#
# Go 1.26's fuzz coordinator can fail a target with a bare "context deadline
# exceeded" at the end of -fuzztime when a worker is still busy with an input
# (golang/go#75804, fixed in Go 1.27): no input failed and none is written to
# testdata/fuzz. Such a run counts as passed only after the target's corpus,
# the committed seeds and whatever the run added, replays clean (go test -run).
# Any other failure, or a new crasher file, fails.
set -euo pipefail
fuzztime=${FUZZTIME:-10s}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
for target in $(grep -rhoE '^func (Fuzz[A-Za-z0-9_]+)' --include='*_test.go' internal | sed 's/func //'); do
  pkg=$(dirname "$(grep -rlE "^func $target\(" --include='*_test.go' internal | head -1)")
  echo "fuzz $target in ./$pkg for $fuzztime"
  corpus="$pkg/testdata/fuzz/$target"
  before=$(ls "$corpus" 2>/dev/null | sort || true)
  log=$(mktemp)
  if go test "./$pkg" -run '^$' -fuzz "^$target\$" -fuzztime "$fuzztime" -fuzzminimizetime "$fuzztime" -parallel 2 2>&1 | tee "$log"; then
    rm -f "$log"
    continue
  fi
  after=$(ls "$corpus" 2>/dev/null | sort || true)
  if [ "$before" = "$after" ] && grep -qx '    context deadline exceeded' "$log" && ! grep -q -- '--- FAIL: .*(.*)$' <(grep -v "^--- FAIL: $target " "$log"); then
    echo "fuzz $target: the coordinator's deadline race (golang/go#75804), no failing input written; replaying the corpus"
    rm -f "$log"
    go test "./$pkg" -run "^$target\$" -count=1
    continue
  fi
  rm -f "$log"
  echo "fuzz $target failed: see above; a failing input is in $corpus"
  exit 1
done
