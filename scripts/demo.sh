#!/bin/sh
# The main job: give the image store a busybox base image (made from Debian's static
# busybox: no registry), run containers from it with `capsa run`, and run an OCI bundle
# through capsa-runtime directly.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
CAPSA=.venv/bin/capsa
echo "demo: the image store gets a base image made from Debian's static busybox (no registry)"
$CAPSA image default
$CAPSA images
echo "demo: a container from it, on the default bridge network"
$CAPSA run --rm busybox sh -c \
    'echo "hello from a capsa container: $(hostname), $(id)"; ip -o -4 addr show eth0; grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status'
echo "demo: two containers on a network of their own, one serving, one asking it by name"
NET="capsa-demo-$$"
$CAPSA network create "$NET" >/dev/null
trap '$CAPSA rm -f demo-web >/dev/null 2>&1 || true; $CAPSA network rm "$NET" >/dev/null 2>&1 || true' EXIT
$CAPSA run -d --name demo-web --network "$NET" busybox httpd -f -p 80 -h /etc >/dev/null
$CAPSA run --rm --network "$NET" busybox sh -c \
    'for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://demo-web/hostname && exit 0; sleep 0.2; done; exit 1'
echo "demo: an OCI bundle run by capsa-runtime, as runc would run it"
BUNDLE=$(mktemp -d /tmp/capsa-demo.XXXXXX)
trap 'rm -rf "$BUNDLE"; $CAPSA rm -f demo-web >/dev/null 2>&1 || true; $CAPSA network rm "$NET" >/dev/null 2>&1 || true' EXIT
.venv/bin/python -m capsa.runtime.busybox_bundle "$BUNDLE" -- /bin/sh -c 'echo "hello from capsa-runtime, pid $$"'
.venv/bin/capsa-runtime run --bundle "$BUNDLE" "capsa-demo-$$"
