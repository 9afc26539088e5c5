#!/usr/bin/env bash
# Install the system packages vexen-auth's tests need, from Debian's repositories:
#   nginx          the real nginx (auth_request) the e2e tests run nginx/nginx.conf in
#   redis-server   throwaway Redis servers for tests (internal/testenv.StartRedis)
#   wrk            HTTP load generator for the benchmarks
#   chromium       headless browser for the sign-in end-to-end test (issue 6)
# Caddy and Traefik are compiled from the Go module proxy by build-caddy.sh and
# build-traefik.sh (Debian's caddy 2.6.2 has a forward_auth header bug; Traefik
# is not packaged).
#
#   scripts/install-deps.sh
#
# Idempotent: checks what is already installed first and runs `apt-get update`
# and `apt-get install` only when something is missing. Nothing prebuilt is
# downloaded from outside Debian's repositories. Must run as root (or with sudo
# available) when something is missing.
set -euo pipefail

missing=()

# nginx must have the auth_request module (Debian's nginx has it built in).
if ! nginx_bin=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null); then
	missing+=(nginx)
elif ! "$nginx_bin" -V 2>&1 | grep -q -- '--with-http_auth_request_module'; then
	echo "install-deps: $nginx_bin lacks the auth_request module; installing Debian's nginx" >&2
	missing+=(nginx)
fi
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)

if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: nothing to install (nginx, redis-server, wrk, chromium present)"
	exit 0
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
fi

start=$(date +%s)
echo "install-deps: installing ${missing[*]}"

# Packages such as nginx start their service on install (and nginx would take port
# 80). Tests start their own processes, so forbid service starts during this install
# when the machine has no policy of its own; the temporary policy is removed again.
policy=/usr/sbin/policy-rc.d
made_policy=
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\n# temporary, from vexen-auth scripts/install-deps.sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
	$SUDO chmod 755 "$policy"
	made_policy=1
fi
cleanup() { if [ -n "$made_policy" ]; then $SUDO rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

echo "install-deps: installed ${missing[*]} in $(($(date +%s) - start))s"
