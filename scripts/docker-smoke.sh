#!/usr/bin/env bash
# Builds the image (Dockerfile) and runs it as an owner would, with the demo's fakes in
# the container: the sample IPN over HTTP must give one invite. Not part of `make test`
# (it needs a Docker daemon and the base images); `make docker-smoke` runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! docker info >/dev/null 2>&1; then
  echo "docker-smoke: no Docker daemon reachable (docker info failed); nothing run" >&2
  exit 1
fi
docker build -t telepay:smoke .
name="telepay-smoke-$$"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
docker run -d --name "$name" -p "127.0.0.1:$port:3000" telepay:smoke serve --demo --bind 0.0.0.0 >/dev/null
trap 'docker rm -f "$name" >/dev/null 2>&1 || true' EXIT
for _ in $(seq 1 60); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$port/readyz"; echo
secret="$(sed -n 's/.*SAMPLE_IPN_SECRET: &str = "\(.*\)";/\1/p' shared/core/src/fixtures.rs)"
signature="$(python3 -c 'import hmac,hashlib,json,sys
body=open("events/sample-ipn.json","rb").read()
print(hmac.new(sys.argv[1].encode(), body, hashlib.sha512).hexdigest())' "$secret")"
curl -fsS -X POST "http://127.0.0.1:$port/np-webhook" -H 'Content-Type: application/json' \
  -H "x-nowpayments-sig: $signature" --data-binary @events/sample-ipn.json; echo
for _ in $(seq 1 60); do
  docker logs "$name" 2>&1 | grep -q '\[fake Telegram\] message to user' && break
  sleep 0.5
done
invites="$(docker logs "$name" 2>&1 | grep -c '\[fake Telegram\] message to user' || true)"
user="$(docker inspect -f '{{.Config.User}}' "$name")"
echo "docker-smoke: $invites invite(s) printed; container user: $user"
[ "$invites" = 1 ] && [ "$user" = nonroot ]
