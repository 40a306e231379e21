#!/bin/sh
# Make sure headless Chromium is present for the report test (tests/test_explain.py).
# Idempotent and quiet: does nothing when /usr/bin/chromium exists; otherwise installs
# the Debian package with apt-get (needs root, or sudo without a password). Never fails
# the build: if it cannot install, the browser test skips with a reason.
set -u
CHROMIUM=/usr/bin/chromium
[ -x "$CHROMIUM" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: no apt-get here; the browser test will be skipped" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "ensure_chromium: not root; install chromium yourself or the browser test skips" >&2
        exit 0
    fi
fi
export DEBIAN_FRONTEND=noninteractive
if $SUDO apt-get update -qq >/dev/null 2>&1 \
    && $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; then
    exit 0
fi
echo "ensure_chromium: apt-get could not install chromium; the browser test will be skipped" >&2
exit 0
