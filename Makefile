# The README's two commands are `make run` and `make test`; everything else serves them.
PY      ?= $(shell command -v python3.11 || command -v python3)
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-stamp
ENGINES := infra/engines/engines.sh
PYTEST_ARGS ?= -n 3 --dist loadfile  # whole files per worker: module fixtures stay shared

.PHONY: install run test check lint unit contract integration e2e jars engines-up engines-down \
        engines-status clean fuzz install-browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(STAMP)

## Debian's chromium for the browser tests (tests/browser; Playwright drives it, it never
## downloads a browser of its own). Needs root, or sudo, on a machine without it.
CHROMIUM ?= /usr/bin/chromium
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
install-browser:
	test -x $(CHROMIUM) || { $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium; }

## Run the hub: embedded default (SQLite), http://127.0.0.1:8080
run: install
	$(BIN)/truc serve

## Lint, type-check, check architecture rules, then the whole suite on real engines; then
## the short cluster test alone (six more JVMs: it would slow every other test).
test: install install-browser jars haproxy
	$(ENGINES) up all
	status=0; $(MAKE) --no-print-directory check || status=$$?; \
	  $(ENGINES) down all; exit $$status
	$(BIN)/python -m pytest -q -n 0 tests/cluster

check: lint
	$(BIN)/python -m pytest -q $(PYTEST_ARGS) --ignore=tests/cluster

lint: install
	$(BIN)/ruff check hub api infra streams tests faults
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: install
	$(BIN)/python -m pytest -q tests/unit

jars:
	$(ENGINES) fetch

## Long fuzz run (docs/security.md): schemathesis cases from the hub's OpenAPI, signed as an
## app, the destination's app, an admin and unsigned, against a fresh embedded hub; prints a
## JSON summary and fails on any answer >= 500. `make test` runs a short form (tests/fuzz).
FUZZ_CASES ?= 24000
FUZZ_SEED  ?= 0
fuzz: install
	TRUC_FUZZ_CASES=$(FUZZ_CASES) TRUC_FUZZ_SEED=$(FUZZ_SEED) $(BIN)/python -m tests.fuzz

engines-up: jars
	$(ENGINES) up all

engines-down:
	$(ENGINES) down all

engines-status:
	$(ENGINES) status

clean: engines-down
	rm -rf $(VENV) .engines truc-data .pytest_cache .mypy_cache .ruff_cache

## Benchmarks (docs/benchmarks.md): the hub against the raw engines, measured in the same run.
## They use engines of their own (.engines-bench/, ports 19092/19093/19042/17000) so that
## `make test` starting and stopping the default engines never disturbs a benchmark.
BENCH_ENGINES_HOME           ?= $(CURDIR)/.engines-bench
BENCH_KAFKA_PORT             ?= 19092
BENCH_KAFKA_CONTROLLER_PORT  ?= 19093
BENCH_CASSANDRA_PORT         ?= 19042
BENCH_CASSANDRA_STORAGE_PORT ?= 17000
BENCH_ARGS                   ?=

.PHONY: bench bench-quick
bench bench-quick: export TRUC_ENGINES_HOME = $(BENCH_ENGINES_HOME)
bench bench-quick: export TRUC_KAFKA_PORT = $(BENCH_KAFKA_PORT)
bench bench-quick: export TRUC_KAFKA_CONTROLLER_PORT = $(BENCH_KAFKA_CONTROLLER_PORT)
bench bench-quick: export TRUC_CASSANDRA_PORT = $(BENCH_CASSANDRA_PORT)
bench bench-quick: export TRUC_CASSANDRA_STORAGE_PORT = $(BENCH_CASSANDRA_STORAGE_PORT)

## Full run (~20 min): embedded, and Kafka + Cassandra + one Faust worker; stops the engines.
bench: install jars
	$(ENGINES) up all
	status=0; $(BIN)/python -m bench $(BENCH_ARGS) || status=$$?; \
	  $(ENGINES) down all; exit $$status

## Quick run (< 3 min): embedded only, small sizes; needs no engine.
bench-quick: install
	$(BIN)/python -m bench --quick $(BENCH_ARGS)

