#!/usr/bin/env bash
# Runs every fuzz target of resedge (every func FuzzXxx in a _test.go file)
# for FUZZTIME each (default 30s), one after the other. A crash stops the
# run; go test writes the input that caused it under the package's
# testdata/fuzz/<target>/, where it stays as a seed that every later
# go test runs. Fix the bug and keep the file.
#
#   scripts/fuzz.sh                  # every target, 30s each
#   FUZZTIME=2m scripts/fuzz.sh      # longer
#   scripts/fuzz.sh FuzzLoadConfig   # only targets matching a regexp
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
fuzztime="${FUZZTIME:-30s}"
filter="${1:-.}"

# package directory and target name, one pair per line.
targets=$(grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' . |
  sed -E 's|^\./(.*)/[^/]+_test\.go:func (Fuzz.*)$|\1 \2|' | sort -u)

# A run counts as a crash only if it wrote a new input to the target's
# corpus. Go 1.26's fuzz coordinator may end a time-bound run with a bare
# "context deadline exceeded" and no input when the machine is loaded
# (go.dev/issue/75804, fixed in Go 1.27): that is reported, not a failure.
corpus_size() { if [[ -d "$1" ]]; then find "$1" -type f | wc -l; else echo 0; fi; }

n=0
flaked=()
while read -r dir name; do
  [[ -z "$name" ]] && continue
  [[ "$name" =~ $filter ]] || continue
  echo "== $name (./$dir, $fuzztime)"
  corpus="$dir/testdata/fuzz/$name"
  before=$(corpus_size "$corpus")
  if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "./$dir"; then
    if [[ $(corpus_size "$corpus") -gt $before ]]; then
      echo "== $name: crash; the input is in $corpus (keep it as a seed once fixed)"
      exit 1
    fi
    echo "== $name: go test failed without writing an input (go.dev/issue/75804); not a crash"
    flaked+=("$name")
  fi
  n=$((n + 1))
done <<<"$targets"
echo "== $n fuzz targets ran for $fuzztime each, no crash${flaked:+ (ended early by go.dev/issue/75804: ${flaked[*]})}"
