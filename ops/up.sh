#!/usr/bin/env bash
# Bring the platform up locally: make sure PostgreSQL, Redis and NATS are
# running, then run `agentos serve` (migrations, JetStream stream, command API on
# 127.0.0.1:8000 and query API on 127.0.0.1:8001). Extra arguments go to `serve`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash ops/services.sh

exec cargo run --release -p cli --bin agentos -- serve "$@"
