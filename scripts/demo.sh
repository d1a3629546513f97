#!/bin/sh
# The main job: give the image store a busybox base image (made from Debian's static
# busybox: no registry), build an image from a Containerfile on it with `capsa build`,
# run containers with `capsa run`, and run an OCI bundle through capsa-runtime directly.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
CAPSA=.venv/bin/capsa
echo "demo: the image store gets a base image made from Debian's static busybox (no registry)"
$CAPSA image default
$CAPSA images
echo "demo: an image built from a Containerfile (RUN in a container, COPY, ENV, CMD)"
CONTEXT=$(mktemp -d /tmp/capsa-demo-build.XXXXXX)
cat > "$CONTEXT/Containerfile" <<'EOF'
FROM localhost/busybox
RUN mkdir -p /srv && echo "built by capsa build on $(uname -m)" > /srv/built.txt
COPY greeting.txt /srv/
ENV WHO=world
CMD ["sh", "-c", "cat /srv/built.txt; echo \"$(cat /srv/greeting.txt), $WHO\""]
EOF
echo hello > "$CONTEXT/greeting.txt"
$CAPSA build -t capsa-demo "$CONTEXT"
rm -rf "$CONTEXT"
echo "demo: a container from the built image"
$CAPSA run --rm capsa-demo
echo "demo: a container from the base image, on the default bridge network"
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
