# The README's commands. `make demo` and `make test` install into .venv first when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo demo-ensemble test backtest bench lint clean ui screenshots

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --constraint constraints.txt --editable '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/warisan demo --config configs/demo.yaml

demo-ensemble: $(STAMP)  # the demo world with 20 members over 2023-2024 in data/george-town-demo-ensemble/, scored
	$(BIN)/python benchmarks/ensemble_spread.py --members 20

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

ui: $(STAMP)  # Prefect's server and UI at http://127.0.0.1:4200; warisan commands in other shells report there
	$(BIN)/warisan ui

screenshots: $(STAMP)  # the README's screenshots from the current code, after `make demo`: Prefect's UI, then the page and map of the demo's biggest flood day
	$(BIN)/python benchmarks/prefect_ui_screenshot.py
	$(BIN)/warisan forecast --config configs/demo.yaml --date 2024-09-02
	$(BIN)/python benchmarks/screenshots.py --date 2024-09-02

lint: $(STAMP)
	$(BIN)/ruff check pipelines features models tests benchmarks

clean:
	rm -rf data store
