# firstbyte — conformance suite for server-first TCP protocols behind Istio.
#
#   make e2e                  the main job: kind target (needs Docker)
#   make e2e TARGET=predict   Istio's own generator decides every scenario (offline)
#   make e2e TARGET=predict ISTIO_LINES=all   the same on every Istio line (hack/istio/*)
#   make gate FROM=1.30 TO=1.31   what an Istio upgrade changes (offline; STRICT=1 fails on a regression)
#   make e2e TARGET=local     real sockets through netns + Istio's iptables (root)
#   make e2e TARGET=cluster   an existing cluster from KUBECONFIG
#   make test                 everything that runs on this machine
#   make pins                 resolve every pin of hack/versions.env (network)
#   make bench                timings and false-verdict counts
#   make soak                 the local catalogue SOAK_RUNS times under load (root)
#
# Variables: TARGET, SCENARIOS (a scenario file), LABELS (Ginkgo label
# filter), DRY_RUN=1 (print the plan, touch nothing), ARTIFACTS (reports),
# ISTIO_VERSION, KEEP_CLUSTER=1, ID (for make explain), ISTIO_LINES (predict),
# FROM and TO (make gate: Istio lines, as go run ./cmd/istiolines list names them),
# SERVERS=embedded|upstream (upstream: real servers — pinned images on
# kind/cluster, Debian's MariaDB and Exim on local), PROFILE=sidecar|ambient
# (kind/cluster: the ambient profile's scenarios, in their own kind cluster).

SHELL       := /usr/bin/env bash
.SHELLFLAGS := -o pipefail -c
GO          ?= go
TARGET      ?= kind
ARTIFACTS   ?= $(CURDIR)/artifacts
SCENARIOS   ?=
LABELS      ?=
ID          ?=
DRY_RUN     ?=
ISTIO_LINES ?=
SERVERS     ?= embedded
GOTEST_FLAGS ?= -count=1

# The scripts under hack/ read these from the environment.
export TARGET SCENARIOS LABELS ARTIFACTS DRY_RUN ISTIO_VERSION KEEP_CLUSTER KIND_CLUSTER ISTIO_LINES SERVERS \
       FIRSTBYTE_DISPOSABLE_MESH REINSTALL_ISTIO GINKGO_TIMEOUT_MINUTES PROFILE

.PHONY: all e2e test unit vet predict local bench soak explain fmt-check clean help tools tidy-check shellcheck pins gate

all: test

help:
	@awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' Makefile

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

# predict: the predict target through the runner (firstbyte predict):
# Istio's own config generator decides every scenario, no traffic.
# ISTIO_LINES=all (or a list) runs it once per Istio line and joins the
# tables (hack/predict-lines.sh, which builds each line's own
# bin/firstbyte-<line>, so bin/firstbyte is not needed then).
predict: $(if $(ISTIO_LINES),,bin/firstbyte)
ifneq ($(ISTIO_LINES),)
	@hack/predict-lines.sh
else
	@bin/firstbyte predict --artifacts "$(ARTIFACTS)" $(if $(LABELS),--labels "$(LABELS)") $(SCENARIOS)
endif

# gate: the version gate (firstbyte gate, package gate): the catalogue, or
# SCENARIOS, predicted on the Istio lines FROM and TO, each by its own
# bin/firstbyte-<line> (package istioline: built from the line's go.mod,
# cached, progress on stderr), and every row whose outcome changes, with
# the decisive step on each line. The main line's binary runs the gate
# itself, so the main line is linked once. firstbyte gate exits 1 when a
# row that connects on FROM does not on TO, but GNU make turns any failed
# recipe into its own exit 2, the same as a gate that could not run. So
# make gate exits 0 once the gate has run, whatever its verdict (the last
# line says "gate: FAIL" or "gate: pass"; artifacts/gate/gate.json holds
# it), and 2 when it could not run; with STRICT=1 a regression fails make
# too. A CI step that must fail on a regression runs firstbyte gate
# itself (its exit 1), or make gate STRICT=1.
FROM   ?=
TO     ?=
STRICT ?=
gate:
	@test -n "$(FROM)" -a -n "$(TO)" || { echo "make gate: set FROM and TO, e.g. make gate FROM=1.30 TO=1.31 (the lines: go run ./cmd/istiolines list)" >&2; exit 2; }
	@bin=$$($(GO) run ./cmd/istiolines build main) || exit 2; rc=0; \
		"$$bin" gate --from "$(FROM)" --to "$(TO)" --artifacts "$(ARTIFACTS)" $(if $(LABELS),--labels "$(LABELS)") $(SCENARIOS) || rc=$$?; \
		if [ $$rc -eq 1 ] && [ -z "$(STRICT)" ]; then echo "make gate: the gate found regressions (firstbyte gate exit 1; make gate STRICT=1 fails on them)" >&2; rc=0; fi; \
		exit $$rc

explain: bin/firstbyte
	@test -n "$(ID)" || { echo "make explain: set ID=<scenario-id> (see scenarios/catalogue*.yaml)" >&2; exit 2; }
	@bin/firstbyte explain "$(ID)" $(if $(SCENARIOS),-f "$(SCENARIOS)")

