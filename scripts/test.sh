#!/usr/bin/env bash
# Runs every test of resedge on a fresh machine: formatting and vet checks,
# the engine under the race detector, then the whole suite, then the examples
# in headless Chromium. Installs what the tests need first (outside Go: curl,
# for the HTTP API tests; systemd-analyze, for the unit file test; Chromium
# and the npm packages in examples/, for the examples' browser tests).
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

# The systemd unit test runs systemd-analyze verify (Debian's systemd
# package; it does not need systemd running). Never skipped: without it this
# script fails.
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "== installing systemd (systemd-analyze, needed by the unit file test)"
  sd_root=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "systemd-analyze is needed by the unit file test: install it (apt-get install systemd), or run as root"; exit 1; }
    sd_root=(sudo -n)
  fi
  command -v apt-get >/dev/null 2>&1 || { echo "systemd-analyze is needed by the unit file test, and there is no apt-get: install systemd"; exit 1; }
  "${sd_root[@]}" apt-get update -qq
  "${sd_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd
  command -v systemd-analyze >/dev/null 2>&1 || { echo "installing systemd did not give systemd-analyze"; exit 1; }
fi

# The examples' browser tests drive Debian's Chromium through playwright-core
# (which never downloads a browser). They are never skipped: without
# Chromium this script fails.
if [ ! -x /usr/bin/chromium ]; then
  echo "== installing chromium (needed by the examples' browser tests)"
  as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "chromium is needed by the examples' browser tests: install it (apt-get install chromium), or run as root"; exit 1; }
    as_root=(sudo -n)
  fi
  command -v apt-get >/dev/null 2>&1 || { echo "chromium is needed by the examples' browser tests, and there is no apt-get: install it at /usr/bin/chromium"; exit 1; }
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
  [ -x /usr/bin/chromium ] || { echo "installing chromium did not give /usr/bin/chromium"; exit 1; }
fi
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { echo "node (20 or later) and npm are needed by the examples' browser tests"; exit 1; }
if [ ! -f examples/node_modules/.package-lock.json ] || [ examples/package-lock.json -nt examples/node_modules/.package-lock.json ]; then
  echo "== npm ci in examples/ (resclient, playwright-core)"
  (cd examples && npm ci --no-audit --no-fund)
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

echo "== examples, in headless Chromium"
node --test examples/test/
