# make demo: set up a fresh machine, build, and run the bundled example end to end.
# make test: the same set-up and build, then every test (GoogleTest units and pytest end to end).
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
export CCACHE_DIR ?= $(CURDIR)/.ccache

.PHONY: all setup build demo test test-cpp test-py bench lock clean

all: build

setup:
	@scripts/setup.sh

build: setup
	@if [ ! -f $(BUILD_DIR)/build.ninja ]; then \
	  cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null; fi
	@cmake --build $(BUILD_DIR) -j $$(nproc)

demo: build
	@examples/demo.sh

# The catalog tests also run against a throwaway PostgreSQL (unix socket), stopped afterwards.
test: build
	@uri=$$(scripts/test_postgres.sh start) && trap 'scripts/test_postgres.sh stop' EXIT && \
	  export SLUICE_TEST_POSTGRES="$$uri" && \
	  (cd $(BUILD_DIR) && ctest --output-on-failure -j $$(nproc)) && \
	  .venv/bin/python -m pytest -q tests

bench: build
	@bench/run_all.sh

lock: setup
	.venv/bin/uv pip compile -q --python .venv/bin/python --no-python-downloads requirements.in -o requirements.lock

clean:
	rm -rf $(BUILD_DIR)
