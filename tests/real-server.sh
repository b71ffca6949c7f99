#!/usr/bin/env bash
# Everything checked against the real Phase Two server. Run it through the command that starts
# the server and sets the PHASETWO_* variables:
#
#   cargo xtask phasetwo-server -- tests/real-server.sh
set -euo pipefail
cd "$(dirname "$0")/.."
: "${PHASETWO_SERVER:?run this through: cargo xtask phasetwo-server -- tests/real-server.sh}"

echo "== conformance suite, and the facade's traffic through Prism's validating proxy"
# --workspace resolves features as the test command does, so CI builds the crates once.
cargo test --workspace --locked --test conformance --test contract

echo "== the examples"
cli() { cargo run --locked --quiet -p phasetwo-invitations --features cli --bin phasetwo-invitations -- "$@"; }
# Something for the invitee to accept.
cli create "$PHASETWO_INVITEE_EMAIL" > /dev/null
for example in quickstart invite list_all manage invitee client_credentials blocking; do
  echo "-- $example"
  cargo run --locked --quiet --example "$example" > /dev/null
done
# Inviting a member again exits 6 ("already invited, or already a member").
status=0
cli create "$PHASETWO_INVITEE_EMAIL" > /dev/null 2>&1 || status=$?
if [ "$status" -ne 6 ]; then
  echo "the invitee example did not make $PHASETWO_INVITEE_EMAIL a member (exit $status, not 6)" >&2
  exit 1
fi

echo "== a CLI bulk run of 300 rows, checked on the server"
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
echo "email,roles" > "$rows"
for i in $(seq 1 300); do echo "Bulk-$i@Example.com,member"; done >> "$rows"
export PHASETWO_ORG="$PHASETWO_OTHER_ORG"
before=$(cli count)
cli bulk "$rows" --concurrency 8 > /dev/null
after=$(cli count)
if [ "$((after - before))" -ne 300 ]; then
  echo "bulk: expected 300 more invitations, the server has $before then $after" >&2
  exit 1
fi
# A second run creates nothing: every row is already invited.
cli bulk "$rows" --concurrency 8 --json | tail -1
again=$(cli count)
if [ "$again" -ne "$after" ]; then
  echo "bulk re-run: the server went from $after to $again invitations" >&2
  exit 1
fi
stored=$(cli list --search bulk- --json | grep -c '"email":"bulk-')
if [ "$stored" -ne 300 ]; then
  echo "bulk: listing finds $stored of the 300 emails, lower-cased" >&2
  exit 1
fi
echo "real server: all checks passed"
