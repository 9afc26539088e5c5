#!/usr/bin/env bash
# Starts the issuer (:8080, metrics on 127.0.0.1:9090) and the verifier (:8081) on the
# embedded defaults: a SQLite file and a generated ES256 key under ./data, no
# PostgreSQL, no Redis. On the first start it creates a demo user; its password is kept
# in data/demo-password (mode 0600) and shown at every start. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

# A busy port stops everything with one line, before anything starts.
for port in 8080 8081 9090; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "make run: port $port is already in use (another make run? find it with: ss -ltnp 'sport = :$port')" >&2
    exit 1
  fi
done

mkdir -p bin data
go build -o bin/ ./cmd/issuer ./cmd/verifier

if [ ! -f data/vexen.db ]; then
  bin/issuer migrate >/dev/null
  pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  printf '%s\n' "$pw" | bin/issuer user add --email demo@example.com --role admin --password-stdin
  (umask 077 && printf '%s\n' "$pw" > data/demo-password)
fi
if [ -f data/demo-password ]; then
  pw=$(cat data/demo-password)
  echo "demo user: demo@example.com  password: $pw   (kept in data/demo-password; delete ./data to start over)"
else
  pw='PASSWORD'
  echo "demo user: demo@example.com (its password was shown at the first start; delete ./data to start over)"
fi

issuer='' verifier=''
stop() { kill $issuer $verifier 2>/dev/null || true; wait 2>/dev/null || true; }
trap 'stop; exit 0' INT TERM
trap stop EXIT
bin/issuer serve & issuer=$!
for _ in $(seq 100); do curl -fsS -o /dev/null http://127.0.0.1:8080/healthz 2>/dev/null && break; sleep 0.1; done
# strict: every decision waits for a read of the local SQLite revocation log that
# started after the request arrived (~20 µs, shared by concurrent requests), so a
# request sent after a logout's 204 is refused, every time. Production verifiers with
# Redis use push (the default): a revocation is seen within --max-staleness (1s).
bin/verifier --revocation strict --shutdown-delay 0s & verifier=$!
cat <<MSG

issuer   http://localhost:8080   (login page: http://localhost:8080/login; metrics: http://127.0.0.1:9090/metrics)
verifier http://localhost:8081/auth

  tok=\$(curl -s localhost:8080/v1/login -H 'Content-Type: application/json' -d '{"email":"demo@example.com","password":"$pw"}' | jq -r .access_token)
  curl -i localhost:8081/auth -H "Authorization: Bearer \$tok"

MSG
wait
