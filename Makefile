# The two commands of the README's quick start:
#   make run    set up (venv, packages) and run the service on the embedded store with the bundled demo site
#   make test   set up and run the whole test suite (starts a real Elasticsearch test node for its tests)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup system-deps run test test-fast contracts bench lint clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	$(BIN)/pip install -q -e '.[test,dev]'
	touch $(STAMP)

setup: $(STAMP)

# Debian packages the tests use: a CJK font for the digest charts, Chromium for the web UI tests.
system-deps:
	bash scripts/system-deps

run: setup
	$(BIN)/yuqing demo

test: setup system-deps lint
	bash scripts/test

test-fast: setup
	$(BIN)/python -m pytest -q -m "not elasticsearch"

contracts: setup
	$(BIN)/python ../shared/contracts/check --yuqing $(BIN)/yuqing --only analyze,detect,search,demo,web,alerts

# bench_store needs an Elasticsearch node: `tests/elasticsearch/node start` first (or YUQING_TEST_ES_URL);
# bench_nab needs a local copy of NAB (github numenta/NAB, AGPL-3.0, kept outside this repository) in YUQING_NAB
bench: setup
	$(BIN)/python benchmarks/bench_analyze.py --yuqing $(BIN)/yuqing
	$(BIN)/python benchmarks/eval_sentiment.py
	$(BIN)/python benchmarks/eval_probes.py
	$(BIN)/python benchmarks/bench_detect.py --first-seed 101
	$(BIN)/python benchmarks/bench_mentions.py --first-seed 101
	@if [ -n "$$YUQING_NAB" ]; then $(BIN)/python benchmarks/bench_nab.py "$$YUQING_NAB"; \
	else echo "bench_nab.py skipped: set YUQING_NAB to a local copy of NAB (data/, labels/)"; fi
	$(BIN)/python benchmarks/bench_query_bounds.py
	$(BIN)/python benchmarks/bench_hostile_memory.py
	$(BIN)/python benchmarks/learning_curve.py
	$(BIN)/python benchmarks/bench_crawl.py
	$(BIN)/python benchmarks/bench_dedup.py
	YUQING_TEST_ES_URL=$${YUQING_TEST_ES_URL:-$$(tests/elasticsearch/node url)} $(BIN)/python benchmarks/bench_store.py
	$(BIN)/python benchmarks/bench_web.py --mentions 100000
	$(BIN)/python benchmarks/bench_write_parts.py
	$(BIN)/python benchmarks/bench_digest.py
	YUQING_TEST_ES_URL=$${YUQING_TEST_ES_URL:-$$(tests/elasticsearch/node url)} $(BIN)/python benchmarks/bench_dataops.py

# ruff, mypy and the layer contracts (import-linter, [importlinter] in setup.cfg); `make test` runs it too.
lint: setup
	$(BIN)/ruff check app yuqing crawlers nlp alerts index_config tests benchmarks scripts/licences.py
	$(BIN)/mypy app yuqing crawlers nlp alerts index_config scripts/licences.py
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) build *.egg-info tests/elasticsearch/target tests/elasticsearch/run
