#!/usr/bin/env bash
# Runs every test of resedge on a fresh machine: formatting and vet checks,
# the engine under the race detector, then the whole suite. Installs what the
# tests need first (nothing outside Go yet).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"

echo "== go mod download"
go mod download

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== all tests, under the race detector"
go test -race -count=1 -timeout 15m ./...
