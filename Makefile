# Two commands on a fresh machine: `make demo` and `make test`.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
FMNIST  := /usr/share/datasets/fashion-mnist
OUT     ?= out

.PHONY: demo test lint docs docs-check derive bench fmnist clean

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

test: $(STAMP) fmnist
	$(BIN)/ruff check theory numerics experiments tests benchmarks examples tools
	$(BIN)/onestep derive --check
	$(BIN)/mkdocs build --strict --site-dir site
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/onestep bench

clean:
	rm -rf $(VENV) site site-check $(OUT) .pytest_cache
