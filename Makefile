# The README's two commands. Each does all of its own set-up on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: smoke test record record-real lint clean

# The suite starts hundreds of Python processes (inner pytest runs, their xdist workers,
# deployments); with PYTHONDONTWRITEBYTECODE each one compiles and assertion-rewrites our
# modules again: about 0.6 s of CPU per process, measured on a one-test pytest run.
unexport PYTHONDONTWRITEBYTECODE

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## smoke: the main job - verify the embedded local deployment, reports in reports/,
## timing history of the local environment in .timing-history/local/ (docs/ci.md section 5)
smoke: $(STAMP)
	$(PY) -m pytest tests/smoke --target-env=local -p no:cacheprovider \
		--timing-history .timing-history \
		--html=reports/report.html --self-contained-html

## test: the whole test suite (what CI runs)
test: $(STAMP)
	bash scripts/ensure-system-deps.sh
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy --strict pytest_deployverify
	$(PY) -m pytest -n 2 -p no:cacheprovider --durations=20

## record: re-record baselines/ from the embedded local deployment (review the diff, commit)
record: $(STAMP)
	$(PY) -m pytest tests/smoke --target-env=local --record-baseline --record-runs 2 \
		-p no:cacheprovider

## record-real: record the production baseline (baselines-real/) from a local deployment wired
## to the real LlamaParse and OpenAI, 3 runs to learn their noise (docs/docservice.md)
REAL_BASELINES ?= baselines-real
RECORD_REAL_RUNS ?= 3
record-real: $(STAMP)
	$(PY) -m pytest tests/smoke --target-env=local-real --record-baseline \
		--record-runs $(RECORD_REAL_RUNS) --baseline $(REAL_BASELINES) -p no:cacheprovider

lint: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

clean:
	rm -rf $(VENV) reports .pytest_cache .timing-history
