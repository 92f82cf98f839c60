#!/usr/bin/env bash
# Runs every test of resedge on a fresh machine: formatting and vet checks,
# the engine under the race detector, then the whole suite. Installs what the
# tests need first (outside Go: curl, for the HTTP API tests).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"

echo "== go mod download"
go mod download

# The HTTP API tests run curl (they fail with a clear message without it).
if ! command -v curl >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "== installing curl (needed by the HTTP API tests)"
    apt-get update -qq && apt-get install -y -qq curl
  else
    echo "curl is needed by the HTTP API tests; install it and run again"; exit 1
  fi
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== all tests, under the race detector"
go test -race -count=1 -timeout 15m ./...
