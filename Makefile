# cybercoop-operator — the commands a developer and CI run.
# `make help` lists them. Everything is built from the Go module proxy into bin/.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
ROOT := $(abspath .)
BIN := $(ROOT)/bin
export PATH := $(BIN):$(PATH)

K8S_VERSION := $(shell awk '$$1 == "require" && $$2 == "k8s.io/kubernetes" {print $$3}' hack/k8s/go.mod)
K8S_BIN := $(BIN)/k8s/$(K8S_VERSION)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
IMG ?= cybercoop/cybercoop-operator:$(VERSION)
GO_TEST_FLAGS ?= -count=1
FUZZTIME ?= 10s

CONTROLLER_GEN := $(BIN)/controller-gen
GOLANGCI_LINT := $(BIN)/golangci-lint
# golangci-lint with sigs.k8s.io/kube-api-linter compiled in (its cmd/golangci-lint-kube-api-linter).
KUBE_API_LINTER := $(BIN)/golangci-lint-kube-api-linter
GINKGO := $(BIN)/ginkgo
# Each tool is rebuilt when hack/tools/go.sum (and so its pinned version) changes.
TOOLS_SUM := $(shell sha256sum hack/tools/go.sum | cut -c1-12)
# Helm, built from its Go module at the version pinned in hack/helm/go.mod; rebuilt when hack/helm/go.sum changes.
HELM := $(BIN)/helm
HELM_VERSION := $(shell awk '$$1 == "require" && $$2 == "helm.sh/helm/v4" {print $$3}' hack/helm/go.mod)
HELM_SUM := $(shell sha256sum hack/helm/go.sum | cut -c1-12)
# promtool, built from the Prometheus Go module at the version pinned in hack/promtool/go.mod; rebuilt when
# hack/promtool/go.sum changes. `make chart-test` checks and unit-tests the chart's PrometheusRule with it.
PROMTOOL := $(BIN)/promtool
PROMETHEUS_VERSION := $(shell awk '$$1 == "require" && $$2 == "github.com/prometheus/prometheus" {print $$3}' hack/promtool/go.mod)
PROMTOOL_SUM := $(shell sha256sum hack/promtool/go.sum | cut -c1-12)
# crd-ref-docs, built from its Go module at the version pinned in hack/crdrefdocs/go.mod; it renders docs/api.md.
CRD_REF_DOCS := $(BIN)/crd-ref-docs
CRD_REF_DOCS_SUM := $(shell sha256sum hack/crdrefdocs/go.sum | cut -c1-12)
# Versity S3 Gateway, built from its Go module at the version pinned in hack/versitygw/go.mod; rebuilt when
# hack/versitygw/go.sum changes. The vault's S3 backend suite (make test-s3, part of make test) runs against it.
VERSITYGW := $(BIN)/versitygw
VERSITYGW_VERSION := $(shell awk '$$1 == "require" && $$2 == "github.com/versity/versitygw" {print $$3}' hack/versitygw/go.mod)
VERSITYGW_SUM := $(shell sha256sum hack/versitygw/go.sum | cut -c1-12)
# The Prometheus Operator module, for its ServiceMonitor CRD (example/prometheus-operator-crd) in `make chart-test`.
PROMETHEUS_OPERATOR_VERSION := v0.85.0

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z0-9_-]+:.*##/ {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

##@ Toolchain

.PHONY: tools
tools: $(CONTROLLER_GEN).$(TOOLS_SUM) $(GINKGO).$(TOOLS_SUM) $(GOLANGCI_LINT).$(TOOLS_SUM) $(KUBE_API_LINTER).$(TOOLS_SUM) ## Install controller-gen, ginkgo, golangci-lint and kube-api-linter at the versions pinned in hack/tools/go.mod.

