# assethooks — the two commands a newcomer needs are `make run` and `make test`.
GO ?= go
export PATH := $(PATH):/usr/local/go/bin
# A count, not a duration: duration-based -fuzztime races Go 1.26's fuzz coordinator
# at the deadline (golang/go#75804) and fails with a bare "context deadline exceeded".
FUZZTIME ?= 20000x
PKG ?= ./...

.PHONY: run build test vet race fuzz bench bench-cluster bench-micro tidy clean

## run: build bin/assethooks, then start it on the embedded default and print how to call it.
## The binary replaces the recipe's shell (exec), so Ctrl-C stops it and make exits 0.
run:
	@echo "make run: building bin/assethooks (the first build takes a minute)..."
	@$(GO) build -o bin/assethooks ./cmd/assethooks
	@exec ./bin/assethooks serve

## build: the binary in ./bin
build:
	$(GO) build -o bin/assethooks ./cmd/assethooks

## test: vet, the race-detected tests (with the fuzz corpora), then short fuzz runs
test: vet race fuzz

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || (echo "gofmt needed:"; gofmt -l .; exit 1)
	$(GO) vet $(PKG)

race:
	$(GO) test -race -count=1 -timeout 15m $(PKG)

## fuzz: a short run of every fuzzer (the corpora also run in `race`)
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzCompileEval$$' -fuzztime $(FUZZTIME) ./rules/
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./event/
	$(GO) test -run '^$$' -fuzz '^FuzzIngest$$' -fuzztime $(FUZZTIME) ./api/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeConfig$$' -fuzztime $(FUZZTIME) ./actions/

## bench: the load program: the real binary on the real Redis at 127.0.0.1:6379, a Markdown table for BENCHMARKS.md
## (BENCHFLAGS passes flags, e.g. make bench BENCHFLAGS='-events 2000 -procs 2'; see go run ./cmd/loadbench -h)
BENCHFLAGS ?=
bench:
	$(GO) run ./cmd/loadbench $(BENCHFLAGS)

## bench-cluster: the load program with 1, 2 and 3 engine processes, each on the single Redis at 127.0.0.1:6379
## and on a Redis Cluster it starts itself (3 masters, 3 replicas on loopback; needs redis-server and redis-cli),
## with each master's share of keys and commands. On a 2-core machine this shows the cost per delivery, not a speed-up.
## (BENCHFLAGS passes flags to every run, e.g. make bench-cluster BENCHFLAGS='-events 5000 -scenarios single,batch')
bench-cluster:
	@set -e; for p in 1 2 3; do \
		echo "make bench-cluster: $$p process(es), single Redis" >&2; \
		$(GO) run ./cmd/loadbench -procs $$p $(BENCHFLAGS); \
		echo "make bench-cluster: $$p process(es), Redis Cluster" >&2; \
		$(GO) run ./cmd/loadbench -cluster -procs $$p $(BENCHFLAGS); \
	done

## bench-micro: Go benchmarks of the hot paths and the in-process pipeline (embedded and real Redis)
bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./rules/ ./actions/
	$(GO) test -run '^$$' -bench . -benchmem -count 1 -benchtime 20000x ./api/
	$(GO) test -run '^$$' -bench ScheduleTick -benchtime 1x ./engine/

tidy:
	$(GO) mod tidy

clean:
	rm -rf bin
