#!/usr/bin/env bash
# make demo: builds the control-plane binaries and helm (first time: about 10
# minutes, then seconds) and runs hack/demo, which starts a simulated cluster,
# installs both charts with Helm, runs the operator and two countries' stacks, and
# prints their status.
set -euo pipefail
cd "$(dirname "$0")/.."
K8S_BIN="$(hack/k8s-binaries.sh kube-apiserver etcd kubectl kube-controller-manager kube-scheduler kwok 2>/dev/null)"
export K8S_BIN
: "${HELM:?HELM is not set: run make demo}"
export HELM
exec go run ./hack/demo