# bin/firstbyte is rebuilt only when a source of this module changes: make
# compares timestamps in milliseconds, while go build's own up-to-date
# check hashes Istio's whole graph (seconds) on every run. Module
# dependencies change only with go.mod/go.sum, which are listed.
FIRSTBYTE_SOURCES := $(shell find . \( -path ./.git -o -path ./artifacts -o -path ./bin -o -name testdata \) -prune -o -type f \( -name '*.go' -a ! -name '*_test.go' -o -name '*.yaml' -o -name '*.tmpl' \) -print) go.mod go.sum
bin/firstbyte: $(FIRSTBYTE_SOURCES)
	@echo "building bin/firstbyte (go build ./cmd/firstbyte)" >&2
	@$(GO) build -o $@ ./cmd/firstbyte
	@touch $@

# bin/e2e.test is the Ginkgo suite, built once for every parallel process
# of the local target (hack/e2e-local.sh) and rebuilt on the same terms.
bin/e2e.test: $(FIRSTBYTE_SOURCES) $(wildcard e2e/*_test.go)
	@echo "building bin/e2e.test (go test -c ./e2e)" >&2
	@$(GO) test -c -o $@ ./e2e
	@touch $@

local: bin/e2e.test
	@hack/e2e-local.sh

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go') 2>/dev/null); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

unit:
	$(GO) test $(GOTEST_FLAGS) ./...

# test: everything that runs on this machine — the Debian packages the
# local target needs (installed as root), gofmt, go mod tidy, vet, unit
# tests (which include the predict table), then the local target. Without
# root it runs the rest, and says what it skipped and how to run it.
test: tools fmt-check tidy-check shellcheck vet unit
	@if [ "$$(id -u)" -eq 0 ]; then $(MAKE) --no-print-directory local; \
	else echo "make test: skipped, because they need root (network namespaces, iptables rules): the local target (make e2e TARGET=local) and the Go tests of targets/local, targets/local/netlab and targets/local/dataplane (they skip themselves). Everything else passed. Run the rest: sudo make test"; fi

# tools: as root, install the missing Debian packages (iproute2, iptables,
# shellcheck).
tools:
	@hack/ensure-tools.sh

# shellcheck: the shell scripts (hack/*.sh, .ci/run) pass shellcheck at
# warning level. make tools installs shellcheck as root; without it (not
# root) this says it skipped.
shellcheck:
	@if command -v shellcheck >/dev/null 2>&1; then shellcheck -S warning hack/*.sh .ci/run; \
	else echo "make shellcheck: skipped: shellcheck is not installed (make tools installs it as root; apt-get install shellcheck)"; fi

# tidy-check: go.mod and go.sum are what go mod tidy makes them.
tidy-check:
	@$(GO) mod tidy -diff || { echo "tidy-check: go.mod/go.sum are not tidy (diff above): run go mod tidy and commit the result" >&2; exit 1; }

# pins: resolve every pin of hack/versions.env (node image digests in the
# registry, istioctl tarballs and their .sha256); needs the network.
pins:
	@hack/pins.sh

# bench: probe verdict timings and false verdicts, the predict catalogue
# (in package predict, and through the runner as firstbyte predict runs it),
# firstbyte analyze on generated 2,000- and 10,000-Service meshes with wall
# and peak RSS (hack/scale-bench.sh; SCALE_50K=1 adds 50,000), the bug-report loop
# (one scenario file on predict and local, warm; hack/loop-bench.sh),
# a 30 s fuzz run of the scenario-file loader (findings land in
# scenarios/testdata/fuzz/FuzzLoad: commit them with the fix), and (root)
# the local catalogue 20 times with per-phase timings and the
# flaky count. Figures go to docs/benchmarks.md with machine and date.
bench:
	$(GO) run ./cmd/probebench
	$(GO) test ./predict/ -run '^$$' -bench Catalogue -benchtime 3x -count=1
	$(GO) test ./scenarios/ -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime 30s
	$(GO) test ./analyze/ -run '^$$' -bench 'AnalyzeGeneratedMesh/2k' -benchtime 1x -count=1
	$(GO) test ./targets/predict/ -run '^$$' -bench CatalogueTable -benchtime 3x -count=1
	@hack/scale-bench.sh
	@hack/loop-bench.sh
	@if [ "$$(id -u)" -eq 0 ]; then $(GO) run ./cmd/localbench -runs 20; \
	else echo "bench: skipping the local catalogue: it needs root (sudo make bench)"; fi

# soak: the local catalogue SOAK_RUNS times while CPU burners (one per
# core) and a looping cold `go build` of the module load the machine; it
# reports false verdicts per scenario and saves each one's evidence
# (emulator per-phase timings included) under $(ARTIFACTS)/soak.
SOAK_RUNS ?= 50
soak:
	@[ "$$(id -u)" -eq 0 ] || { echo "make soak: the local target needs root (sudo make soak)" >&2; exit 2; }
	@bin=$$(mktemp -d) && trap 'rm -rf "$$bin"' EXIT && $(GO) build -o "$$bin/localbench" ./cmd/localbench && \
		"$$bin/localbench" -runs $(SOAK_RUNS) -burners $$(nproc) -load-build -artifacts "$(ARTIFACTS)/soak"

clean:
	rm -rf $(ARTIFACTS) bin
