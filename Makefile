# deployer — run "make help" for the targets.

GO        ?= go
BIN       := bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
STATE_DIR ?= .state
# golangci-lint, pinned and built through the module proxy: nothing to
# install by hand. Override GOLANGCI_LINT with a prebuilt binary to save the build.
GOLANGCI_LINT ?= $(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
FUZZTIME  ?= 500000x
# How many tests (make test) and test packages (make test-race) run at
# once: three per core. The tests wait on the processes, sockets and
# timers they drive more than they compute: on 2 cores the end-to-end
# package took 245 s two tests at a time (go test's default, one per
# core) and 83 s six at a time; the race run 215 s two packages at a
# time and 113 s six.
TEST_PARALLEL ?= $(shell echo $$((3 * $$(getconf _NPROCESSORS_ONLN))))
# Build tags of every binary we ship. grpcnotrace: gRPC (linked, unused,
# through the OTLP/HTTP trace exporter) leaves out golang.org/x/net/trace,
# whose templates keep the linker from dropping unused methods: the
# Lambdas and the worker come out about a third smaller.
TAGS      := grpcnotrace
LAMBDA_ARCH ?= arm64
# Images (make images): their repository and the version stamped into
# deployer-task and the worker and used as the tag.
IMAGE_REPO ?= deployer
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build the deployer CLI, deployer-aws (the CLI with the AWS SDK, Prometheus, the OTLP exporter and the dashboard, which deployer hands the command lines that need them to), deployer-supervisor (its task supervisor), infrastructure-deployer (the ECS deploy runner's CLI), the worker daemon and the deployer-task entrypoint into bin/
	CGO_ENABLED=0 $(GO) build -trimpath -tags $(TAGS) -ldflags='-X github.com/deployerhq/deployer/internal/version.Stamp=$(VERSION)' -o $(BIN)/ ./cmd/deployer ./cmd/deployer-aws ./cmd/deployer-supervisor ./cmd/infrastructure-deployer ./cmd/worker ./cmd/deployer-task

.PHONY: lambda
lambda: ## Build the gatekeeper and logshipper Lambda zips into dist/ (provided.al2023; LAMBDA_ARCH, default arm64; GATEKEEPER_CONFIG=FILE packs the allow-list)
	@if [ -n "$(GATEKEEPER_CONFIG)" ]; then $(GO) run ./cmd/deployer config validate $(GATEKEEPER_CONFIG) || exit 1; fi
	@for fn in gatekeeper logshipper; do \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$(LAMBDA_ARCH) $(GO) build -trimpath -tags lambda.norpc,$(TAGS) -ldflags='-s -w' \
	    -o $(BIN)/linux_$(LAMBDA_ARCH)/$$fn ./cmd/$$fn || exit 1; \
	  config=; if [ $$fn = gatekeeper ] && [ -n "$(GATEKEEPER_CONFIG)" ]; then config="-config $(GATEKEEPER_CONFIG)"; fi; \
	  $(GO) run ./internal/tools/lambdazip -o dist/$$fn.zip $$config $(BIN)/linux_$(LAMBDA_ARCH)/$$fn || exit 1; \
	  echo "dist/$$fn.zip"; \
	done

.PHONY: images
images: ## Build the images of images/ with Docker, tagged IMAGE_REPO/NAME:VERSION: the task images (deploy-runner, kaniko) and the worker's (the module's worker_image)
	@docker info >/dev/null 2>&1 || { echo "make images: Docker is not available here (docker info failed). Build the images where a Docker daemon runs; without Docker, CI checks the Dockerfiles with go test ./images/." >&2; exit 1; }
	@test -d config/standard/scripts || { echo "make images: config/standard/scripts is missing: the images copy the standard scripts from there." >&2; exit 1; }
	@unset=$$(grep -Hn '^ARG [A-Z0-9_]*_SHA256=$$' images/*/Dockerfile || true); \
	  if [ -n "$$unset" ]; then echo "make images: these checksums are not pinned yet (how: the comment at the top of the Dockerfile):" >&2; echo "$$unset" >&2; exit 1; fi
	@for img in deploy-runner kaniko worker; do \
	  echo "== $(IMAGE_REPO)/$$img:$(VERSION)"; \
	  DOCKER_BUILDKIT=1 docker build -f images/$$img/Dockerfile --build-arg VERSION=$(VERSION) -t $(IMAGE_REPO)/$$img:$(VERSION) . || exit 1; \
	done

.PHONY: run
run: build ## Run the example job through the embedded pipeline, streaming its output
	./$(BIN)/deployer --state-dir $(STATE_DIR) describe
	./$(BIN)/deployer --state-dir $(STATE_DIR) run -- demo plan --path modules/vpc --ref main

.PHONY: run-standard
run-standard: build ## Run a terraform-planner plan of the standard configuration (config/standard) with stub tools, no cloud
	@dir=$$($(GO) run ./config/standard/stubconfig -o $(STATE_DIR)/standard-config) && \
	  ./$(BIN)/deployer --state-dir $(STATE_DIR)/standard --config "$$dir" run -- \
	    terraform-planner infrastructure-deploy-script \
	    --repo https://github.com/acme/infra-live --ref main --deploy-path live/prod/vpc

.PHONY: test
test: ## Run all tests, end-to-end tests included
	$(GO) test -count=1 -timeout 15m -parallel $(TEST_PARALLEL) ./...

.PHONY: test-race
test-race: ## Run the unit tests with the race detector
	$(GO) test -race -count=1 -p $(TEST_PARALLEL) $$($(GO) list ./... | grep -v /test$$)

.PHONY: lint
lint: ## Run golangci-lint (pinned version)
	$(GOLANGCI_LINT) run ./...

.PHONY: bench
# -p 1: one package's benchmarks at a time, so that none measures another's
# load (test/'s benchmarks time the deployer binary against baselines on 2 cores).
bench: ## Run the benchmarks (figures reported with b.ReportMetric)
	$(GO) test -p 1 -run '^$$' -bench . -benchmem -count=1 ./...

.PHONY: fuzz
# FUZZTIME is a count of inputs ("500000x"), not a duration: Go 1.26's
# fuzz coordinator can fail a target with a bare "context deadline
# exceeded" when a duration's deadline races a busy worker
# (go.dev/issue/75804, fixed in Go 1.27); a count has no deadline to race.
# The targets are listed by one go test -list for every package (a
# package's names, then its "ok" line), not one per package: 30 s
# rather than 85 s on 2 cores.
fuzz: ## Run every fuzz target for FUZZTIME inputs each
	@set -e; list=$$($(GO) test -list '^Fuzz' ./...) || { echo "$$list"; exit 1; }; \
	targets=$$(echo "$$list" | awk '/^Fuzz/ { t[n++] = $$1; next } /^ok/ { for (i = 0; i < n; i++) print $$2 " " t[i]; n = 0 }'); \
	test -n "$$targets" || { echo "no fuzz targets found"; exit 1; }; \
	echo "$$targets" | while read -r pkg t; do \
	  echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 100x $$pkg; \
	done

.PHONY: verify
verify: ## Check formatting, go vet, go mod tidy and generated files
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed on:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) mod tidy -diff
	$(GO) test -count=1 ./gatekeeper/policy/gendocs ./config/standard/gendocs ./config/standard/genmodule  # docs/configuration.md, docs/standard.md and the module's standard.json are current
	GOOS=darwin GOARCH=arm64 $(GO) build -o /dev/null ./cmd/deployer ./cmd/deployer-aws ./cmd/deployer-supervisor  # the CLI, its aws half and its supervisor build for macOS too

.PHONY: docs
docs: ## Regenerate docs/configuration.md (from the schema) and docs/standard.md (from config/standard)
	$(GO) run ./gatekeeper/policy/gendocs -o docs/configuration.md
	$(GO) run ./config/standard/gendocs -o docs/standard.md
	$(GO) run ./config/standard/genmodule -o terraform/modules/deployer/standard.json

.PHONY: clean
clean: ## Remove build output and the local state directory
	rm -rf $(BIN) dist $(STATE_DIR)
