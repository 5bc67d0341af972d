# The make targets are the interface: run, test, lint, bench, build, deploy.
SHELL := /bin/bash
# Lambda runs python3.13; use it locally when this machine has it (pyenv or PATH).
PYTHON ?= $(shell for p in $$HOME/.pyenv/versions/3.13*/bin/python3.13 python3.13 python3; do $$p -c 'import sys; assert sys.version_info >= (3, 11)' >/dev/null 2>&1 && { command -v $$p; break; }; done)
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 3000
export SAM_CLI_TELEMETRY := 0
export PYTHONPATH := $(CURDIR)/layers/core/python:$(CURDIR)

.PHONY: venv scan-venv scan checkov bandit run test lint duplicates unit integration e2e browser validate build bench soak redrive redrive-feedback api-key import-audience clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt layers/deps/requirements.txt
	@test -x "$(PYTHON)" || { echo "python3.13 (or python3) is needed"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $@

# The outside scanners (checkov, bandit) live in a venv of their own: checkov pins its own boto3, pydantic and
# others, which must not move the project's.
SCAN_VENV ?= .venv-scan
SCAN_BIN := $(SCAN_VENV)/bin

scan-venv: $(SCAN_VENV)/.installed

$(SCAN_VENV)/.installed: requirements-scan.txt
	@test -x "$(PYTHON)" || { echo "python3.13 (or python3) is needed"; exit 1; }
	rm -rf $(SCAN_VENV)
	$(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_BIN)/python -m pip install --quiet --upgrade pip
	$(SCAN_BIN)/python -m pip install --quiet -r requirements-scan.txt
	@touch $@

## make run: the whole API on http://127.0.0.1:$(PORT) over an embedded AWS emulator
run: venv
	$(BIN)/python -m local --port $(PORT)

## make test: lint, then every test (unit, integration, e2e and the console in a browser, against a local stack)
test: venv lint
	@test -x "$${CHROMIUM:-/usr/bin/chromium}" || echo "tests/browser: no Chromium here, so the web console's browser tests are skipped." \
		"Get it with: sudo apt-get install -y chromium (Debian/Ubuntu; .ci/run does this when root), or set CHROMIUM=/path/to/chromium."
	$(BIN)/python -m pytest -q

# Complexity, by radon's grades of cyclomatic complexity (A 1-5, B 6-10, C 11-20, D 21-30, ...):
# no function or method above C, where a block still reads top down in one screen and is
# tested branch by branch; a module's average may reach C (a module of one C function is one),
# the tree's average stays A.
COMPLEXITY_PATHS := layers/core/python functions local scripts benchmarks

lint: venv scan-venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/xenon --max-absolute C --max-modules C --max-average A $(COMPLEXITY_PATHS)
	$(BIN)/sam validate --lint
	@$(MAKE) --no-print-directory duplicates
	@$(MAKE) --no-print-directory scan

## make scan: checkov over template.yaml and bandit over the code, each printing its counts
scan: checkov bandit

# Every failed check fails the build, unless the resource's Metadata skips it with its reason.
# Offline: no download of Prisma Cloud's guidelines, no version check.
checkov: scan-venv
	@set -o pipefail; CKV_SKIP_PACKAGE_UPDATE_CHECK=true $(SCAN_BIN)/checkov --file template.yaml \
		--framework cloudformation --skip-download --compact --quiet \
		| sed -E '/^(cloudformation scan results:)?$$/d; s/^Passed checks: ([0-9]+), Failed checks: ([0-9]+), Skipped checks: ([0-9]+)$$/checkov (template.yaml): \2 failed checks, \1 passed, \3 skipped with their reason beside the resource/'

# Every finding fails the build, unless its line says `# nosec BXXX  # why`.
BANDIT_PATHS := layers functions local scripts benchmarks
BANDIT_COUNTS := import json, sys; r = json.load(sys.stdin); t = r["metrics"]["_totals"]; \
	print("bandit ($(BANDIT_PATHS)):", len(r["results"]), "issues in", t["loc"], "lines of code,", \
	t["skipped_tests"], "findings justified inline (\# nosec)")
bandit: scan-venv
	@report=$$($(SCAN_BIN)/bandit --recursive --quiet --format json $(BANDIT_PATHS) 2>/dev/null); status=$$?; \
	$(SCAN_BIN)/python -c '$(BANDIT_COUNTS)' <<<"$$report" || status=1; \
	if [ "$$status" -ne 0 ]; then $(SCAN_BIN)/bandit --recursive --quiet $(BANDIT_PATHS); exit 1; fi

# No repeat of six or more lines outside tests/ but the pairs duplicates.allow names and justifies.
# `duplicates` (a developer tool, not a package) always exits 0, so its rows are counted here; where
# it is not installed the check says so and passes.
duplicates:
	@command -v duplicates >/dev/null || { echo "duplicates: not installed here, repeats not checked"; exit 0; }; \
	report=$$(duplicates --most 200 --seconds 120); \
	if grep -q '^incomplete:' <<<"$$report"; then echo "$$report"; exit 1; fi; \
	allowed=$$(sed -E 's/ *#.*//; /^$$/d' duplicates.allow); \
	found=$$(awk '/^D[0-9]+ /{a=$$2; b=$$4; sub(/:[^:]*$$/,"",a); sub(/:[^:]*$$/,"",b); if (a>b) {t=a; a=b; b=t}; print a " ~ " b}' <<<"$$report" \
		| grep -v '^tests/.* ~ tests/' | sort -u | grep -vxF -f <(printf '%s\n' "$$allowed") || true); \
	if [ -n "$$found" ]; then echo "Repeats of six or more lines outside tests/ (share the code, or justify the pair in duplicates.allow):"; \
		echo "$$found"; echo "$$report" | head -1; exit 1; fi; \
	echo "duplicates: none outside tests/ but the $$(grep -c . <<<"$$allowed") pairs duplicates.allow justifies"

unit integration e2e browser: venv
	$(BIN)/python -m pytest -q tests/$@

# sam build needs python3.13 on PATH (the functions' runtime): the venv's, whatever else is there.
build: venv
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/sam build

bench: venv
	$(BIN)/python -m benchmarks

## make soak: 10,000 recipients from 16 concurrent callers on the local stack; prints lost / duplicated / 5xx
soak: venv
	$(BIN)/python -m benchmarks.soak --recipients $(or $(RECIPIENTS),10000) --concurrency 16

# Operator commands: against a deployed stack (STACK=name) or the local stack (ENDPOINT=http://127.0.0.1:5000).
STACK_ARGS = $(if $(STACK),--stack-name $(STACK)) $(if $(ENDPOINT),--endpoint-url $(ENDPOINT))

## make api-key NAME=ci SCOPES="campaigns:trigger reports:read" STACK=campaigns-prod [LABELS=a,b] [EXPIRES=2027-06-01T00:00:00Z]
api-key: venv
	$(BIN)/python -m scripts.api_key create --name "$(or $(NAME),cli)" --scopes "$(or $(SCOPES),admin)" \
		$(if $(LABELS),--labels "$(LABELS)") $(if $(EXPIRES),--expires-at "$(EXPIRES)") $(STACK_ARGS) $(if $(and $(ENDPOINT),$(if $(STACK),,1)),--table local-api-keys)

## make redrive STACK=campaigns-prod: move dead-lettered delivery messages back to the delivery queue
redrive: venv
	$(BIN)/python -m scripts.redrive $(STACK_ARGS)

## make redrive-feedback STACK=campaigns-prod: put the SES events kept in the feedback DLQ back in the feedback queue
redrive-feedback: venv
	$(BIN)/python -m scripts.redrive_feedback $(STACK_ARGS)

## make import-audience CSV=people.csv NAME="Spring list" (or AUDIENCE=<id>): BASE and KEY from the environment;
## 1,000 rows a call with a progress bar, resumes where it stopped when run again (RESTART=1 starts over)
import-audience: venv
	@test -n "$(CSV)" || { echo 'usage: make import-audience CSV=people.csv NAME="Spring list" (or AUDIENCE=<id>)'; exit 2; }
	$(BIN)/python -m scripts.import_audience "$(CSV)" $(if $(AUDIENCE),--audience "$(AUDIENCE)") \
		$(if $(NAME),--name "$(NAME)") $(if $(RESTART),--restart)

clean:
	rm -rf $(VENV) $(SCAN_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache tests/browser/artifacts
