#!/bin/sh
# The main job, for now: give the image store a busybox base image, make an OCI bundle
# from Debian's static busybox and run a container from it with capsa-runtime.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
BUNDLE=$(mktemp -d /tmp/capsa-demo.XXXXXX)
trap 'rm -rf "$BUNDLE"' EXIT
.venv/bin/python -m capsa.runtime.busybox_bundle "$BUNDLE" -- /bin/sh -c \
    'echo "hello from a capsa container: $(hostname), pid $$, $(id)"; cat /proc/self/status | grep -E "^(CapEff|NoNewPrivs|Seccomp):"'
echo "demo: the image store gets a base image made from Debian's static busybox (no registry)"
.venv/bin/capsa image default
.venv/bin/capsa images
echo "demo: running a busybox container through capsa-runtime (bundle $BUNDLE)"
.venv/bin/capsa-runtime run --bundle "$BUNDLE" "capsa-demo-$$"
