#!/usr/bin/env bash
# System packages the test suite needs: headless Chromium for the report screenshot check, and
# Prometheus (promtool + prometheus, Debian package 'prometheus') for the monitoring tests,
# curl for the replay tests (they run the printed replay commands).
# PostgreSQL 15 binaries come with the machine image. Idempotent; quiet when all is present.
# A failed install is reported loudly but does not stop the test run: the checks that need
# the package then skip with their reason in the test report, and every other test still runs.
set -uo pipefail
need_chromium=0
need_prometheus=0
need_curl=0
command -v curl >/dev/null 2>&1 || need_curl=1
command -v chromium >/dev/null 2>&1 || need_chromium=1
{ command -v promtool && command -v prometheus; } >/dev/null 2>&1 || need_prometheus=1
[ "$need_chromium$need_prometheus$need_curl" = "000" ] && exit 0
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  [ "$need_chromium" = 1 ] && echo "WARNING: chromium is missing and cannot be installed here" \
    "(needs root and apt-get); the report's browser check will skip" >&2
  [ "$need_prometheus" = 1 ] && echo "WARNING: prometheus/promtool are missing and cannot be" \
    "installed here (needs root and apt-get); the monitoring tests will skip" >&2
  [ "$need_curl" = 1 ] && echo "WARNING: curl is missing and cannot be installed here" \
    "(needs root and apt-get); the replay tests that run the commands will skip" >&2
  exit 0
fi

install() {  # install <what the skip affects> <apt-get install arguments...>
  local affects=$1
  shift
  for attempt in 1 2; do
    echo "installing $* from the system packages (attempt $attempt)..."
    if timeout 600 apt-get update -qq >/dev/null \
       && DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq "$@" >/dev/null; then
      return 0
    fi
    sleep 5
  done
  echo "WARNING: installing $* failed twice; $affects will skip" >&2
}

[ "$need_chromium" = 1 ] && install "the report's browser check" chromium
[ "$need_curl" = 1 ] && install "the replay tests that run the commands" curl
if [ "$need_prometheus" = 1 ]; then
  # Installing 'prometheus' must not start the system's own Prometheus service (it would
  # listen on every interface): without a policy-rc.d in place, forbid service starts meanwhile.
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own_policy=1
  fi
  install "the monitoring tests" --no-install-recommends prometheus
  [ "$own_policy" = 1 ] && rm -f "$policy"
fi
exit 0
