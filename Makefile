# The two commands of the README, and the steps behind them.
.PHONY: run test check bench install screenshots

run: install
	.venv/bin/vbauth serve

test: install
	scripts/test

check: install
	scripts/check

bench: install
	.venv/bin/python -m bench.run

# The console's pages in Chromium, and the README's picture of the access-keys page.
screenshots: install
	.venv/bin/pytest -q -p no:cacheprovider tests/test_console_browser.py
	cp build/screenshots/console-access-keys.png docs/images/

install: .venv/.installed

.venv/.installed: pyproject.toml uv.lock scripts/install
	scripts/install
	@touch $@
