#!/usr/bin/env bash
# Makes sure the servers the integration tests need are up: PostgreSQL on
# 127.0.0.1:5432 (database "test") and Redis on 127.0.0.1:6379. Starts them with the
# machine's own commands when they are installed but stopped; fails loudly otherwise.
set -euo pipefail

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }

if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "services: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    for _ in $(seq 50); do pg_up && break; sleep 0.2; done
  fi
fi
pg_up || { echo "services: PostgreSQL is not reachable on 127.0.0.1:5432 (install postgresql, or set TEST_DATABASE_URL)" >&2; exit 1; }
if [ -z "${TEST_DATABASE_URL:-}" ]; then
  psql -h 127.0.0.1 -U postgres -d test -Atc 'select 1' >/dev/null 2>&1 \
    || psql -h 127.0.0.1 -U postgres -d postgres -c 'create database test' >/dev/null
fi

if ! redis_up; then
  if command -v redis-server >/dev/null; then
    echo "services: starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no >/dev/null
    for _ in $(seq 50); do redis_up && break; sleep 0.2; done
  fi
fi
redis_up || { echo "services: Redis is not reachable on 127.0.0.1:6379 (apt-get install redis-server, or set TEST_REDIS_URL)" >&2; exit 1; }
echo "services: PostgreSQL and Redis are up"
