# Sourced by the test and chaos scripts after moto.sh and postgres.sh: the tests' SQLite
# files, local queues and config files go to one scratch folder (TMPDIR), removed when
# the calling script exits, so repeated runs never fill /tmp.
TELEPAY_SCRATCH="$(mktemp -d /tmp/telepay-scratch.XXXXXX)"
export TMPDIR="$TELEPAY_SCRATCH"
# Chain onto the EXIT traps already set (Postgres, moto).
PREVIOUS_EXIT_TRAP="$(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT$/\1/")"
trap "rm -rf '$TELEPAY_SCRATCH'; ${PREVIOUS_EXIT_TRAP:-true}" EXIT
