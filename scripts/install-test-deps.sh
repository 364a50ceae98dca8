#!/usr/bin/env bash
# Install what the browser tests need: Debian's chromium and chromium-driver.
# Idempotent and never fatal: when the browser cannot be installed (no apt-get, not root and no
# passwordless sudo, offline), it says so in one line and exits 0, and the browser tests skip.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
CHROMEDRIVER=/usr/bin/chromedriver
PACKAGES=(chromium chromium-driver)

if [[ -x "$CHROMIUM" && -x "$CHROMEDRIVER" ]]; then
    exit 0
fi

skip() {
    echo "install-test-deps: browser tests will be skipped: $*" >&2
    exit 0
}

if ! command -v apt-get >/dev/null 2>&1; then
    skip "apt-get not found, cannot install ${PACKAGES[*]}"
fi

if [[ "$(id -u)" -eq 0 ]]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
    SUDO=(sudo -n)
else
    skip "not root and no passwordless sudo, cannot install ${PACKAGES[*]}"
fi

echo "install-test-deps: installing ${PACKAGES[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
APT=("${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=120)
# A failed update is tolerated: the install below may still work from the cached lists.
"${APT[@]}" update -qq >/dev/null 2>&1 || true
if ! out=$("${APT[@]}" install -y -qq --no-install-recommends "${PACKAGES[@]}" 2>&1); then
    skip "apt-get install ${PACKAGES[*]} failed (offline?): $(tail -n 1 <<<"$out")"
fi

if [[ ! -x "$CHROMIUM" || ! -x "$CHROMEDRIVER" ]]; then
    skip "apt-get installed ${PACKAGES[*]} but $CHROMIUM or $CHROMEDRIVER is missing"
fi
