# Convenience targets; scripts/ holds the real work.
#
#   make test                 # what CI runs (scripts/test.sh)
#   make fuzz                 # every fuzz target for FUZZTIME (default 30s)
#   make fuzz FUZZTIME=2m
#   make fuzz FUZZ=FuzzLoadConfig   # only targets matching a regexp

FUZZTIME ?= 30s
FUZZ ?= .

.PHONY: test fuzz

test:
	bash scripts/test.sh

fuzz:
	FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh '$(FUZZ)'
