# The front door. `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

.PHONY: help bench-cold-start bench-local bench-serve bench-flash-sale run serve docker-smoke demo-buy send-sample-ipn watch invoke-np-webhook invoke-payment-processor invoke-invite-sender invoke-reconciler invoke-subscription-sweeper invoke-bot-webhook invoke-admission-recheck test chaos fuzz lint fmt bench build deploy clean migrate build-NpWebhookFunction build-BotWebhookFunction build-AdmissionRecheckFunction build-PaymentProcessorFunction build-InviteSenderFunction build-ReconcilerFunction build-SubscriptionSweeperFunction build-SubscriptionLifecycleFunction

WATCH_PORT ?= 9000
# The store backends `make build` links into the functions: dynamodb, postgres, or both.
BACKENDS ?= dynamodb
INVOKE = source scripts/tools.sh && cargo lambda invoke --invoke-address 127.0.0.1 --invoke-port $(WATCH_PORT)

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

run: ## The whole chain in one process: SQLite store + queues, fake Telegram printing invites (PORT, default 3000)
	cargo run --locked -p telepay-local -- --demo

serve: ## telepay serve for real (release): your settings from the environment or .env, SQLite or Postgres (docs/self-hosting.md)
	set -a; [ -f .env ] && source .env; set +a; cargo run --release --locked -p telepay -- serve

docker-smoke: ## Build the Docker image and run it with the demo's fakes: one invite for the sample IPN (needs a Docker daemon)
	scripts/docker-smoke.sh

demo-buy: ## With `make run` going: a buyer from /start to an approved join request, a forwarded link declined, a short payment and its /topup, a price change with an invoice open
	cargo run --quiet --locked -p telepay-local --bin demo-buy

send-sample-ipn: ## POST the signed sample IPN to `make run` (PAYMENT_ID=N sends it as another payment: a renewal)
	scripts/send_sample_ipn.py

watch: ## moto (tables, queues, a seeded payment) + fake Bot API, then cargo lambda watch on WATCH_PORT (9000)
	scripts/watch.sh

invoke-np-webhook: ## cargo lambda invoke np-webhook (EVENT=events/<file>.json, default np-webhook-finished.json)
	$(INVOKE) np-webhook --data-file $(or $(EVENT),events/np-webhook-finished.json)

invoke-payment-processor: ## cargo lambda invoke payment-processor (default events/payment-processor-batch.json)
	$(INVOKE) payment-processor --data-file $(or $(EVENT),events/payment-processor-batch.json)

invoke-invite-sender: ## cargo lambda invoke invite-sender (default events/invite-sender-batch.json)
	$(INVOKE) invite-sender --data-file $(or $(EVENT),events/invite-sender-batch.json)

invoke-reconciler: ## cargo lambda invoke reconciler (default events/reconciler-schedule.json)
	$(INVOKE) reconciler --data-file $(or $(EVENT),events/reconciler-schedule.json)

invoke-bot-webhook: ## cargo lambda invoke bot-webhook (default events/bot-webhook-start.json: /start)
	$(INVOKE) bot-webhook --data-file $(or $(EVENT),events/bot-webhook-start.json)

invoke-admission-recheck: ## cargo lambda invoke admission-recheck (default events/admission-recheck-batch.json)
	$(INVOKE) admission-recheck --data-file $(or $(EVENT),events/admission-recheck-batch.json)

invoke-subscription-sweeper: ## cargo lambda invoke subscription-sweeper (default events/subscription-sweeper-schedule.json)
	$(INVOKE) subscription-sweeper --data-file $(or $(EVENT),events/subscription-sweeper-schedule.json)

test: ## Every test: unit, handlers, Node signature reference, moto + fake Bot API integration
	scripts/test.sh

chaos: ## Seeded chaos run on every backend, then telepay serve on Postgres killed -9 five times under load; prints the guarantees' figures (ARGS="--seed N --payments N ...")
	scripts/chaos.sh $(ARGS)

