#!/bin/sh
# Set up a fresh Debian 12 machine for capsa: system packages, a virtualenv on
# Debian's python3, capsa installed into it. Idempotent; run as root.
set -eu
cd "$(dirname "$0")/.."

APT_PACKAGES="python3 python3-venv python3-dev busybox-static runc crun podman skopeo \
iproute2 nftables procps gcc linux-libc-dev linux-libc-dev-arm64-cross linux-libc-dev-armhf-cross \
docker-registry apache2-utils openssl wrk tini \
libc6-dev strace umoci buildah"

missing=""
for pkg in $APT_PACKAGES; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
    echo "setup: installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing >/dev/null
fi

# Debian's python3 starts in ~10 ms; a container runtime is started for every container.
PYTHON=/usr/bin/python3
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
.venv/bin/pip install -q --disable-pip-version-check -e ".[dev]" --config-settings editable_mode=compat
# capsa-runtime starts for every container: replace pip's console script with one that
# skips Python's `site` and loads the runtime from one code pack (see
# src/capsa/runtime/launcher.py and codepack.py).
.venv/bin/python -m capsa.runtime.launcher .venv/bin/capsa-runtime
# The same for `capsa` itself (capsa run's path from a pack of its own).
.venv/bin/python -m capsa.cli.launcher .venv/bin/capsa
echo "setup: capsa installed in $(pwd)/.venv (commands: .venv/bin/capsa, .venv/bin/capsa-runtime)"
# Byte-compile now: with PYTHONDONTWRITEBYTECODE set, every start would compile again.
.venv/bin/python -m compileall -q src >/dev/null
