# firstbyte — conformance suite for server-first TCP protocols behind Istio.
#
#   make e2e                  the main job: kind target (needs Docker)
#   make e2e TARGET=predict   Istio's own generator decides every scenario (offline)
#   make e2e TARGET=local     real sockets through netns + Istio's iptables (root)
#   make e2e TARGET=cluster   an existing cluster from KUBECONFIG
#   make test                 everything that runs on this machine
#   make bench                timings and false-verdict counts
#
# Variables: TARGET, SCENARIOS (a scenario file), LABELS (Ginkgo label
# filter), DRY_RUN=1 (print the plan, touch nothing), ARTIFACTS (reports),
# ISTIO_VERSION, KEEP_CLUSTER=1, ID (for make explain), SERVERS=embedded|upstream
# (upstream: real servers — pinned images on kind/cluster, Debian's MariaDB
# and Exim on local).

SHELL       := /usr/bin/env bash
.SHELLFLAGS := -o pipefail -c
GO          ?= go
TARGET      ?= kind
ARTIFACTS   ?= $(CURDIR)/artifacts
SCENARIOS   ?=
LABELS      ?=
ID          ?=
DRY_RUN     ?=
SERVERS     ?= embedded
GOTEST_FLAGS ?= -count=1

# The scripts under hack/ read these from the environment.
export TARGET SCENARIOS LABELS ARTIFACTS DRY_RUN ISTIO_VERSION KEEP_CLUSTER KIND_CLUSTER SERVERS

.PHONY: all e2e test unit vet predict local bench explain fmt-check clean help

all: test

help:
	@sed -n '2,15p' Makefile | sed 's/^# \{0,1\}//'

e2e:
ifeq ($(TARGET),predict)
	@$(MAKE) --no-print-directory predict
else ifeq ($(TARGET),local)
	@$(MAKE) --no-print-directory local
else ifneq ($(filter $(TARGET),kind cluster),)
	@hack/e2e-kube.sh "$(TARGET)"
else
	@echo "make e2e: unknown TARGET=$(TARGET): want kind (default), cluster, local or predict" >&2; exit 2
endif

# predict: Istio's own config generator + evaluator, under go test because
# Istio's simulation needs a *testing.T.
predict:
	@$(GO) test ./predict/ -run '^TestCatalogue$$' $(GOTEST_FLAGS) -v -timeout 15m \
		-args -artifacts="$(ARTIFACTS)/predict" $(if $(SCENARIOS),-scenarios="$(abspath $(SCENARIOS))") \
		| hack/predict-filter.sh

explain:
	@test -n "$(ID)" || { echo "make explain: set ID=<scenario-id> (see scenarios/catalogue.yaml)" >&2; exit 2; }
	@$(GO) test ./predict/ -run '^TestExplain$$' $(GOTEST_FLAGS) -v \
		-args -explain="$(ID)" $(if $(SCENARIOS),-scenarios="$(abspath $(SCENARIOS))") | hack/predict-filter.sh

local:
	@hack/e2e-local.sh

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go') 2>/dev/null); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

unit:
	$(GO) test $(GOTEST_FLAGS) ./...

# test: everything that runs on this machine — vet, gofmt, unit tests
# (which include the predict table), then the local target.
test: fmt-check vet unit
	@$(MAKE) --no-print-directory local

# bench: probe verdict timings and false verdicts, the predict catalogue,
# and (root) the local catalogue 20 times with per-phase timings and the
# flaky count. Figures go to docs/benchmarks.md with machine and date.
bench:
	$(GO) run ./servers/cmd/probebench
	$(GO) test ./predict/ -run '^$$' -bench Catalogue -benchtime 3x -count=1
	@if [ "$$(id -u)" -eq 0 ]; then $(GO) run ./e2e/cmd/localbench -runs 20; \
	else echo "bench: skipping the local catalogue: it needs root (sudo make bench)"; fi

clean:
	rm -rf $(ARTIFACTS)
