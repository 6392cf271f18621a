#!/usr/bin/env bash
# Installs what the officer console's browser tests (integration/console.rs)
# need: Debian's chromium and chromium-driver, from the distribution's own
# packages (no browser download). Does nothing when both are there. Run as
# root (CI does, from .ci/run).
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "setup-browser: chromium or chromedriver is missing; run this script as root (it runs apt-get install chromium chromium-driver)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium chromium-driver
/usr/bin/chromium --version
/usr/bin/chromedriver --version
