# make demo: set up a fresh machine, build, and run the bundled example end to end.
# make test: the same set-up and build, then every test (GoogleTest units and pytest end to end)
#   and a short run of the fuzz targets (make fuzz-smoke).
# make fuzz: the fuzz targets (fuzz/README.md) for FUZZ_SECONDS each.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
# One compiler cache per machine, shared by every clone of the project (paths inside the clone
# are hashed relative to it), as ~/.cache/sluice/go holds the S3 test server.
export CCACHE_DIR ?= $(HOME)/.cache/sluice/ccache
export CCACHE_BASEDIR ?= $(CURDIR)
export CCACHE_NOHASHDIR ?= 1

.PHONY: all setup build demo test test-cpp test-py bench lock clean lint format asan tsan fuzz-build fuzz fuzz-smoke

all: build

setup:
	@scripts/setup.sh

build: setup
	@if [ ! -f $(BUILD_DIR)/build.ninja ]; then \
	  cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null; fi
	@cmake --build $(BUILD_DIR) -j $$(nproc)

demo: build
	@examples/demo.sh

# The catalog tests also run against a throwaway PostgreSQL (unix socket), and the storage tests
# against a throwaway S3 server (versitygw on a loopback port, built once per machine into
# ~/.cache/sluice/go); both are stopped afterwards.
# pytest runs on every core (pytest-xdist), a test file per worker at a time: each test has its
# own data home and server, and the files' module fixtures stay in one process.
PYTEST_WORKERS ?= $$(nproc)
test: build fuzz-smoke
	@trap 'scripts/test_postgres.sh stop; scripts/test_s3.sh stop' EXIT && \
	  uri=$$(scripts/test_postgres.sh start) && s3=$$(scripts/test_s3.sh start) && \
	  export SLUICE_TEST_POSTGRES="$$uri" SLUICE_TEST_S3_ENDPOINT="$$s3" && \
	  (cd $(BUILD_DIR) && ctest --output-on-failure -j $$(nproc)) && \
	  .venv/bin/python -m pytest -q --durations=15 -n $(PYTEST_WORKERS) --dist loadfile tests

bench: build
	@bench/run_all.sh

lock: setup
	.venv/bin/uv pip compile -q --python .venv/bin/python --no-python-downloads requirements.in -o requirements.lock

# Style: ruff for Python (pinned in the lock), clang-format (Debian) for C++.
PY_SOURCES = python tests bench examples scripts
CXX_SOURCES = $$(git ls-files 'src/*.cc' 'src/*.h' 'fuzz/*.cc')
lint: setup
	.venv/bin/ruff check $(PY_SOURCES)
	.venv/bin/ruff format --check $(PY_SOURCES)
	@scripts/ensure_clang_format.sh && clang-format --dry-run --Werror $(CXX_SOURCES)

format: setup
	.venv/bin/ruff check --fix -q $(PY_SOURCES) || true
	.venv/bin/ruff format -q $(PY_SOURCES)
	@scripts/ensure_clang_format.sh && clang-format -i $(CXX_SOURCES)

# Sanitizer builds of the C++ units (fork-heavy: zygotes, sandbox, subprocess, server).
# ASan+UBSan over every gtest; TSan over the concurrent parts (catalog writers, jobs, the
# socket server, subprocesses and zygotes).
asan: setup
	@cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug \
	  -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" >/dev/null
	@cmake --build build-asan -j $$(nproc)
	@cd build-asan && ASAN_OPTIONS=detect_leaks=0 ctest --output-on-failure -j $$(nproc)

tsan: setup
	@cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug \
	  -DCMAKE_CXX_FLAGS="-fsanitize=thread -fno-omit-frame-pointer" >/dev/null
	@cmake --build build-tsan -j $$(nproc)
	@cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -R 'CatalogTest|JobStoreTest|JobRecorderTest|UnixHttpServer|SubprocessTest|ZygoteTest|TaskSchedulerTest'

# Fuzz targets (libFuzzer + ASan/UBSan, Debian's clang) for the Avro reader, the Iceberg
# metadata reader, the filter parser and the REST request parsing: built in build-fuzz/,
# each run over a copy of fuzz/corpus/<target> kept there, after replaying the crashes
# already found (fuzz/regressions/<target>). Fails printing the reproducer of a new crash.
FUZZ_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 15
fuzz-build: setup
	@if [ ! -f $(FUZZ_DIR)/build.ninja ]; then \
	  CC=clang CXX=clang++ cmake -S fuzz -B $(FUZZ_DIR) -G Ninja >/dev/null; fi
	@cmake --build $(FUZZ_DIR) -j $$(nproc)

fuzz: fuzz-build
	@fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS)

fuzz-smoke: fuzz-build
	@fuzz/run.sh --smoke $(FUZZ_DIR) $(FUZZ_SMOKE_SECONDS)

clean:
	rm -rf $(BUILD_DIR) build-asan build-tsan $(FUZZ_DIR)