fuzz: ## cargo fuzz (stable, no sanitizer): the IPN parser and verifier, then the bot's update parser, FUZZ_SECONDS each (default 600)
	source scripts/tools.sh && ensure_cargo_fuzz \
	  && cd fuzz && mkdir -p corpus/ipn corpus/bot_update \
	  && cargo fuzz run -s none ipn corpus/ipn seeds/ipn -- \
	     -max_total_time=$${FUZZ_SECONDS:-600} -max_len=8192 -print_final_stats=1 \
	  && cargo fuzz run -s none bot_update corpus/bot_update seeds/bot_update -- \
	     -max_total_time=$${FUZZ_SECONDS:-600} -max_len=8192 -print_final_stats=1

lint: ## fmt --check, clippy -D warnings, the import graph (scripts/check_imports.py), cfn-lint and sam validate on template.yaml
	scripts/lint.sh

fmt: ## Format the code
	cargo fmt --all

bench: ## Criterion benchmarks: verify + parse of an IPN, and each handler's warm cost on the in-memory store (reports in target/criterion)
	cargo bench -p telepay-core --bench ipn
	cargo bench -p telepay-integration-tests --bench warm_handlers

bench-cold-start: ## Each function's release binary against a fake Lambda Runtime API (moto, fake Bot API): init, first and warm invocations, peak RSS
	scripts/bench-cold-start.sh

bench-local: ## make run's chain (release) under N signed IPNs over HTTP: requests/s, payments/s, and a kill -9 halfway that loses nothing (ARGS="--payments N")
	cargo build --release --locked -p telepay-local -p fake-bot-api
	target/release/bench-local $(ARGS)

bench-serve: ## bench-local on SQLite, then on Postgres (a throwaway server, or DATABASE_URL's): the same rounds, both figures (ARGS="--payments N")
	cargo build --release --locked -p telepay-local -p fake-bot-api
	target/release/bench-local --store sqlite $(ARGS)
	source scripts/postgres.sh && target/release/bench-local --store postgres $(ARGS)

bench-flash-sale: ## 2,000 buyers at Telegram's own pace (the fake refuses beyond 30 messages/s): 1,000 removals and 1,000 reminders due in the same minute, 50 accounts spamming the bot throughout; every invite within 1.15 x 2000/30 s of the last IPN, 0 dead letters, 429s counted (ARGS="--store postgres")
	cargo build --release --locked -p telepay-local -p fake-bot-api
	source scripts/postgres.sh && target/release/bench-local --flash-sale --payments 2000 --due 1000 --abusers 50 $(ARGS)

build: ## Release arm64 bootstraps of the eight functions, zipped in target/lambda, with BACKENDS (default dynamodb; postgres; "dynamodb postgres"), checked and sized
	BACKENDS="$(BACKENDS)" scripts/build.sh

deploy: ## sam build + sam deploy (guided the first time, plain after: secrets kept; GUIDED=1 asks again), then applies catalog.json
	source scripts/tools.sh && ensure_tool sam 'aws-sam-cli>=1.140,<2' \
	  && BACKENDS="$(BACKENDS)" GUIDED="$(GUIDED)" scripts/deploy.sh

# sam build's makefile method: one target per function (its logical id in template.yaml),
# the release arm64 bootstrap with the store backends in BACKENDS, into ARTIFACTS_DIR.
build-NpWebhookFunction: ; scripts/build.sh --function np-webhook
build-BotWebhookFunction: ; scripts/build.sh --function bot-webhook
build-AdmissionRecheckFunction: ; scripts/build.sh --function admission-recheck
build-PaymentProcessorFunction: ; scripts/build.sh --function payment-processor
build-InviteSenderFunction: ; scripts/build.sh --function invite-sender
build-ReconcilerFunction: ; scripts/build.sh --function reconciler
build-SubscriptionSweeperFunction: ; scripts/build.sh --function subscription-sweeper
build-SubscriptionLifecycleFunction: ; scripts/build.sh --function subscription-lifecycle

clean: ## Remove build output and the tool venvs
	cargo clean
	rm -rf .venv .venv-tools .aws-sam

migrate: ## Apply the store schema: SQL migrations or DynamoDB tables (TELEPAY_STORE_BACKEND, DATABASE_URL, ...)
	cargo run --quiet --locked -p telepay -- migrate
