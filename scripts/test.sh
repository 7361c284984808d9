#!/usr/bin/env bash
# The whole test suite, on any machine of the project's kind: makes sure the Kafka-protocol
# broker the Kafka tests need is installed (nisshi, from the Rust package registry; see
# ../shared/KAFKA.md) and Debian's Chromium and chromedriver for the UI's browser test,
# and an S3-compatible server (moto, from the Python package registry, in a virtual
# environment under target/) for the object-store checkpoint tests; starts both on
# 127.0.0.1, runs every test, and stops them.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  echo "== installing Debian's chromium and chromium-driver (the UI's browser test)"
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q \
    chromium chromium-driver
fi

NISSHI_VERSION=0.8.1
if ! nisshi --version 2>/dev/null | grep -q "nisshi $NISSHI_VERSION"; then
  echo "== installing nisshi $NISSHI_VERSION (a Kafka-compatible broker; a few minutes, once)"
  CARGO_PROFILE_DEV_DEBUG=0 cargo install nisshi --version "$NISSHI_VERSION" --locked \
    --ignore-rust-version --debug --no-default-features --features dynostore
fi

MOTO_VERSION=5.2.1
venv=target/s3-server
if ! "$venv/bin/pip" show moto 2>/dev/null | grep -qx "Version: $MOTO_VERSION"; then
  echo "== installing moto $MOTO_VERSION (an S3-compatible server) into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "moto[server]==$MOTO_VERSION"
fi

port=${EMBERFLOW_KAFKA_PORT:-19092}
broker_dir=$(mktemp -d)
(
  cd "$broker_dir"
  exec nisshi broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine memory://nisshi/ --group-initial-rebalance-delay 0s > broker.log 2>&1
) &
broker=$!
s3_port=${EMBERFLOW_S3_PORT:-19100}
"$venv/bin/moto_server" -H 127.0.0.1 -p "$s3_port" > "$broker_dir/s3.log" 2>&1 &
s3=$!
cleanup() {
  kill "$broker" "$s3" 2>/dev/null || true
  wait "$broker" "$s3" 2>/dev/null || true
  rm -rf "$broker_dir"
}
trap cleanup EXIT
for _ in $(seq 1 300); do
  if (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  sleep 0.1
done
if ! (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "the broker did not open 127.0.0.1:$port; its log:" >&2
  cat "$broker_dir/broker.log" >&2
  exit 1
fi
export EMBERFLOW_KAFKA_BROKER="127.0.0.1:$port"
echo "== broker up at $EMBERFLOW_KAFKA_BROKER"
# The test bucket, made with Python's own HTTP client (curl may not be on the machine).
s3_request() {
  python3 -c 'import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[2], method=sys.argv[1]), timeout=2)' "$@" \
    >/dev/null 2>&1
}
for _ in $(seq 1 300); do
  if s3_request PUT "http://127.0.0.1:$s3_port/emberflow-test"; then break; fi
  sleep 0.1
done
if ! s3_request GET "http://127.0.0.1:$s3_port/emberflow-test"; then
  echo "the S3-compatible server did not serve 127.0.0.1:$s3_port; its log:" >&2
  cat "$broker_dir/s3.log" >&2
  exit 1
fi
export EMBERFLOW_S3_ENDPOINT="http://127.0.0.1:$s3_port"
echo "== S3-compatible server up at $EMBERFLOW_S3_ENDPOINT (bucket emberflow-test)"

cargo test --workspace --all-features "$@"
