# nsauth developer and CI entry points. `make test` is what .ci/run runs.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
ARGS ?=

.PHONY: tools check-template test bench bench-e2e bench-profiles soak soak-short dev admin build deploy deploy-guided

## Install the pinned test tools into .tools/ (no-op when up to date).
tools:
	@infra/scripts/tools.sh

## Lint template.yaml with cfn-lint and `sam validate --lint`, and check that its routes,
## table, IAM and globals match the code (needs the admin tool, built here).
check-template: tools
	@$(CARGO) build --locked --quiet -p nsauth-admin
	@infra/scripts/check-template.sh

## Everything CI checks, in order, stopping at the first failure.
## CARGO_INCREMENTAL=0: a full run rebuilds nothing, and the incremental cache (about
## 0.7 GB) is what filled a CI machine's disk; the free space is printed first for that reason.
test:
	@start=$$SECONDS; export CARGO_INCREMENTAL=0; \
	df -h . | awk 'NR == 2 { printf "==> disk: %s free of %s\n", $$4, $$2 }'; \
	mkdir -p artifacts; log=artifacts/cargo-test.log; blog=artifacts/browser-tests.log; : > $$log; : > $$blog; \
	trap 'rc=$$?; if [[ $$rc == 0 ]]; then r=passed; else r="FAILED (exit $$rc)"; fi; \
	      printf "\n==> make test: %s in %d s\n" "$$r" $$((SECONDS - start)); \
	      awk "/^test result:/ { p += \$$4; f += \$$6; i += \$$8 } \
	           /^# pass / { p += \$$3 } /^# fail / { f += \$$3 } /^# skipped / { i += \$$3 } \
	           /^(lambda-watch|openapi|compat|bench): [0-9]+ passed/ { p += \$$2; f += \$$4 } \
	           END { printf \"tests: %d passed, %d failed, %d skipped\\n\", p, f, i }" $$log $$blog' EXIT; \
	step() { printf '\n==> [%s] %s (at %d s)\n' "$$1" "$$2" $$((SECONDS - start)); }; \
	limit() { local s=$$1 rc=0; shift; timeout -k 30 "$$s" "$$@" || rc=$$?; \
	  if [[ $$rc == 124 || $$rc == 137 ]]; then printf '\n==> %s: stopped after its limit of %d s\n' "$$1" "$$s" >&2; fi; \
	  return $$rc; }; \
	step 1/6 "tools: infra/scripts/tools.sh"; \
	limit 1500 $(MAKE) --no-print-directory tools; \
	step 2/6 "format: $(CARGO) fmt --all -- --check"; \
	$(CARGO) fmt --all -- --check; \
	step 3/6 "tests: infra/scripts/with-services.sh $(CARGO) test --workspace --locked"; \
	limit 2100 infra/scripts/with-services.sh $(CARGO) test --workspace --locked 2>&1 | tee $$log; \
	step 4/6 "runtime and browser: cargo lambda watch end to end, headless Chromium, OpenAPI"; \
	limit 900 $(CARGO) build --locked --quiet -p nsauth-local -p nsauth-authenticator -p nsauth-admin; \
	limit 900 infra/scripts/with-services.sh infra/scripts/lambda-watch-e2e.sh 2>&1 | tee -a $$blog; \
	limit 1200 infra/scripts/browser-tests.sh 2>&1 | tee -a $$blog; \
	limit 900 infra/scripts/openapi-check.sh 2>&1 | tee -a $$blog; \
	limit 600 infra/scripts/compat-check.sh 2>&1 | tee -a $$blog; \
	limit 600 $(MAKE) --no-print-directory soak-short 2>&1 | tee -a $$blog; \
	limit 600 $(MAKE) --no-print-directory bench PROFILE=dev RUNS=2 LOGINS=20 SECONDS_TP=1 2>&1 | tee -a $$blog; \
	step 5/6 "lint: $(CARGO) clippy --workspace --all-targets --locked -- -D warnings; cargo package -p nsauth-protocol"; \
	limit 1200 $(CARGO) clippy --workspace --all-targets --locked -- -D warnings; \
	limit 600 $(CARGO) package -p nsauth-protocol --locked --allow-dirty --quiet; \
	step 6/6 "template: infra/scripts/check-template.sh"; \
	limit 900 $(MAKE) --no-print-directory check-template

