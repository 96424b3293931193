# The front door. `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

.PHONY: help run send-sample-ipn test lint fmt bench build deploy clean migrate

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

run: ## The whole chain in one process: SQLite store + queues, fake Telegram printing invites (PORT, default 3000)
	cargo run --locked -p telepay-local

send-sample-ipn: ## POST the signed sample IPN (events/sample-ipn.json, demo secret) to `make run`
	curl -sS -X POST http://127.0.0.1:$${PORT:-3000}/np-webhook \
	  -H "x-nowpayments-sig: $$(python3 -c 'import hmac,hashlib,sys; print(hmac.new(sys.argv[1].encode(), open("events/sample-ipn.json","rb").read(), hashlib.sha512).hexdigest())' "$${TELEPAY_IPN_SECRET:-telepay-sample-ipn-secret}")" \
	  -H 'content-type: application/json' --data-binary @events/sample-ipn.json; echo

test: ## Every test: unit, handlers, Node signature reference, moto + fake Bot API integration
	scripts/test.sh

lint: ## fmt --check, clippy -D warnings, cfn-lint and sam validate on template.yaml
	scripts/lint.sh

fmt: ## Format the code
	cargo fmt --all

bench: ## Criterion benchmarks: verify + parse of an IPN (reports in target/criterion)
	cargo bench -p telepay-core --bench ipn

build: ## sam build: the three functions for arm64 Lambda (installs SAM and cargo-lambda)
	source scripts/tools.sh && ensure_tool sam 'aws-sam-cli>=1.140,<2' && ensure_tool cargo-lambda 'cargo-lambda>=1.9,<2' \
	  && rustup target add aarch64-unknown-linux-gnu && sam build --beta-features

deploy: build ## sam deploy --guided: asks for the IPN secret, bot token and channel directory
	source scripts/tools.sh && sam deploy --guided

clean: ## Remove build output and the tool venvs
	cargo clean
	rm -rf .venv .venv-tools .aws-sam

migrate: ## Apply the store schema: SQL migrations or DynamoDB tables (TELEPAY_STORE_BACKEND, DATABASE_URL, ...)
	cargo run --quiet --locked -p telepay -- migrate
