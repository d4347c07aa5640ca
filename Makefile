# Two entry points; both set up first (system packages, .venv, project).
.PHONY: demo test setup clean

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/codesign demo

# One test process per core, at most 4 (each holds torch and ngspice).
test: setup
	.venv/bin/ruff check .
	.venv/bin/python -m pytest -q -n auto --maxprocesses=4 --dist worksteal --durations=25

clean:
	rm -rf .venv runs .pytest_cache
