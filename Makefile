# Entry points; README starts with `make demo` and `make test`.
.PHONY: setup demo test test-fast lint handbook

setup:
	bash scripts/setup.sh

demo: setup
	bash scripts/demo.sh

test: setup
	bash scripts/test.sh

test-fast: setup
	bash scripts/test.sh -m "not llm"

handbook: setup
	.venv/bin/python examples/build_handbook.py
