#!/usr/bin/env bash
# System packages the test suite needs: headless Chromium for the report screenshot check.
# PostgreSQL 15 binaries come with the machine image. Idempotent; quiet when all is present.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium from the system packages..."
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is missing and cannot be installed here (not root); the browser check will skip" >&2
  fi
fi
