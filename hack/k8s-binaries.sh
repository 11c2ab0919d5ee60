#!/usr/bin/env bash
# Builds the Kubernetes control-plane binaries from the Go module proxy at the
# versions pinned in hack/k8s/go.mod and hack/etcd/go.mod, into bin/k8s/<version>/.
# Idempotent: a binary is rebuilt only when its version or the module's go.sum changed.
#
# usage: hack/k8s-binaries.sh [binary...]   (default: kube-apiserver etcd kubectl)
#        the demo also needs kube-controller-manager kube-scheduler kwok
# Prints the directory holding the binaries (for KUBEBUILDER_ASSETS) on stdout.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
k8s_version="$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" {print $3}' "$root/hack/k8s/go.mod")"
etcd_version="$(awk '$1 == "require" && $2 == "go.etcd.io/etcd/server/v3" {print $3}' "$root/hack/etcd/go.mod")"
kwok_version="$(awk '$1 == "require" && $2 == "sigs.k8s.io/kwok" {print $3}' "$root/hack/kwok/go.mod")"
minor="${k8s_version#v1.}"; minor="${minor%%.*}"
dest="$root/bin/k8s/$k8s_version"
mkdir -p "$dest"
binaries=("$@")
[ ${#binaries[@]} -gt 0 ] || binaries=(kube-apiserver etcd kubectl)

ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
for name in "${binaries[@]}"; do
  case "$name" in
    etcd) module=hack/etcd; pkg=. ; version="$etcd_version"; flags="-s -w" ;;
    kwok) module=hack/kwok; pkg=sigs.k8s.io/kwok/cmd/kwok; version="$kwok_version"; flags="-s -w" ;;
    kube-apiserver|kube-controller-manager|kube-scheduler|kubectl)
      module=hack/k8s; pkg="k8s.io/kubernetes/cmd/$name"; version="$k8s_version"; flags="$ldflags" ;;
    *) echo "k8s-binaries: unknown binary $name (known: kube-apiserver etcd kubectl kube-controller-manager kube-scheduler kwok)" >&2; exit 2 ;;
  esac
  stamp="$version $(sha256sum "$root/$module/go.sum" | cut -c1-16)"
  if [ -x "$dest/$name" ] && [ "$(cat "$dest/.$name.stamp" 2>/dev/null)" = "$stamp" ]; then
    continue
  fi
  echo "k8s-binaries: building $name $version from the Go module proxy (kube-apiserver takes about 6 minutes the first time)" >&2
  start=$(date +%s)
  (cd "$root/$module" && go build -o "$dest/$name.tmp" -ldflags "$flags" "$pkg")
  mv "$dest/$name.tmp" "$dest/$name"
  if [ "$name" = kwok ]; then
    # kwok needs "stages" saying how simulated nodes and pods change state; use
    # the fast ones shipped in its module (nodes Ready at once, pods Running at once).
    stages="$(cd "$root/hack/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage"
    for f in node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
      echo "---"; cat "$stages/$f"
    done > "$dest/kwok-stages.yaml"
  fi
  echo "$stamp" > "$dest/.$name.stamp"
  echo "k8s-binaries: built $name in $(( $(date +%s) - start ))s" >&2
done
echo "$dest"
