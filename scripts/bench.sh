#!/usr/bin/env bash
# Builds in release, runs the figure programs and prints one table: emberflow against its
# hand-written limit on the same data in the same run (ratios), and peak RSS of the whole
# order_dashboard program from /usr/bin/time -v. Figures and their reading: BENCHMARKS.md.
#
#   bash scripts/bench.sh            # 2M and 10M generated orders (about 2 minutes)
#   ORDERS=500000 bash scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."

ORDERS=${ORDERS:-2000000}
BIG=${BIG:-$((ORDERS * 5))}
examples=(order_dashboard gen_orders dashboard_figures rdd_figures streaming_figures state_figures
    recovery_figures event_time_figures)
cargo build -q --release $(printf -- '--example %s ' "${examples[@]}")
bin=target/release/examples

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rows=()
row() { rows+=("$(printf '| %s | %s |' "$1" "$2")"); }

# The whole program on a file of generated orders: throughput over the process's wall clock
# (start to exit, splitting the file included) and its peak RSS. Five runs each: the fastest
# wall clock, and the highest peak. The peak of one 2M run lands anywhere in 83-118 MiB
# (when mimalloc returns freed pages against when the next batch asks), and a short run can
# end before its memory reaches the level a long one holds; three runs were too few to
# compare the two sizes' peaks.
program() {
    local n=$1 file="$work/orders-$1.txt" best_wall="" max_rss=0
    "$bin/gen_orders" "$n" --seed 7 >"$file" 2>/dev/null
    for _ in 1 2 3 4 5; do
        /usr/bin/time -v "$bin/order_dashboard" --orders "$file" --batch-ms 20 \
            --chunk-lines 50000 --quiet --summary-json "$work/summary-$n.json" \
            >/dev/null 2>"$work/time-$n.txt"
        local wall rss
        wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time-$n.txt" |
            awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')
        rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time-$n.txt")
        if [ -z "$best_wall" ] || awk -v a="$wall" -v b="$best_wall" 'BEGIN { exit !(a < b) }'; then
            best_wall=$wall
        fi
        if [ "$rss" -gt "$max_rss" ]; then max_rss=$rss; fi
    done
    row "program, $n orders: orders/s (wall clock, start to exit; best of 5)" \
        "$(awk -v n="$n" -v w="$best_wall" 'BEGIN { printf "%.0f (%.2f s)", n / w, w }')"
    row "program, $n orders: peak RSS (highest of 5)" "$((max_rss / 1024)) MiB"
    echo "$max_rss" >"$work/rss-$n"
}
program "$ORDERS"
program "$BIG"
row "peak RSS, $BIG vs $ORDERS orders" \
    "$(awk -v a="$(cat "$work/rss-$BIG")" -v b="$(cat "$work/rss-$ORDERS")" 'BEGIN { printf "%.2fx", a / b }')"

# The pipeline against the hand-written single pass, in one process.
"$bin/dashboard_figures" "$ORDERS" 40 >"$work/dashboard.txt"
figure() { awk -v k="$1" '$1 == "figure" && $2 == k { print $3 }' "$2"; }
row "dashboard, queue input / hand-written pass" "$(figure queue_ratio "$work/dashboard.txt")x"
row "dashboard, file input one chunk per batch / hand-written pass" "$(figure file_ratio "$work/dashboard.txt")x"
row "dashboard, files already there (a burst) / hand-written pass over the files" \
    "$(figure burst_ratio "$work/dashboard.txt")x"
row "program start to first batch done, without the wait for its time" \
    "$(figure first_batch_ms "$work/dashboard.txt") ms"
"$bin/recovery_figures" >"$work/recovery.txt"
row "dashboard with / without metadata checkpoints only (10 batches of 20k orders)" \
    "$(figure metadata_checkpoint_ratio "$work/recovery.txt")x"
row "dashboard with / without metadata and state checkpoints (10 batches of 20k orders)" \
    "$(figure checkpoint_ratio "$work/recovery.txt")x"

