# Two entry points; both set up first (system packages, .venv, project).
.PHONY: demo test setup clean

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/codesign demo

test: setup
	.venv/bin/ruff check .
	.venv/bin/python -m pytest -q --durations=25

clean:
	rm -rf .venv runs .pytest_cache
