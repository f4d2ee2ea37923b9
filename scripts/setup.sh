#!/usr/bin/env bash
# Set up this checkout for development and for `walkout bench`:
#   1. system packages the tests use as independent peers (see APT_PACKAGES), via apt;
#   2. .venv made with python3 (>= 3.11);
#   3. the exact pins of requirements/dev.txt and the project itself (editable) in .venv.
# Idempotent: step 3 is skipped while the stamp in .venv matches a hash of the
# requirements files, pyproject.toml and the top-level packages present.
# Environment: PYTHON (interpreter to build .venv with, default python3).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
STAMP="$VENV/.walkout-setup.sha256"
PYTHON="${PYTHON:-python3}"
# Independent peers the tests talk to: socat (virtual RS-485), mbpoll (Modbus master),
# net-snmp tools (snmptrap, snmpget), NUT (snmp-ups driver, upsd, upsc), Mosquitto,
# VictoriaMetrics (speaks the InfluxDB v2 write API).
APT_PACKAGES=(socat mbpoll snmp snmptrapd nut-server nut-snmp nut-client mosquitto mosquitto-clients
    victoria-metrics)
# The top-level packages of the layout in DESIGN.md; an editable install maps the ones that
# exist when it runs, so a package that appears later must trigger a reinstall.
TOP_PACKAGES=(walkout devices vision_core facility dashboards sim_devices)

log() { printf '[setup] %s\n' "$*"; }
die() {
    printf '[setup] ERROR: %s\n' "$*" >&2
    exit 1
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "not root and no sudo: cannot run '$*'; run it as root, then run this script again"
    fi
}

APT_UPDATED=0
# apt_install PKG...: install the Debian packages that are not installed yet.
apt_install() {
    local missing=() pkg
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$pkg")
        fi
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 ||
        die "system packages missing (${missing[*]}) and no apt-get here: install them by hand"
    if [ "$APT_UPDATED" -eq 0 ]; then
        log "apt-get update"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
        APT_UPDATED=1
    fi
    log "apt-get install ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}"
}

python_ok() { # python_ok EXE: true if EXE runs and is Python >= 3.11
    "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1
}

# --- 1. system packages ---------------------------------------------------------------
apt_install "${APT_PACKAGES[@]}"
log "system packages present: ${APT_PACKAGES[*]}"

# --- 1b. real pedestrian video for camera and tracking tests ------------------------------
# Debian's opencv-doc carries vtest.avi (768x576, 795 frames). It is data, not code: it
# is fetched here, never committed. A failure only skips the tests that need it.
VTEST="$ROOT/data/vtest.avi"
if [ -s "$VTEST" ]; then
    log "data/vtest.avi present"
elif command -v apt-get >/dev/null 2>&1; then
    log "fetching vtest.avi from Debian's opencv-doc"
    tmp="$(mktemp -d)"
    if (cd "$tmp" && apt-get download -q opencv-doc >/dev/null 2>&1 &&
        dpkg-deb --fsys-tarfile opencv-doc_*.deb |
        tar -x --wildcards './usr/share/doc/opencv-doc/examples/data/vtest.avi'); then
        mkdir -p "$ROOT/data"
        mv "$tmp/usr/share/doc/opencv-doc/examples/data/vtest.avi" "$VTEST"
        log "data/vtest.avi ready"
    else
        log "WARNING: could not fetch opencv-doc; tests that need vtest.avi will be skipped"
    fi
    rm -rf "$tmp"
fi

# --- 2. virtual environment -----------------------------------------------------------
if [ -x "$VENV/bin/python" ] && python_ok "$VENV/bin/python" &&
    "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    log ".venv present ($("$VENV/bin/python" -V 2>&1))"
else
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        if [ "$PYTHON" = python3 ] && command -v apt-get >/dev/null 2>&1; then
            log "no python3 on PATH: installing Debian's"
            apt_install python3 python3-venv
        fi
        command -v "$PYTHON" >/dev/null 2>&1 || die "'$PYTHON' not found: install Python >= 3.11"
    fi
    python_ok "$PYTHON" ||
        die "$(command -v "$PYTHON") is $("$PYTHON" -V 2>&1); walkout needs Python >= 3.11 (set PYTHON=/path/to/python3.11)"
    if [ -e "$VENV" ]; then
        log "removing unusable .venv"
        rm -rf "$VENV"
    fi
    log "creating .venv with $(command -v "$PYTHON") ($("$PYTHON" -V 2>&1))"
    if ! "$PYTHON" -m venv "$VENV"; then
        # Debian splits venv/ensurepip out of python3 into python3-venv.
        rm -rf "$VENV"
        command -v apt-get >/dev/null 2>&1 || die "'$PYTHON -m venv' failed (see above)"
        log "'$PYTHON -m venv' failed: installing python3-venv and trying again"
        apt_install python3-venv
        "$PYTHON" -m venv "$VENV" || {
            rm -rf "$VENV"
            die "'$PYTHON -m venv' still fails (see above)"
        }
    fi
fi

# --- 3. Python packages ---------------------------------------------------------------
stamp_input() {
    "$VENV/bin/python" -V 2>&1
    sha256sum requirements/*.txt pyproject.toml
    local pkg
    for pkg in "${TOP_PACKAGES[@]}"; do
        [ -f "$pkg/__init__.py" ] && echo "package $pkg"
    done
    return 0
}
want="$(stamp_input | sha256sum | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    log "Python packages up to date (stamp matches): nothing to do"
    exit 0
fi

rm -f "$STAMP"
log "installing requirements/dev.txt into .venv"
"$VENV/bin/python" -m pip install --disable-pip-version-check -q -r requirements/dev.txt
log "installing requirements/nodeps.txt (--no-deps: see its header)"
"$VENV/bin/python" -m pip install --disable-pip-version-check -q --no-deps -r requirements/nodeps.txt
log "installing walkout (editable, --no-deps)"
"$VENV/bin/python" -m pip install --disable-pip-version-check -q --no-deps -e .
echo "$want" >"$STAMP"
log "done: .venv ready ($("$VENV/bin/python" -V 2>&1))"