# Kafka: the direct stream into the dashboard against the consume rate of the same broker in
# the same run, on a release build of the broker (built once under target/, ~10 minutes).
# SKIP_KAFKA=1 leaves it out.
if [ -z "${SKIP_KAFKA:-}" ]; then
    nisshi_root=target/nisshi-release
    if ! "$nisshi_root/bin/nisshi" --version 2>/dev/null | grep -q "nisshi 0.8.1"; then
        echo "== building a release nisshi broker into $nisshi_root (once)" >&2
        CARGO_TARGET_DIR=target/nisshi-build cargo install nisshi --version 0.8.1 --locked \
            --ignore-rust-version --no-default-features --features dynostore --root "$nisshi_root"
    fi
    cargo build -q --release --features kafka --example kafka_figures --example group_figures \
        --example order_dashboard
    port=19193
    (cd "$work" && exec "$OLDPWD/$nisshi_root/bin/nisshi" broker \
        --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
        --storage-engine memory://nisshi/ --group-initial-rebalance-delay 0s >broker.log 2>&1) &
    broker=$!
    for _ in $(seq 1 100); do
        (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    PATH="$PWD/$nisshi_root/bin:$PATH" "$bin/kafka_figures" "127.0.0.1:$port" "${KAFKA_ORDERS:-400000}" \
        >"$work/kafka.txt"
    # One job over 1, 2 and 3 member processes (a consumer group).
    PATH="$PWD/$nisshi_root/bin:$PATH" "$bin/group_figures" "127.0.0.1:$port" "${GROUP_ORDERS:-1000000}" \
        "$bin/order_dashboard" >"$work/group.txt" 2>/dev/null
    kill "$broker"
    wait "$broker" 2>/dev/null || true
    row "Kafka direct stream into the dashboard / the broker's consume rate (release broker)" \
        "$(figure kafka_ratio "$work/kafka.txt")x"
    for m in 1 2 3; do
        row "dashboard as $m member(s) of a consumer group, 1M orders, 6 partitions" \
            "$(awk -v m="$m" '$1 == "members" && $2 == m":" { print $3, $4, $5, "s, best of 3)" }' "$work/group.txt")"
    done
fi

# The engine's kernels and per-batch costs (each prints its own table too).
"$bin/rdd_figures" 100 2 >"$work/rdd.txt"
"$bin/streaming_figures" 2000 100000 >"$work/streaming.txt"
"$bin/state_figures" 10 >"$work/state.txt"
"$bin/event_time_figures" 2000000 20 >"$work/event_time.txt"

row "10-stage narrow chain / fused hand loop" \
    "$(awk '/^10-stage narrow chain/ { print $NF }' "$work/rdd.txt")"
row "word count (flat_map, a Vec per line) / fastest hand loop" \
    "$(awk '/^word count  / { print $NF; exit }' "$work/rdd.txt")"
row "word count (flat_map_emit) / fastest hand loop" \
    "$(awk '/^word count \(flat_map_emit\)/ { print $NF; exit }' "$work/rdd.txt")"
row "shuffle of 10M pairs / hand loop" "$(awk '/^shuffle/ { print $NF }' "$work/rdd.txt")"
row "per-batch overhead, empty batch, no-op output" \
    "$(awk -F: '/no-op output/ { gsub(/ /, "", $2); print $2 }' "$work/streaming.txt")"
row "map_with_state per batch, 5M keys / 100k keys" \
    "$(awk '$2 == "keys" && $1 == 100000 { a = $3 } $2 == "keys" && $1 == 5000000 { b = $3 }
        END { printf "%.2fx (%s / %s ms)", b / a, b, a }' "$work/state.txt")"

row "event-time windowed count per user (Update) / hand loop" \
    "$(awk '/^event-time windowed count/ { print $NF }' "$work/event_time.txt")"

echo
echo "| measure | figure |"
echo "|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "== rdd_figures";       cat "$work/rdd.txt"
echo "== streaming_figures"; cat "$work/streaming.txt"
echo "== state_figures";     cat "$work/state.txt"
echo "== event_time_figures"; cat "$work/event_time.txt"
echo "== recovery_figures";  cat "$work/recovery.txt"
echo "== dashboard_figures"; cat "$work/dashboard.txt"
if [ -f "$work/kafka.txt" ]; then echo "== kafka_figures"; cat "$work/kafka.txt"; fi
if [ -f "$work/group.txt" ]; then echo "== group_figures"; cat "$work/group.txt"; fi
