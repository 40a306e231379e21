#!/bin/sh
# Make sure headless Chromium is present for the browser tests (the page, the report).
# Idempotent and quiet: does nothing when /usr/bin/chromium exists; otherwise installs
# Debian's package with apt-get (needs root, or sudo without a password). Fails loudly
# when it cannot: set GRAMSTYLE_SKIP_BROWSER=1 to run the suite without those tests.
set -u
CHROMIUM=/usr/bin/chromium
[ -x "$CHROMIUM" ] && exit 0
if [ "${GRAMSTYLE_SKIP_BROWSER:-}" = "1" ]; then
    echo "ensure_chromium: GRAMSTYLE_SKIP_BROWSER=1: the browser tests will be skipped" >&2
    exit 0
fi
fail() {
    echo "ensure_chromium: $1; install Debian's chromium, or set GRAMSTYLE_SKIP_BROWSER=1" >&2
    exit 1
}
command -v apt-get >/dev/null 2>&1 || fail "no apt-get here"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        fail "not root and no password-less sudo"
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null 2>&1 \
    && $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
    || fail "apt-get could not install chromium"
