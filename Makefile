# The two commands of the README:  `make demo`  and  `make test`.
# Both create .venv with the system python3 and install this checkout into it.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean install

$(PY):
	$(PYTHON) -m venv $(VENV) || { echo "python3 -m venv failed: on Debian, apt-get install python3-venv"; exit 1; }
	$(PY) -m pip install -q --upgrade pip

# Dependencies once; the checkout itself is reinstalled (as a real, non-editable install) on
# every run, so tests always exercise what a user would install.
$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install -q '.[all,test]'
	touch $(STAMP)

install: $(STAMP)
	$(PY) -m pip install -q --no-deps --force-reinstall --no-build-isolation .

demo: install
	$(PY) -m stonith.demo

lint: $(STAMP)
	$(VENV)/bin/ruff check stonith drivers mocks tests hwtests bench
	$(VENV)/bin/ruff format --check stonith drivers mocks tests hwtests bench

# mypy knows nothing of setuptools' package-dir mapping: check a copy laid out as installed.
typecheck: $(STAMP)
	rm -rf build/typecheck && mkdir -p build/typecheck
	cp -r stonith build/typecheck/stonith && cp -r drivers build/typecheck/stonith/drivers && cp -r mocks build/typecheck/stonith/mocks
	cd build/typecheck && ../../$(VENV)/bin/mypy --config-file ../../pyproject.toml -p stonith
	$(VENV)/bin/mypy bench

unit: install
	$(PY) -m pytest -q -x --durations=10 $(PYTEST_ARGS)

test: lint typecheck unit

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
