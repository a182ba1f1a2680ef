#!/usr/bin/env bash
# The gateway with EdDSA identity headers (the default) against HS256 ones (VBAUTH_UPSTREAM_SECRET
# set): one server each, the in-process demo upstream, three wrk rounds of GET /v1.0/calls.
#     bench/gateway_signing.sh
set -euo pipefail
cd "$(dirname "$0")/.."
port=8765
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for mode in eddsa hs256; do
    data="$work/$mode"
    extra=()
    if [ "$mode" = hs256 ]; then
        extra=("VBAUTH_UPSTREAM_SECRET=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(48))')")
    fi
    env -i PATH="$PATH" HOME="$HOME" VBAUTH_DATA_DIR="$data" VBAUTH_COOKIE_SECURE=false "${extra[@]}" \
        .venv/bin/vbauth serve --port "$port" >"$work/$mode.log" 2>&1 &
    server=$!
    for _ in $(seq 100); do curl -sf "localhost:$port/ping" >/dev/null && break; sleep 0.2; done
    env -i PATH="$PATH" HOME="$HOME" VBAUTH_DATA_DIR="$data" \
        .venv/bin/vbauth customer create --email gw@example.com --admin-password 'gateway bench pw' >/dev/null
    token=$(curl -s "localhost:$port/auth/login" -d '{"username":"gw@example.com","password":"gateway bench pw"}' |
        .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)["token"])')
    for round in 1 2 3; do
        rate=$(wrk -t1 -c32 -d5s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1.0/calls" |
            awk '/Requests\/sec/ {print $2}')
        echo "$mode round $round: $rate requests/s"
    done
    kill "$server"
    wait "$server" 2>/dev/null || true
done
