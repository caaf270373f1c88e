# Two commands for a newcomer: `make demo` and `make test`. Everything they
# need is set up here, in .venv, from PyPI; nothing is installed by hand.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
DATA ?= ../shared/data
# Each suite runs in its own process (one suite: make bench BENCH=bench/bench_onnx.py),
# so a failure in one loses none of the others' results; the long LFW evaluations last.
BENCH ?= $(filter-out %_lfw.py,$(wildcard bench/bench_*.py)) $(wildcard bench/bench_*_lfw.py)
BUILD_DEPS := "scikit-build-core>=0.10" "pybind11>=2.13" "cmake>=3.24" ninja

.PHONY: demo test bench bench-peers install lint check-baseline clean

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	touch $@

# Dependencies (refreshed when pyproject.toml changes). Installing the package
# with its extras pulls them in; `install` then rebuilds only what changed.
$(VENV)/.deps-%: pyproject.toml $(VENV)/.created
	$(PIP) install --quiet $(BUILD_DEPS)
	$(PIP) install --quiet --no-build-isolation ".[$*]"
	touch $@

# CMake's build directory (build/) keeps an unchanged tree cheap to rebuild.
install: $(VENV)/.deps-test
	$(PIP) install --quiet --no-build-isolation --no-deps .

demo: install $(VENV)/.deps-demo
	$(PY) -m faceindex.demo $(ARGS)

test: install
	FACEINDEX_TEST_DATA=$${FACEINDEX_TEST_DATA:-$(DATA)} $(PY) -m pytest $(PYTEST_ARGS)

bench: install $(VENV)/.deps-bench
	@mkdir -p bench/results/pytest-benchmark; failed=""; \
	for suite in $(BENCH); do \
	  name=$$(basename $$suite .py); \
	  FACEINDEX_TEST_DATA=$${FACEINDEX_TEST_DATA:-$(DATA)} $(PY) -m pytest $$suite -o python_files='bench_*.py' \
	    -o testpaths=bench -p no:cacheprovider --benchmark-json=bench/results/pytest-benchmark/$$name.json \
	    -W "ignore:Not saving anything:pytest_benchmark.logger.PytestBenchmarkWarning" \
	    $(BENCH_ARGS) || failed="$$failed $$name"; \
	done; \
	if [ -n "$$failed" ]; then echo "benchmark suites failed:$$failed"; exit 1; fi

# Optional benchmark peer: dlib built from source with OpenBLAS in .peers/dlib-src (~12 min).
bench-peers: install
	bench/peers/build_dlib.sh

# tensorrt-stubs 10.13 ships no stubs; 10.12 does. --no-deps: its dependency
# is the real TensorRT, which only NVIDIA's own index serves.
lint: install
	$(PIP) install --quiet mypy ruff
	$(PY) -m ruff check python tests bench
	$(PIP) install --quiet --no-deps "tensorrt-stubs==10.12.0.36.1"
	$(PY) scripts/repair_tensorrt_stubs.py
	$(PY) -m mypy

# The wheel must run on any x86-64: run the kernel tests on an emulated CPU
# without AVX (Nehalem, the oldest numpy supports). Any AVX instruction that
# leaked into baseline code dies there with SIGILL.
check-baseline: install
	command -v qemu-x86_64 >/dev/null || apt-get install -y -q qemu-user
	qemu-x86_64 -cpu Nehalem $(PY) -m pytest -q -p no:cacheprovider tests/test_build_info.py \
	  tests/test_flat_index_kernels.py tests/test_flat_index_files.py tests/test_flat_index_input.py \
	  tests/test_onnx_kernels.py

clean:
	rm -rf build dist $(VENV)
