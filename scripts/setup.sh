#!/usr/bin/env bash
# Installs everything a fresh machine needs to build, run and test Sluice.
# Idempotent: each step checks first and does nothing when it is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  g++ cmake ninja-build ccache pkg-config
  libsqlite3-dev libssl-dev zlib1g-dev
  nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev libyaml-cpp-dev
  libpg-query-dev libgtest-dev libcpp-httplib-dev libpq-dev postgresql
  bubblewrap libseccomp-dev
  clang libclang-rt-14-dev
)
UV_VERSION=0.13.9

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PYTHON="${SLUICE_BOOTSTRAP_PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi
if ! .venv/bin/uv --version 2>/dev/null | grep -q "$UV_VERSION"; then
  .venv/bin/python -m pip install -q "uv==$UV_VERSION"
fi
# uv sync is a no-op (tens of ms) when the venv already matches the lock.
stamp=.venv/.lock-installed
if [ ! -f "$stamp" ] || ! cmp -s requirements.lock "$stamp"; then
  .venv/bin/uv pip sync -q --python .venv/bin/python requirements.lock
  cp requirements.lock "$stamp"
fi
# The SDK as a package of the venv (`import sluice`, `import bauplan` without PYTHONPATH): a
# .pth naming python/, and `bauplan`/`sluice` commands that run the built binary.
scripts/install_sdk.sh
