# Every target creates the virtualenv (.venv) and installs nnifc into it on first use.
VENV  := .venv
BIN   := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed
# The interpreter the virtualenv is made from: Debian's python3 when it is 3.11 or newer and can
# make virtualenvs, because it is built with PGO and LTO (pyenv's default build is not: trials'
# `import nni` and every nnifc command cost about 20% more CPU with it); otherwise python3 on PATH.
PYTHON ?= $(shell /usr/bin/python3 -c 'import ensurepip, sys; assert sys.version_info >= (3, 11)' \
	2>/dev/null && echo /usr/bin/python3 || echo python3)

.PHONY: install run test lint bench clean system lock e2e

# A fresh install takes minutes: pip's output is cut to a line per package it collects (so the
# screen says how far it got, in CI logs too) and kept whole in $(VENV)/install.log.
# Versions are the ones in constraints.txt (`make lock` refreshes it), so every checkout gets
# the same dependencies.
$(STAMP): pyproject.toml constraints.txt
	@echo "==> creating the virtualenv $(VENV)"
	$(PYTHON) -m venv $(VENV)
	@echo "==> installing nnifc and its dependencies into $(VENV) (minutes the first time)"
	@{ $(BIN)/pip install --progress-bar off -c constraints.txt -e '.[dev]' 2>&1; echo $$? > $(VENV)/install.status; } \
		| tee $(VENV)/install.log | awk '\
			/^(Collecting|Processing) / { name = $$2; sub(/.*\//, "", name); sub(/-[0-9].*/, "", name); \
				printf "    %3d %s\n", ++n, name; fflush() } \
			/^Installing collected packages: / { k = split(substr($$0, 31), all, ", "); \
				print "    installing " k (k == 1 ? " package" : " packages") " (the last step)"; fflush() } \
			/^Successfully installed/ { print "    done" } \
			/^(ERROR|error)/ { print "    " $$0; fflush() }'
	@status=$$(cat $(VENV)/install.status); rm -f $(VENV)/install.status; if [ "$$status" != 0 ]; then \
		echo "pip install failed (exit code $$status); its whole output is in $(VENV)/install.log"; exit $$status; fi
	touch $(STAMP)

install: $(STAMP)

# The quick start: a real 20-trial experiment on this machine (trials run with the venv's python).
run: $(STAMP)
	PATH="$(BIN):$$PATH" $(BIN)/nnifc create --config configs/quickstart.yml

lint: $(STAMP)
	$(BIN)/ruff check
	$(BIN)/ruff format --check
	$(BIN)/mypy
	$(BIN)/lint-imports

# The tests run a real nfs-ganesha server and drive Debian's chromium: installed with apt when
# missing and running as root.
system:
	@command -v ganesha.nfsd >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "==> installing nfs-ganesha, the NFS server the tests run"; \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nfs-ganesha nfs-ganesha-vfs; \
		else \
			echo "the tests need nfs-ganesha: sudo apt-get install nfs-ganesha nfs-ganesha-vfs"; exit 1; \
		fi; }
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "==> installing chromium, the browser the web view's tests drive"; \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
		else \
			echo "the tests need chromium: sudo apt-get install chromium"; exit 1; \
		fi; }

# Four workers: the end-to-end tests mostly wait on trials and browsers, so on 2 cores this
# more than halves the time of a serial run; worksteal evens out the long tests at the end.
# compileall first: with PYTHONDONTWRITEBYTECODE set (as in CI), each of the suite's ~500 nnifc
# processes would otherwise compile nnifc's source again, 0.2 s of CPU each.
test: lint system
	$(BIN)/python -m compileall -q nnifc tests
	PATH="$(BIN):$$PATH" $(BIN)/python -m pytest -q -n 4 --dist worksteal --durations=15 $(PYTEST_ARGS)

# Each benchmark prints its table and exits non-zero when it misses a target; all of them run.
bench: $(STAMP) system
	$(BIN)/pip install --quiet -c constraints.txt -e '.[bench]'
	status=0; \
	$(BIN)/python benchmarks/tuners.py || status=1; \
	$(BIN)/python benchmarks/assessors.py || status=1; \
	$(BIN)/python benchmarks/multifidelity.py || status=1; \
	$(BIN)/python benchmarks/pbt.py || status=1; \
	$(BIN)/python benchmarks/upload.py || status=1; \
	PATH="$(BIN):$$PATH" $(BIN)/python benchmarks/engine.py || status=1; \
	PATH="$(BIN):$$PATH" $(BIN)/python benchmarks/view.py || status=1; \
	PATH="$(BIN):$$PATH" $(BIN)/python benchmarks/view_follow.py || status=1; \
	exit $$status

# constraints.txt anew: the newest versions pyproject.toml allows, installed in a throwaway
# virtualenv (so nothing else of this machine's is pinned); review the diff and run the tests.
LOCK_VENV := $(or $(TMPDIR),/tmp)/nnifc-lock-venv
lock:
	rm -rf $(LOCK_VENV)
	python3 -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet --progress-bar off -e '.[dev,bench]'
	{ sed -n '/^#/p' constraints.txt; $(LOCK_VENV)/bin/pip freeze --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf $(LOCK_VENV)
	@echo "constraints.txt refreshed: review \`git diff constraints.txt\`, then run make test"

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache .import_linter_cache .hypothesis

# The end-to-end suite: against NNIFC_E2E_KUBECONFIG's cluster when set (see README), else
# against the API double and FrameworkController simulator it starts itself.
e2e: $(STAMP) system
	PATH="$(BIN):$$PATH" $(BIN)/python -m pytest -q -m e2e tests/test_e2e.py
