# Thin wrappers over CMake presets. Every target installs missing Debian
# packages first (scripts/bootstrap), so each works on a fresh Debian 12 machine.
PRESET ?= release
BUILD := build/$(PRESET)
JOBS ?= $(shell nproc)

.PHONY: all build demo test test-asan test-tsan fuzz bench install package clean format tidy windows

all: build

bootstrap-%:
	@scripts/bootstrap $*

build: bootstrap-build
	cmake --preset $(PRESET) >/dev/null
	cmake --build --preset $(PRESET) -j $(JOBS)

demo: build
	$(BUILD)/apps/lifeline/lifeline demo

# The Windows build first: the tests run its programs under wine (label windows).
test: bootstrap-test windows
	cmake --preset $(PRESET) >/dev/null
	cmake --build --preset $(PRESET) -j $(JOBS)
	ctest --preset $(PRESET) -j 2

# lifeline.exe, lifeline.dll and the C example for x86_64 Windows (mingw-w64),
# in build/windows/bin; no TLS, admin API, history or hooks (docs/operations.md).
windows: bootstrap-windows
	cmake --preset windows >/dev/null
	cmake --build --preset windows -j $(JOBS)

test-asan:
	$(MAKE) test PRESET=asan

test-tsan:
	$(MAKE) test PRESET=tsan

# Every libFuzzer target for FUZZ_SECONDS (60) each; clang from scripts/bootstrap fuzz.
FUZZ_SECONDS ?= 60
fuzz: bootstrap-fuzz
	cmake --preset fuzz >/dev/null
	cmake --build --preset fuzz -j $(JOBS)
	fuzz/run.sh build/fuzz $(FUZZ_SECONDS)

bench: bootstrap-bench
	cmake --preset bench >/dev/null
	cmake --build --preset bench -j $(JOBS)
	bench/run.sh build/bench

# A .deb (CPack) of the release build: the program, libraries, headers, CMake
# package, lifeline.pc, the systemd unit and /etc/lifeline/server.toml.
package: build
	cd $(BUILD) && cpack -G DEB >/dev/null && ls -1 $(CURDIR)/$(BUILD)/lifeline_*.deb

install: build
	cmake --install $(BUILD) --prefix $(or $(PREFIX),/usr/local)

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

tidy:
	clang-tidy -p $(BUILD) $$(git ls-files 'src/*.cpp' 'apps/*.cpp')

clean:
	rm -rf build