$(CONTROLLER_GEN).$(TOOLS_SUM):
	cd hack/tools && GOBIN=$(BIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen
	rm -f $(CONTROLLER_GEN).* && touch $@
$(GINKGO).$(TOOLS_SUM):
	cd hack/tools && GOBIN=$(BIN) go install github.com/onsi/ginkgo/v2/ginkgo
	rm -f $(GINKGO).* && touch $@
$(GOLANGCI_LINT).$(TOOLS_SUM):
	cd hack/tools && GOBIN=$(BIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint
	rm -f $(GOLANGCI_LINT).* && touch $@
$(KUBE_API_LINTER).$(TOOLS_SUM):
	cd hack/tools && GOBIN=$(BIN) go install sigs.k8s.io/kube-api-linter/cmd/golangci-lint-kube-api-linter
	rm -f $(KUBE_API_LINTER).* && touch $@

.PHONY: helm
helm: $(HELM).$(HELM_SUM) ## Build helm into bin/ at the version pinned in hack/helm/go.mod (first time: about 2 minutes).

$(HELM).$(HELM_SUM):
	cd hack/helm && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$(HELM_VERSION)" -o $(HELM) helm.sh/helm/v4/cmd/helm
	rm -f $(HELM).* && touch $@

$(CRD_REF_DOCS).$(CRD_REF_DOCS_SUM):
	cd hack/crdrefdocs && CGO_ENABLED=0 go build -trimpath -o $(CRD_REF_DOCS) github.com/elastic/crd-ref-docs
	rm -f $(CRD_REF_DOCS).* && touch $@

.PHONY: api-docs
api-docs: $(CRD_REF_DOCS).$(CRD_REF_DOCS_SUM) ## Render the API reference, docs/api.md, from the types in api/v1alpha1 (crd-ref-docs).
	$(CRD_REF_DOCS) --config hack/crdrefdocs/config.yaml --source-path api/v1alpha1 --renderer markdown --output-path docs/api.md --log-level ERROR

.PHONY: promtool
promtool: $(PROMTOOL).$(PROMTOOL_SUM) ## Build promtool into bin/ at the Prometheus version pinned in hack/promtool/go.mod (first time: about 8 minutes on 2 CPUs).

$(PROMTOOL).$(PROMTOOL_SUM):
	cd hack/promtool && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/prometheus/common/version.Version=$(PROMETHEUS_VERSION)" -o $(PROMTOOL) github.com/prometheus/prometheus/cmd/promtool
	rm -f $(PROMTOOL).* && touch $@

.PHONY: versitygw
versitygw: $(VERSITYGW).$(VERSITYGW_SUM) ## Build Versity S3 Gateway into bin/ at the version pinned in hack/versitygw/go.mod (first time: about 2 minutes).

$(VERSITYGW).$(VERSITYGW_SUM):
	cd hack/versitygw && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.Version=$(VERSITYGW_VERSION)" -o $(VERSITYGW) github.com/versity/versitygw/cmd/versitygw
	rm -f $(VERSITYGW).* && touch $@

.PHONY: k8s-binaries
k8s-binaries: ## Build kube-apiserver, etcd, kubectl, kube-controller-manager, kube-scheduler and kwok into bin/k8s/<version> (first time: about 10 minutes).
	@hack/k8s-binaries.sh kube-apiserver etcd kubectl kube-controller-manager kube-scheduler kwok >/dev/null

##@ Development

.PHONY: generate
generate: $(CONTROLLER_GEN).$(TOOLS_SUM) ## Generate deepcopy code for the API types.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: manifests
manifests: $(CONTROLLER_GEN).$(TOOLS_SUM) ## Generate the CRDs and the manager's RBAC role; copy both into the chart.
	$(CONTROLLER_GEN) crd rbac:roleName=cybercoop-manager-role paths=./... output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	mkdir -p charts/cybercoop-operator/crds && cp config/crd/bases/*.yaml charts/cybercoop-operator/crds/
	mkdir -p charts/cybercoop-operator/files && cp config/rbac/role.yaml charts/cybercoop-operator/files/manager-role.yaml

.PHONY: fmt
fmt: ## gofmt every Go file.
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## go vet.
	go vet ./...

.PHONY: build
build: ## Build bin/cybercoop and the kubectl plugin bin/kubectl-cybercoop (put bin/ on PATH for `kubectl cybercoop`).
	go build -ldflags "-X github.com/cybercoop/cybercoop-operator/internal/version.Version=$(VERSION)" -o $(BIN)/cybercoop ./cmd/cybercoop
	go build -ldflags "-X github.com/cybercoop/cybercoop-operator/internal/version.Version=$(VERSION)" -o $(BIN)/kubectl-cybercoop ./cmd/kubectl-cybercoop

.PHONY: test
test: k8s-binaries versitygw ## Run unit tests, envtest suites (real kube-apiserver and etcd), the vault's S3 suite (Versity S3 Gateway) and the end-to-end suite (simulated cluster).
	cd hack/certmanager && go mod download github.com/cert-manager/cert-manager  # its CRDs, for the cert-manager mode's suite
	# Each package may take 20 minutes, not go test's 10: controllers/focalpoint/years takes
	# about 4 minutes alone and went past 10 on a machine busy with other work.
	KUBEBUILDER_ASSETS=$(K8S_BIN) VERSITYGW=$(VERSITYGW) go test $(GO_TEST_FLAGS) -timeout 20m ./...

.PHONY: test-s3
test-s3: versitygw ## Run the vault's S3 Object Lock suite against the pinned Versity S3 Gateway, or against the store in VAULT_S3_ENDPOINT (see README).
	VERSITYGW=$(VERSITYGW) go test $(GO_TEST_FLAGS) ./internal/vault/... -run 'S3' -v -timeout 20m

.PHONY: chart-test
chart-test: k8s-binaries helm promtool ## Lint the Helm charts, render them with several value sets and dry-run every object against a real kube-apiserver; bad values must fail; promtool checks and unit-tests the PrometheusRule.
	$(HELM) lint --strict charts/cybercoop-operator
	$(HELM) lint --strict charts/cybercoop-stack
	crd_dir="$$(cd hack/helm && go mod download -json github.com/prometheus-operator/prometheus-operator@$(PROMETHEUS_OPERATOR_VERSION) | sed -n 's/^\t"Dir": "\(.*\)",$$/\1/p')/example/prometheus-operator-crd"; \
	  KUBEBUILDER_ASSETS=$(K8S_BIN) HELM=$(HELM) PROMTOOL=$(PROMTOOL) SERVICEMONITOR_CRD="$$crd_dir/monitoring.coreos.com_servicemonitors.yaml" \
	  PROMETHEUSRULE_CRD="$$crd_dir/monitoring.coreos.com_prometheusrules.yaml" \
	  go test $(GO_TEST_FLAGS) -tags charttest ./test/chart/...

.PHONY: e2e
e2e: k8s-binaries helm build ## Install both charts with Helm into a simulated cluster, run the manager as the chart's ServiceAccount and three countries' stacks; upgrade and uninstall (about 2 minutes).
	KUBEBUILDER_ASSETS=$(K8S_BIN) HELM=$(HELM) CYBERCOOP=$(BIN)/cybercoop \
	  go test $(GO_TEST_FLAGS) -tags helme2e ./test/helme2e/ -timeout 20m

.PHONY: browser-test
browser-test: ## Open the auditor's HTML report in headless Chromium (Debian's chromium package); keep a screenshot and a PDF in bin/test-artefacts.
	@command -v chromium >/dev/null || { echo "make browser-test needs chromium: apt-get install --no-install-recommends chromium"; exit 1; }
	go test $(GO_TEST_FLAGS) -tags browser ./cmd/kubectl-cybercoop/ -run Chromium -v

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 10s); a bare deadline failure of Go 1.26's fuzz coordinator with no failing input is told apart (hack/fuzz.sh).
	FUZZTIME=$(FUZZTIME) hack/fuzz.sh

.PHONY: bench
bench: k8s-binaries ## Run the micro-benchmarks, then the scale harness (test/perf) against a real kube-apiserver and etcd; writes docs/performance.md (about 10 minutes; knobs PERF_* in test/perf/harness_test.go).
	KUBEBUILDER_ASSETS=$(K8S_BIN) PERF_BENCH_DIR=$(BIN)/bench test/perf/bench.sh

.PHONY: lint
lint: $(GOLANGCI_LINT).$(TOOLS_SUM) $(KUBE_API_LINTER).$(TOOLS_SUM) ## Run golangci-lint with the linters listed in .golangci.yml, and kube-api-linter on api/ (.golangci-kal.yml).
	$(GOLANGCI_LINT) run ./...
	$(KUBE_API_LINTER) run -c .golangci-kal.yml ./api/...

.PHONY: verify
verify: generate manifests api-docs ## Regenerate code, manifests and the API reference, tidy modules and gofmt; fail if the tree changed.
	go mod tidy
	cd hack/tools && go mod tidy
	cd hack/etcd && go mod tidy
	cd hack/k8s && go mod tidy
	cd hack/certmanager && go mod tidy
	cd hack/helm && go mod tidy
	cd hack/promtool && go mod tidy
	cd hack/crdrefdocs && go mod tidy
	cd hack/versitygw && go mod tidy
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	@if [ -n "$$(git status --porcelain)" ]; then \
	  echo "make verify: the tree differs from what is committed after regeneration; commit the result:"; \
	  git status --porcelain; git --no-pager diff --stat; exit 1; \
	fi

##@ Running

.PHONY: demo
demo: k8s-binaries build helm ## A simulated cluster; both charts installed with Helm; two countries' stacks, a request between them; their status printed.
	HELM=$(HELM) hack/demo.sh

.PHONY: run
run: manifests ## Run the manager against the cluster in $KUBECONFIG.
	go run ./cmd/cybercoop manager --zap-devel

.PHONY: docker-build
docker-build: ## Build the container image (needs a Docker engine, which CI machines do not have).
	docker build --build-arg VERSION=$(VERSION) -t $(IMG) .
