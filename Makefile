# tenantstream — `make run` starts the platform locally, `make test` runs every test.
SHELL := /bin/bash
GO ?= go
DATA ?= ./data
ADDR ?= localhost:8080
BIN := bin/tenantstream
# cgo is needed for the embedded SQLite (github.com/mattn/go-sqlite3); gcc must be installed.
export CGO_ENABLED := 1
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
BENCHSTAT := golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
BENCH_COUNT ?= 6
BENCH_TIME ?= 1s

.PHONY: all run build test test-short bench lint fmt tools clean lambda synth deploy bootstrap infra-test

all: build

build:
	@command -v gcc >/dev/null || { echo "gcc is required for the embedded SQLite (cgo): apt-get install gcc"; exit 1; }
	@if [ -x $(BIN) ]; then echo "building $(BIN)"; else echo "building $(BIN): the first build downloads the Go modules and compiles SQLite (cgo) and the AWS SDK, which takes a few minutes; later builds take seconds"; fi
	$(GO) build -o $(BIN) ./cmd/tenantstream

run: build
	$(BIN) serve --addr $(ADDR) --data $(DATA) $(ARGS)

# Every test, with the race detector. Fuzz seed corpora run as ordinary tests.
test:
	@command -v gcc >/dev/null || { echo "gcc is required for the embedded SQLite (cgo): apt-get install gcc"; exit 1; }
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) --no-print-directory infra-test

test-short:
	$(GO) test -count=1 ./...

# Benchmarks, several runs each, summarised by benchstat (results in bench.out).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCH_COUNT) -benchtime $(BENCH_TIME) -timeout 60m ./... | tee bench.out
	$(GO) run $(BENCHSTAT) bench.out

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

# Lambda bootstrap zips for the provided.al2023 runtime on Graviton: static (no cgo,
# so no SQLite), without the RPC shim (-tags lambda.norpc). One dist/<fn>.zip each.
# CATALOG=FILE (YAML or JSON) ships your plan catalogue in every zip as catalog.<ext>
# next to bootstrap, after `tenantstream catalog check FILE` (which needs gcc) passes;
# deploy with the context key catalogFile so the functions load it (docs/deploy.md).
LAMBDA_FUNCTIONS := api projector billing-close billing-close-worker pre-token
CATALOG ?=
lambda:
	@command -v zip >/dev/null || { echo "zip is required: apt-get install zip"; exit 1; }
	@set -e; catfile=""; \
	if [ -n "$(CATALOG)" ]; then \
		src="$(CATALOG)"; ext=$$(printf '%s' "$${src##*.}" | tr 'A-Z' 'a-z'); \
		case "$$ext" in yaml|yml|json) ;; *) echo "CATALOG=$$src: want a .yaml, .yml or .json file"; exit 1;; esac; \
		command -v gcc >/dev/null || { echo "gcc is required to check CATALOG (the tenantstream CLI embeds SQLite): apt-get install gcc"; exit 1; }; \
		$(GO) run ./cmd/tenantstream catalog check "$$src"; \
		catfile=catalog.$$ext; \
	fi; \
	for fn in $(LAMBDA_FUNCTIONS); do \
		mkdir -p dist/$$fn; rm -f dist/$$fn/catalog.*; \
		CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o dist/$$fn/bootstrap ./cmd/lambda/$$fn; \
		if [ -n "$$catfile" ]; then install -m 0644 "$$src" dist/$$fn/$$catfile; fi; \
		rm -f dist/$$fn.zip; (cd dist/$$fn && zip -q -X ../$$fn.zip bootstrap $$catfile); \
		echo "dist/$$fn.zip$${catfile:+ (with $$catfile)}"; \
	done

clean:
	rm -rf bin bench.out

# infra/: the AWS stack as a CDK app in Go (its own module, so CDK stays out of the
# binaries). Synthesis runs the Go app itself; only deploy and bootstrap need the CDK
# CLI (through npx) and AWS credentials. Context: CDK_CONTEXT='{"opsEmail":"ops@example.com"}'
# (keys in docs/deploy.md).
INFRA_ENV := JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
CDK_CONTEXT ?= {}
CDK ?= npx --yes aws-cdk@2
CFN_LINT ?= cfn-lint
# W3005 (a DependsOn already implied by a GetAtt) is CDK's own output: it adds the
# DependsOn so a function waits for its role's policy, not only for the role.
CFN_LINT_IGNORE := --ignore-checks W3005

# The template for deployment, from make lambda's zips: infra/cdk.out/TenantStream.template.json.
# With CATALOG=FILE the context key catalogFile is filled in from it (unless CDK_CONTEXT sets it).
synth: lambda
	@set -e; ctx='$(CDK_CONTEXT)'; \
	if [ -n "$(CATALOG)" ] && ! printf '%s' "$$ctx" | grep -q '"catalogFile"'; then \
		rest=$$(printf '%s' "$$ctx" | sed 's/^[[:space:]]*{[[:space:]]*//'); \
		case "$$rest" in "}"*) ctx='{"catalogFile":"$(CATALOG)"}';; *) ctx='{"catalogFile":"$(CATALOG)",'"$$rest";; esac; \
	fi; \
	echo "synth with context $$ctx"; \
	cd infra && $(INFRA_ENV) CDK_OUTDIR=cdk.out CDK_CONTEXT_JSON="$$ctx" $(GO) run .

deploy: synth
	cd infra && $(INFRA_ENV) $(CDK) deploy --app cdk.out --require-approval broadening TenantStream

# Run outside infra/ so the CLI bootstraps the credentials' account and region
# without synthesizing the app (which would need the zips).
bootstrap:
	$(CDK) bootstrap

# The infra tests (assertions, cdk-nag), then cfn-lint on templates synthesized with
# placeholder code, so no cross-compiled build is needed: the default one, one with
# the optional resources' context (CORS) set, and the Kinesis feed (feed=kinesis).
INFRA_LINT_CONTEXTS := '{"placeholderCode":true}' '{"placeholderCode":true,"corsOrigins":"https://app.example.com,http://localhost:5173"}' '{"placeholderCode":true,"feed":"kinesis"}'
infra-test:
	@command -v $(CFN_LINT) >/dev/null || { echo "cfn-lint is required for the infra tests: pip install cfn-lint"; exit 1; }
	cd infra && $(INFRA_ENV) $(GO) vet ./... && $(INFRA_ENV) $(GO) test -race -count=1 -timeout 10m ./...
	@out=$$(mktemp -d) && trap 'rm -rf "$$out"' EXIT && \
		for ctx in $(INFRA_LINT_CONTEXTS); do \
			(cd infra && $(INFRA_ENV) CDK_OUTDIR="$$out" CDK_CONTEXT_JSON="$$ctx" $(GO) run . >/dev/null) && \
			$(CFN_LINT) $(CFN_LINT_IGNORE) -- "$$out/TenantStream.template.json" && echo "cfn-lint: TenantStream.template.json passes with $$ctx" || exit 1; \
		done
