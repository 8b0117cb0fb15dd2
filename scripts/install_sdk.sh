#!/usr/bin/env bash
# Makes the SDK part of .venv: a .pth file puts this checkout's python/ on the venv's sys.path
# (so `import sluice` and `import bauplan` work from any directory, and edits take effect at
# once), and .venv/bin gets `bauplan` and `sluice` commands that run build/sluice.
# Idempotent; rewrites only what changed. Run by scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
site="$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
pth="$site/sluice-sdk.pth"
if [ "$(cat "$pth" 2>/dev/null)" != "$root/python" ]; then
  printf '%s\n' "$root/python" > "$pth"
fi
for name in bauplan sluice; do
  wrapper=".venv/bin/$name"
  text="#!/bin/sh
# Runs this checkout's sluice binary (written by scripts/install_sdk.sh).
binary='$root/build/sluice'
if [ ! -x \"\$binary\" ]; then echo \"$name: \$binary is not built; run: make build\" >&2; exit 127; fi
exec \"\$binary\" \"\$@\""
  if [ "$(cat "$wrapper" 2>/dev/null)" != "$text" ]; then
    printf '%s\n' "$text" > "$wrapper"
    chmod 755 "$wrapper"
  fi
done
# Compiled once here: sandboxed workers import the SDK from a read-only mount and never write
# bytecode, so without it every worker that starts compiles the modules it imports again
# (tens of milliseconds per query or model). Only files whose source changed are compiled.
.venv/bin/python -m compileall -q python >/dev/null
