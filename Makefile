# selectloop — every target works on a fresh clone: it installs what it needs first.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
NODE  ?= node
CLI   := $(NODE) dist/bin/selectloop.js
TAP   := npx --no-install tap
ARGS  ?=

.PHONY: all install system-deps build typecheck test test-netns coverage run run-chat bench bench-full bench-micro soak lesson readme-help clean

all: build

# npm ci only when node_modules is missing or older than the lock file.
node_modules/.installed: package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: node_modules/.installed

# Debian's chromium and redis-server for the browser and cross-server suites, when this machine
# lets us install them (root and apt-get); otherwise those suites print SKIPPED.
system-deps:
	@scripts/system-deps.sh

build: install
	npx --no-install tsc -p tsconfig.json

typecheck: install
	npx --no-install tsc -p tsconfig.json --noEmit

# Typecheck + build, then every tap test; the last line is "N passed, N failed", and it counts and
# names a failed check too: no test ran, or a folder's coverage below its threshold. Coverage of
# reactor/, lib/ and bench/ is held to package.json's "coverageThresholds", each folder on its own
# (scripts/tap-summary.mjs, scripts/coverage-check.mjs; measured as .taprc says). With ARGS naming
# a few test files, the coverage of the rest falls short: use tap directly for those.
COVERAGE_SUMMARY := .tap/report/coverage-summary.json
test: build system-deps
	rm -f $(COVERAGE_SUMMARY)
	$(TAP) --reporter=tap --coverage-report=json-summary $(ARGS) | $(NODE) scripts/tap-summary.mjs --coverage $(COVERAGE_SUMMARY)

# The same run and check, with tap's text report of every file's coverage.
coverage: build system-deps
	rm -f $(COVERAGE_SUMMARY)
	$(TAP) --reporter=tap --coverage-report=json-summary --coverage-report=text $(ARGS) \
	  | $(NODE) scripts/tap-summary.mjs --coverage $(COVERAGE_SUMMARY)

# The echo server on 127.0.0.1:8080 (ARGS="--model net --port 9000" to change).
run: build
	$(CLI) echo $(ARGS)

run-chat: build
	$(CLI) chat $(ARGS)

bench: build
	$(CLI) bench $(ARGS)

bench-full: build
	$(CLI) bench --full $(ARGS)

bench-micro: build
	$(NODE) dist/bench/micro/index.js $(ARGS)

soak: build
	$(CLI) soak $(ARGS)

# The selector-vs-threads lesson: our models beside the Python reference servers of peers/ (~5 min);
# writes bench/results/lesson-STAMP.{jsonl,html,svg,md}.
lesson: build
	$(CLI) lesson $(ARGS)

# README.md's command reference, rewritten from the built program's --help texts.
readme-help: build
	$(NODE) scripts/readme-help.mjs

clean:
	rm -rf dist coverage .tap

# The chat across machines: each chat server in a network namespace of its own, Redis on a third
# (needs root and iproute2; SKIPPED otherwise). Part of `make test` too.
test-netns: build system-deps
	$(TAP) --reporter=tap test/chat-netns.test.ts | $(NODE) scripts/tap-summary.mjs
