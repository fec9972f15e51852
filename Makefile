# Two commands on a fresh machine: `make demo` and `make test`.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
FMNIST  := /usr/share/datasets/fashion-mnist
OUT     ?= out
# mkdocs 1.6 prints a banner about MkDocs 2.0 on every build otherwise
export NO_MKDOCS_2_WARNING := 1

.PHONY: demo test lint docs docs-check explorer derive bench fmnist paper paper-time clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,docs,explore]'
	touch $(STAMP)

# Real Fashion-MNIST IDX files from Debian (best effort: figures 3, 7, 8 need them; tests do not).
fmnist:
	@if [ ! -d $(FMNIST) ] && command -v apt-get >/dev/null 2>&1; then \
	  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1 \
	  || echo "note: could not install dataset-fashion-mnist; pass --data-dir to the FMNIST figures"; \
	fi

demo: $(STAMP) fmnist
	$(BIN)/onestep order --beta 0.3
	$(BIN)/onestep order --beta 0.74
	$(BIN)/onestep order --beta 0.5
	$(BIN)/onestep hermite --activation relu --b 1 --order 9
	$(BIN)/onestep figure fig1a --quick --out $(OUT)

lint: $(STAMP)
	$(BIN)/ruff check theory numerics experiments tests benchmarks examples tools

derive: $(STAMP)
	$(BIN)/onestep derive

docs: $(STAMP)
	$(BIN)/mkdocs build --strict --site-dir site >/dev/null

# Build, serve on 127.0.0.1 and open the pages in headless Chromium with no network
# (formulas typeset, no outside or failed resource, images load); screenshots in site-check/.
docs-check: $(STAMP)
	$(BIN)/python tools/docs_check.py

# The explorer's offline page, docs/explorer/explore.html: `marimo export html` of
# examples/explore.py with marimo's front end served by the site instead of a CDN
# (docs/hooks/marimo_offline.py).  Run it again after changing the notebook or marimo.
EXPLORE_N ?= 200
explorer: $(STAMP)
	ONESTEP_EXPLORE_N=$(EXPLORE_N) $(BIN)/python docs/hooks/marimo_offline.py

# pytest in TEST_WORKERS processes (pytest-xdist; one file per worker at a time, so a module's
# fixtures are built once).  pyproject's addopts make `python -m pytest -q` do the same with 2
# workers; `-n 0` runs in one process (for pdb).
TEST_WORKERS ?= 2
test: $(STAMP) fmnist
	$(BIN)/ruff check theory numerics experiments tests benchmarks examples tools
	$(BIN)/onestep derive --check
	$(BIN)/mkdocs build --strict --site-dir site
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

bench: $(STAMP)
	$(BIN)/onestep bench

# The paper at full size: every figure at the paper's trials (20; 100 for fig2c; 50 for
# fig8a/8b) into $(PAPER_OUT), more theory draws where a line's s.e. is above its markers'
# (`onestep draws`), then the results
# page with Figures 1-3 beside the published panels.  Points are cached in $(PAPER_OUT)/.cache:
# an interrupted run resumes, a re-run is instant (the extra draws are computed again).
# `make paper-time` times representative points first and prints the estimate.
PAPER_OUT ?= docs/paper-full
paper: $(STAMP) fmnist
	$(BIN)/onestep figure all --out $(PAPER_OUT) --no-progress
	$(BIN)/onestep draws all --out $(PAPER_OUT)
	$(BIN)/onestep report --out $(PAPER_OUT) --docs docs/results.md

paper-time: $(STAMP)
	$(BIN)/python benchmarks/time_full_points.py

clean:
	rm -rf $(VENV) site site-check $(OUT) .pytest_cache
