#!/usr/bin/env bash
# A throwaway S3-compatible server (versitygw over a local directory) for the storage tests,
# on a loopback port only.
#   scripts/test_s3.sh start   # prints http://KEY:SECRET@127.0.0.1:PORT/BUCKET
#   scripts/test_s3.sh stop
# versitygw is built once per machine with `go install` into a cache outside the clone
# ($SLUICE_GO_CACHE, default ~/.cache/sluice/go; about 5 minutes on a cold Go cache).
set -euo pipefail
DIR="${SLUICE_TEST_S3_DIR:-/tmp/sluice-test-s3-$(id -u)}"
PORT="${SLUICE_TEST_S3_PORT:-57070}"
BUCKET=sluice-test
ACCESS_KEY=sluice-test-key
SECRET_KEY=sluice-test-secret
VERSITYGW_VERSION=v1.8.0
GO_CACHE="${SLUICE_GO_CACHE:-$HOME/.cache/sluice/go}"
BIN="$GO_CACHE/bin/versitygw"

install_versitygw() {
  local go
  go="$(command -v go || true)"
  [ -n "$go" ] || go=/usr/local/go/bin/go
  [ -x "$go" ] || { echo "test_s3: Go is needed to build versitygw (not found)" >&2; exit 1; }
  echo "test_s3: building versitygw $VERSITYGW_VERSION into $GO_CACHE/bin (once per machine)" >&2
  mkdir -p "$GO_CACHE"
  GOBIN="$GO_CACHE/bin" GOPATH="$GO_CACHE/path" GOCACHE="$GO_CACHE/cache" GOFLAGS=-modcacherw \
    "$go" install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" >&2
}

stop() {
  if [ -f "$DIR/pid" ]; then
    local pid
    pid="$(cat "$DIR/pid")"
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  rm -rf "$DIR"
}

case "${1:-}" in
  start)
    [ -x "$BIN" ] || install_versitygw
    stop
    mkdir -p "$DIR/data/$BUCKET" "$DIR/meta"
    # Object metadata in a sidecar directory: /tmp may not support user xattrs.
    ROOT_ACCESS_KEY="$ACCESS_KEY" ROOT_SECRET_KEY="$SECRET_KEY" \
      setsid "$BIN" --port "127.0.0.1:$PORT" --quiet posix --sidecar "$DIR/meta" "$DIR/data" \
      >"$DIR/server.log" 2>&1 </dev/null &
    echo $! >"$DIR/pid"
    for _ in $(seq 100); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
        echo "http://$ACCESS_KEY:$SECRET_KEY@127.0.0.1:$PORT/$BUCKET"
        exit 0
      fi
      kill -0 "$(cat "$DIR/pid")" 2>/dev/null || break
      sleep 0.1
    done
    echo "test_s3: versitygw did not start on 127.0.0.1:$PORT; its log:" >&2
    cat "$DIR/server.log" >&2 || true
    stop
    exit 1
    ;;
  stop)
    stop
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
