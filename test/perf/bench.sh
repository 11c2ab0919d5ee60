#!/usr/bin/env bash
# make bench: the micro-benchmarks (their output kept in PERF_BENCH_DIR), then the
# harness (test/perf, -tags perf), which reads them and writes docs/performance.md.
# KUBEBUILDER_ASSETS must point at the built kube-apiserver and etcd (make sets it).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out=${PERF_BENCH_DIR:-$root/bin/bench}
mkdir -p "$out"
start=$(date +%s)
go test ./internal/pki -run '^$' -bench . -benchtime 2s | tee "$out/pki.txt"
go test ./internal/vault/... -run '^$' -bench Ingest -benchtime 1x | tee "$out/vault-ingest.txt"
go test ./internal/vault -run '^$' -bench CustodyTree -benchtime 1x | tee "$out/vault-custodytree.txt"
go test ./internal/gateway/requests -run '^$' -bench Preservation -benchtime 2s | tee "$out/requests.txt"
# 2000 requests, not 400: the bare TLS server answers 400 in a few milliseconds,
# too short a run for a stable ratio.
go test ./internal/gateway -run '^$' -bench 'PreservationAccepted|BareTLS13|DurableFloor' -benchtime 2000x | tee "$out/gateway.txt"
PERF_BENCH_DIR="$out" go test -tags perf ./test/perf -run '^TestHarness$' -count=1 -v -timeout 40m
echo "make bench took $(( $(date +%s) - start )) s"
