# Set-up and the everyday commands. Everything installs into .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
Q ?= On what dates will the Prime Minister visit the United States?

.PHONY: install index ask test lint clean

# torch goes first and pinned: a bare requirement would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

index: $(STAMP)
	$(BIN)/rag build

ask: $(STAMP)
	$(BIN)/rag ask "$(Q)"

lint: $(STAMP)
	$(BIN)/ruff check rag tests

test: lint
	HF_HUB_OFFLINE=1 $(BIN)/pytest -q

clean:
	rm -rf $(VENV) index/CURRENT index/v-* index/.tmp-* index/.lock
