#!/usr/bin/env bash
# What `make test` needs beyond Python: the Pub/Sub emulator (gcloud + Java) for the delivery
# tests, Node.js and npm for the commercetools type oracle (tests/oracle/; `make test` runs
# npm ci itself), and Debian's chromium for the store-associate page's browser test. Installs chromium
# where it can (root with apt-get, as on CI); otherwise says exactly what is missing.
set -euo pipefail

missing=0
if ! command -v gcloud >/dev/null 2>&1 || ! command -v java >/dev/null 2>&1; then
  echo "make test needs the Google Pub/Sub emulator: install the Google Cloud CLI with" >&2
  echo "  gcloud components install pubsub-emulator   (and a Java runtime)" >&2
  missing=1
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "make test needs Node.js and npm for the commercetools type oracle: apt-get install nodejs npm" >&2
  missing=1
fi
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian's chromium for the browser test ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium >/dev/null
  else
    echo "make test needs Debian's chromium at /usr/bin/chromium: sudo apt-get install chromium" >&2
    missing=1
  fi
fi
exit "$missing"
