#!/usr/bin/env bash
# `make chaos`: the seeded chaos run on memory, SQLite, Postgres and DynamoDB (moto),
# built in release mode. Starts moto and a throwaway Postgres like the test script.
# Arguments go to the run: --seed N, --payments N (default 10000), --dynamodb-payments N
# (default 3000: single-threaded moto is the slowest), --subscribers N (the subscription
# lifecycle leg, default 1000; a third on DynamoDB), --burst N (expiries at one moment,
# removed at Telegram's pace on SQLite; default 10000, 0 skips), --join-requests N (the bot's
# join-request leg, default 1000; a third on DynamoDB; 0 skips), --backends memory,....
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/moto.sh
source scripts/postgres.sh
source scripts/scratch.sh

cargo build --quiet --release --locked -p telepay-integration-tests --bin chaos
# Handler logs are off: the figures are the output (RUST_LOG is not read here). Not
# `exec`: the EXIT traps that stop moto and Postgres must run when the run ends.
target/release/chaos "$@"
