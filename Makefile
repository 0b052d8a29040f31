# lensgpu — `make test` sets up everything it needs on a fresh Debian 12 machine.
NODE_MODULES := node_modules/.package-lock.json
PYTHON ?= /usr/bin/python3

.PHONY: test setup typecheck fixtures fixtures-deps

test: setup
	node --import tsx test/run.ts $(TESTS)

setup: $(NODE_MODULES)
	@bash scripts/setup-vulkan.sh
	@bash scripts/setup-browser.sh --quiet

$(NODE_MODULES): package.json package-lock.json
	npm ci --no-audit --no-fund

typecheck: $(NODE_MODULES)
	npm run -s typecheck

# Regenerates fixtures/data from PyTorch (not part of `make test`; the fixtures are committed):
# the kernel and step fixtures, then the PyTorch trainer's parity runs and their small dataset.
fixtures: fixtures-deps
	$(PYTHON) fixtures/make_fixtures.py $(ONLY)
	@if [ -z "$(ONLY)" ]; then $(PYTHON) fixtures/train_reference.py; fi

fixtures-deps:
	@$(PYTHON) -c "import torch, msgpack, numpy" 2>/dev/null || { \
	  echo "installing python3-torch python3-msgpack python3-numpy libopenblas0-pthread"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch python3-msgpack python3-numpy libopenblas0-pthread; }
