# The front door. `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

.PHONY: help test lint fmt bench build deploy clean migrate

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

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
