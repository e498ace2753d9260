# The README's commands. `make demo` and `make test` install into .venv first when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test backtest bench lint screenshots clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --constraint constraints.txt --editable '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/warisan demo --config configs/demo.yaml

test: $(STAMP)
	$(BIN)/python -m pytest

backtest: $(STAMP)
	$(BIN)/warisan backtest --config configs/demo.yaml --start 2024-01-01 --end 2024-12-31  # the sealed test period

bench: $(STAMP)  # each script makes its own data; the island's ratios, then both cities' scores, print last
	$(BIN)/python benchmarks/bench_pipeline.py
	$(BIN)/python benchmarks/bench_backtest.py  # on the demo world bench_pipeline.py has just built
	$(BIN)/python benchmarks/ideal_area_forecaster.py  # the area warnings' bound, from that world's truth
	$(BIN)/python benchmarks/bench_flood.py
	$(BIN)/python benchmarks/bench_static_features.py
	$(BIN)/python benchmarks/bench_dask_memory.py
	$(BIN)/python benchmarks/bench_island.py --models store/george-town-demo/models  # the demo's six-year models
	$(BIN)/python benchmarks/bench_second_city.py

screenshots: $(STAMP)  # the README's screenshots from the current code, after `make demo`: republish its last day, shoot
	$(BIN)/warisan forecast --config configs/demo.yaml
	$(BIN)/python benchmarks/screenshots.py

lint: $(STAMP)
	$(BIN)/ruff check pipelines features models tests benchmarks

clean:
	rm -rf data store
