# The front door. `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

.PHONY: help test lint fmt bench build clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-22s %s\n", $$1, $$2}'

test: ## Every test: unit, handler, Node signature reference, moto integration (installs moto)
	scripts/test.sh

lint: ## cargo fmt --check and clippy with warnings as errors
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

fmt: ## Format the code
	cargo fmt --all

bench: ## Criterion benchmarks (verify + parse of an IPN); reports in target/criterion
	cargo bench -p telepay-core --bench ipn

build: ## Release build of the three functions for Lambda (needs cargo-lambda)
	cargo lambda build --release --arm64

clean: ## Remove build output and the moto venv
	cargo clean
	rm -rf .venv
