#!/usr/bin/env bash
# make demo: builds the control-plane binaries (first time: about 10 minutes, then
# seconds) and runs hack/demo, which starts a simulated cluster, the operator and
# the sample stack, and prints its status.
set -euo pipefail
cd "$(dirname "$0")/.."
K8S_BIN="$(hack/k8s-binaries.sh kube-apiserver etcd kubectl kube-controller-manager kube-scheduler kwok 2>/dev/null)"
export K8S_BIN
exec go run ./hack/demo
