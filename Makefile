# Two entry points, both work on a fresh machine with only Python 3.11:
#   make demo   set up .venv, run the whole Qilin-Med recipe on the embedded default
#   make test   set up .venv, run the test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint browser

$(BIN)/qilin: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The CPU build of torch; a plain `torch` requirement would pull a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(BIN)/qilin

setup: $(BIN)/qilin

demo: setup
	$(BIN)/qilin run recipes/demo.yaml

# The web page test drives Debian's chromium (CJK font for the screenshot); installed here when we are root.
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; } || \
		echo "chromium is not installed: the web page test will be skipped"

test: setup browser
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
