# The two commands of the README, and the steps behind them.
.PHONY: run test check bench install

run: install
	.venv/bin/vbauth serve

test: install
	scripts/test

check: install
	scripts/check

bench: install
	.venv/bin/python -m bench.run

install: .venv/.installed

.venv/.installed: pyproject.toml uv.lock scripts/install
	scripts/install
	@touch $@