## On a cluster of this machine (docs/benchmarks.md, "On a cluster"; ≈ 20 min, not part of
## `make bench`: six more JVMs, 4–5 GiB): small packages with 1 or 2 workers and 1 or 2 API
## nodes, and what a package costs Kafka and Cassandra. Its own cluster (.cluster-bench/,
## 127.0.50.x; BENCH_CLUSTER_HOME, BENCH_CLUSTER_NET), wiped at the end.
BENCH_CLUSTER_HOME ?= $(CURDIR)/.cluster-bench
BENCH_CLUSTER_NET  ?= 127.0.50
BENCH_CLUSTER_ARGS ?=
.PHONY: bench-cluster
bench-cluster: install jars haproxy
	PATH="$$PATH:/usr/sbin" TRUC_BENCH_CLUSTER_HOME=$(BENCH_CLUSTER_HOME) \
	  TRUC_BENCH_CLUSTER_NET=$(BENCH_CLUSTER_NET) $(BIN)/python -m bench.cluster $(BENCH_CLUSTER_ARGS)

## Fault suite (docs/reliability.md): kill -9 of Kafka, Cassandra, the Faust worker, an API
## node, and the embedded hub, mid-load; checks nothing is lost, doubled, stuck or left
## unshredded. Engines of its own (.engines-faults/, ports 29092/29093/29042/27000): the
## suite kills them, so it must never run on the shared ones. It stops them at the end.
FAULTS_ENGINES_HOME           ?= $(CURDIR)/.engines-faults
FAULTS_KAFKA_PORT             ?= 29092
FAULTS_KAFKA_CONTROLLER_PORT  ?= 29093
FAULTS_CASSANDRA_PORT         ?= 29042
FAULTS_CASSANDRA_STORAGE_PORT ?= 27000
FAULTS_ARGS                   ?=

.PHONY: faults faults-quick
faults faults-quick: export TRUC_FAULTS_ENGINES_HOME = $(FAULTS_ENGINES_HOME)
faults faults-quick: export TRUC_FAULTS_KAFKA_PORT = $(FAULTS_KAFKA_PORT)
faults faults-quick: export TRUC_FAULTS_KAFKA_CONTROLLER_PORT = $(FAULTS_KAFKA_CONTROLLER_PORT)
faults faults-quick: export TRUC_FAULTS_CASSANDRA_PORT = $(FAULTS_CASSANDRA_PORT)
faults faults-quick: export TRUC_FAULTS_CASSANDRA_STORAGE_PORT = $(FAULTS_CASSANDRA_STORAGE_PORT)

## Full run: 5 runs of each kill, 300 packages each (FAULTS_ARGS="--runs 1 --packages 100").
faults: install
	$(BIN)/python -m faults $(FAULTS_ARGS)

## Short run: one run of each kill, 40 packages (the same checks as tests/faults/).
faults-quick: install
	$(BIN)/python -m faults --quick $(FAULTS_ARGS)

## A whole cluster on this machine (docs/operating.md, "Many machines"): three Kafka brokers
## and three Cassandra nodes (replication 3) on 127.0.10.1-3, two API nodes and two workers,
## HAProxy on http://127.0.0.1:8090. `infra/engines/cluster.sh env` prints the settings.
CLUSTER := infra/engines/cluster.sh
.PHONY: cluster-up cluster-down cluster-status cluster-test cluster-test-quick haproxy

haproxy:
	@command -v haproxy >/dev/null || command -v /usr/sbin/haproxy >/dev/null || \
	  (echo "installing haproxy (Debian)"; DEBIAN_FRONTEND=noninteractive apt-get install -y -q haproxy)

cluster-up: install jars haproxy
	PATH="$$PATH:/usr/sbin" $(CLUSTER) up

cluster-down:
	$(CLUSTER) down

cluster-status:
	$(CLUSTER) status

## Kills on the cluster (docs/reliability.md, "On a cluster"): one broker, one Cassandra
## node, one worker, one API node, then one of each at once; 3 runs each, 300 packages,
## clients through HAProxy. Nothing lost, doubled, stuck; the longest pause; a revoked key
## refused on every API node within 1 s. Its own cluster (.cluster-faults/, 127.0.20.x).
CLUSTER_TEST_ARGS ?=
cluster-test: install jars haproxy
	PATH="$$PATH:/usr/sbin" $(BIN)/python -m faults --cluster --runs 3 $(CLUSTER_TEST_ARGS)

## Short run: one run of each kill, 40 packages.
cluster-test-quick: install jars haproxy
	PATH="$$PATH:/usr/sbin" $(BIN)/python -m faults --cluster --quick $(CLUSTER_TEST_ARGS)
