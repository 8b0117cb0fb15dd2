#!/usr/bin/env bash
# clang-format is needed only by `make lint` and `make format`, so it is installed on first use.
set -euo pipefail
command -v clang-format >/dev/null && exit 0
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq clang-format >/dev/null