## Cold start of every HTTP function (get_session with and without its init-time warm-up)
## beside a lambda_http hello world and the DynamoDB-client floor, against a Runtime API
## emulator and moto: init time, first answer, peak RSS, and their ratios to the hello world;
## the binary and zipped package size of every function (release; RUNS=20 by default); the
## DynamoDB requests and consumed capacity of each login step over dynalite
## (infra/bench/src/bin/capacity.rs); then `bench-e2e` (below). `make test` runs a short form (dev profile, 2 runs, 20 logins,
## 1 s of throughput) so that the bench keeps working.
PROFILE ?= release
FUNCTIONS := create_session get_session website_sessions account_admin phone_api push_login \
	login_block management websocket notifier
RUNS ?= 20
# The functions are built on their own, as `sam build` builds them: built together with the
# bench crate, cargo would unify their dependencies' features with the tests' ones.
bench: tools
	@$(CARGO) build --locked --quiet --profile $(PROFILE) $(FUNCTIONS:%=-p %)
	@$(CARGO) build --locked --quiet --profile $(PROFILE) -p nsauth-bench
	@$(CARGO) build --locked --quiet -p nsauth-admin
	@dir=$$([[ $(PROFILE) == dev ]] && echo debug || echo $(PROFILE)); \
	infra/scripts/with-services.sh python3 infra/bench/coldstart.py --runs $(RUNS) \
	  --admin target/debug/nsauth-admin --fixture target/$$dir/coldstart_fixture \
	  get_session=target/$$dir/get_session \
	  get_session_noprewarm=target/$$dir/get_session@NSAUTH_PREWARM=off \
	  create_session=target/$$dir/create_session website_sessions=target/$$dir/website_sessions \
	  login_block=target/$$dir/login_block account_admin=target/$$dir/account_admin \
	  hello=target/$$dir/hello_lambda dynamodb_floor=target/$$dir/dynamodb_floor \
	  phone_api=target/$$dir/phone_api push_login=target/$$dir/push_login \
	  management=target/$$dir/management \
	  $(foreach f,$(FUNCTIONS),--size $(f)=target/$$dir/$(f))
	@dir=$$([[ $(PROFILE) == dev ]] && echo debug || echo $(PROFILE)); \
	infra/scripts/with-services.sh target/$$dir/capacity
	@$(MAKE) --no-print-directory bench-e2e

## End to end on the local stack over dynalite (infra/bench/src/bin/e2e.rs): QR login latency
## over LOGINS logins (approve to the WebSocket's LOGIN frame and to the getSession after it),
## then getSession throughput at concurrency 1 and 32 for SECONDS_TP seconds each.
LOGINS ?= 200
SECONDS_TP ?= 5
bench-e2e: tools
	@$(CARGO) build --locked --quiet --profile $(PROFILE) -p nsauth-bench --bin e2e
	@dir=$$([[ $(PROFILE) == dev ]] && echo debug || echo $(PROFILE)); \
	infra/scripts/with-services.sh target/$$dir/e2e --logins $(LOGINS) --seconds $(SECONDS_TP)

## Release profiles side by side (infra/bench/profiles.sh): a clean build of every function
## per candidate profile, sizes and the CPU time of a signed phone call. Over half an hour.
bench-profiles:
	@infra/bench/profiles.sh $(PROFILES)

## The soak test with faults (docs/operations.md, "Soak test"): the local stack over dynalite
## through a fault-injecting proxy, dynalite killed twice, 32 clients for 10 minutes, every
## acknowledged answer checked against the store at the end. `make soak-short` (8 clients
## for about 60 s) runs in `make test`. NSAUTH_SOAK_SEED, _CLIENTS, _SECONDS override.
soak: tools
	@$(CARGO) build --locked --quiet -p nsauth-local
	@infra/soak/soak.sh

soak-short: tools
	@$(CARGO) build --locked --quiet -p nsauth-local
	@infra/soak/soak.sh --short

## `sam build` (arm64, cargo-lambda) from a fresh clone; checks and lists the artifacts.
build:
	@infra/scripts/build.sh

## `sam deploy` with samconfig.toml (run `make deploy-guided` the first time).
deploy: build
	@PATH="$$PWD/.tools/sam/bin:$$PATH" SAM_CLI_TELEMETRY=0 sam deploy

deploy-guided: build
	@PATH="$$PWD/.tools/sam/bin:$$PATH" SAM_CLI_TELEMETRY=0 sam deploy --guided

## Run the whole stack locally (no AWS account needed).
dev:
	$(CARGO) run --locked -p nsauth-local

## Admin CLI, e.g. make admin ARGS="create-server --name Acme"
admin:
	$(CARGO) run --locked -p nsauth-admin -- $(ARGS)
