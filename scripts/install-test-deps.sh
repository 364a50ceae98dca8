#!/usr/bin/env bash
# Install the outside programs some tests drive, from Debian's packages, in three groups:
#   browser     chromium + chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver), for the
#               tests that open reports in headless Chromium (tests/browser.py);
#   prometheus  prometheus (/usr/bin/prometheus, /usr/bin/promtool), for the tests that run a
#               real Prometheus server (tests/prometheus_server.py);
#   victoria-metrics  victoria-metrics (/usr/bin/victoria-metrics), for the tests that run
#               `capsim live prometheus` against a real VictoriaMetrics single-node server
#               (tests/victoria_metrics_server.py).
# A group is installed only when one of its programs is missing, and independently of the others.
# Idempotent and never fatal: when a group cannot be installed (no apt-get, not root and no
# passwordless sudo, offline), the script says so in one line, goes on with the other groups and
# exits 0, and that group's tests skip.
# The prometheus and victoria-metrics packages' postinst start their system services (ports 9090
# and 8428) through invoke-rc.d, and fail the install if that fails. Where the machine has no
# /usr/sbin/policy-rc.d, one that denies every start (exit 101, see invoke-rc.d(8)) is put in
# place for the install and removed after it. The tests never use that service: each starts its own server on a free port.
set -euo pipefail

POLICY_RC_D=/usr/sbin/policy-rc.d
APT_STATE=unknown # unknown, ready, or the reason apt-get cannot be used
APT=()
SUDO=()
POLICY_RC_D_OURS=""

note() {
    echo "install-test-deps: $*" >&2
}

all_executable() {
    local path
    for path in "$@"; do
        [[ -x "$path" ]] || return 1
    done
}

# Decide once how apt-get runs (and refresh its lists once); leaves the reason in APT_STATE
# when it cannot.
prepare_apt() {
    [[ "$APT_STATE" == unknown ]] || return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        APT_STATE="apt-get not found"
        return 0
    fi
    if [[ "$(id -u)" -eq 0 ]]; then
        SUDO=()
    elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
        SUDO=(sudo -n)
    else
        APT_STATE="not root and no passwordless sudo"
        return 0
    fi
    export DEBIAN_FRONTEND=noninteractive
    APT=("${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=120)
    # A failed update is tolerated: the installs below may still work from the cached lists.
    "${APT[@]}" update -qq >/dev/null 2>&1 || true
    APT_STATE=ready
}

deny_service_starts() {
    [[ -e "$POLICY_RC_D" ]] && return 0
    if printf '#!/bin/sh\n# install-test-deps.sh: no service starts during its install\nexit 101\n' |
        "${SUDO[@]}" tee "$POLICY_RC_D" >/dev/null 2>&1 &&
        "${SUDO[@]}" chmod 755 "$POLICY_RC_D"; then
        POLICY_RC_D_OURS=yes
    fi
    return 0
}

allow_service_starts() {
    if [[ -n "$POLICY_RC_D_OURS" ]]; then
        "${SUDO[@]}" rm -f "$POLICY_RC_D" || true
        POLICY_RC_D_OURS=""
    fi
    return 0
}
trap allow_service_starts EXIT

# install_group NAME "PROGRAM..." [--no-service-start] PACKAGE...
# Never fails: a group that cannot be installed is reported in one line.
install_group() {
    local name=$1 deny=""
    local -a programs
    read -r -a programs <<<"$2"
    shift 2
    if [[ "${1:-}" == --no-service-start ]]; then
        deny=yes
        shift
    fi
    local -a packages=("$@")
    all_executable "${programs[@]}" && return 0

    prepare_apt
    if [[ "$APT_STATE" != ready ]]; then
        note "$name tests will be skipped: $APT_STATE, cannot install ${packages[*]}"
        return 0
    fi
    note "installing ${packages[*]} with apt-get"
    [[ -n "$deny" ]] && deny_service_starts
    local out status=0
    out=$("${APT[@]}" install -y -qq --no-install-recommends "${packages[@]}" 2>&1) || status=$?
    allow_service_starts
    if [[ "$status" -ne 0 ]]; then
        note "$name tests will be skipped: apt-get install ${packages[*]} failed (offline?):" \
            "$(tail -n 1 <<<"$out")"
        return 0
    fi
    if ! all_executable "${programs[@]}"; then
        note "$name tests will be skipped: apt-get installed ${packages[*]} but one of" \
            "${programs[*]} is missing"
    fi
    return 0
}

install_group browser "/usr/bin/chromium /usr/bin/chromedriver" chromium chromium-driver
install_group prometheus "/usr/bin/prometheus /usr/bin/promtool" --no-service-start prometheus
install_group victoria-metrics /usr/bin/victoria-metrics --no-service-start victoria-metrics
exit 0
