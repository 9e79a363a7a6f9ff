#!/usr/bin/env bash
# Make sure Debian's headless browser for the report test is installed: chromium + chromium-driver
# (/usr/bin/chromium, /usr/bin/chromedriver). Installs them with apt-get when missing; never downloads
# a browser build of its own. Idempotent and quiet when both are present (Makefile-friendly).
set -euo pipefail

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "ensure-chromium: chromium/chromedriver are missing and this user cannot run apt-get;" >&2
    echo "  install them with: apt-get install -y chromium chromium-driver" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
APT=("${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 -y -q)
echo "ensure-chromium: installing chromium and chromium-driver with apt-get" >&2
if ! "${APT[@]}" install chromium chromium-driver >/dev/null; then
    "${APT[@]}" update >/dev/null
    "${APT[@]}" install chromium chromium-driver >/dev/null
fi
test -x /usr/bin/chromium && test -x /usr/bin/chromedriver
