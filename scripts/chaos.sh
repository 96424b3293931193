#!/usr/bin/env bash
# `make chaos`: the seeded chaos run on memory, SQLite, Postgres and DynamoDB (moto),
# built in release mode. Starts moto and a throwaway Postgres like the test script.
# Arguments go to the run: --seed N, --payments N (default 10000), --dynamodb-payments N
# (default 3000: single-threaded moto is the slowest), --subscribers N (the subscription
# lifecycle leg, default 1000; a third on DynamoDB), --burst N (expiries at one moment,
# removed at Telegram's pace on SQLite; default 10000, 0 skips), --join-requests N (the bot's
# join-request leg, default 1000; a third on DynamoDB; 0 skips), --stars N (the Telegram Stars
# leg, default 1000; a third on DynamoDB; 0 skips), --backends memory,....
# Then the self-hosted server's leg: `telepay serve` on Postgres killed -9 five times.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/moto.sh
source scripts/postgres.sh
source scripts/scratch.sh

cargo build --quiet --release --locked -p telepay-integration-tests --bin chaos
# Handler logs are off: the figures are the output (RUST_LOG is not read here). Not
# `exec`: the EXIT traps that stop moto and Postgres must run when the run ends.
target/release/chaos "$@"

# The self-hosted server's leg: `telepay serve` on Postgres (store and queues in one
# database), the process killed (`kill -9`) five times under 1,000 signed IPNs and started
# again each time; every IPN answered 2xx must end with its buyer's one invite, and no
# buyer may get two links (bench-local fails otherwise).
cargo build --quiet --release --locked -p telepay-local -p fake-bot-api
target/release/bench-local --store postgres --payments 1000 --kills 5
