# Set-up and entry points. Everything installs into a local virtual environment ($(VENV)).
# CONSTRAINTS pins the CPU build of PyTorch; a GPU user passes CONSTRAINTS= to install the default
# (CUDA) build from PyPI instead, e.g. `make demo CONSTRAINTS=`.

PYTHON ?= python3
VENV ?= .venv
CONSTRAINTS ?= constraints-cpu.txt
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo demo-pretrained test test-slow clean

$(STAMP): setup.cfg pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e '.[test]'
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py --out demo_out

demo-pretrained: $(STAMP)
	$(PY) examples/demo.py --out demo_pretrained_out --pretrained

test: $(STAMP)
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

clean:
	rm -rf demo_out demo_pretrained_out .pytest_cache
