#!/usr/bin/env bash
# Split-and-send, the classic way to feed a watched directory: split FILE into chunks of
# LINES lines in a staging directory beside DIR, then move one chunk every SECONDS seconds into
# DIR. Each move is a rename within one file system (atomic: a reader never sees half a
# chunk), and each chunk's modification time is set to the moment it is moved, because a file
# stream only takes files that appear after it started.
#
# usage: data/split_and_send.sh FILE DIR [LINES=1000] [SECONDS=1]
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 FILE DIR [LINES=1000] [SECONDS=1]" >&2
  exit 2
fi
file=$1
dir=$2
lines=${3:-1000}
seconds=${4:-1}
[ -f "$file" ] || { echo "$0: no such file: $file" >&2; exit 2; }
mkdir -p "$dir"
staging=$(mktemp -d "$(dirname "$(realpath "$dir")")/.staging.XXXXXX")
trap 'rm -rf "$staging"' EXIT
split -l "$lines" -d -a 5 "$file" "$staging/orders-"
sent=0
for chunk in "$staging"/orders-*; do
  [ -e "$chunk" ] || continue
  if [ "$sent" -gt 0 ]; then sleep "$seconds"; fi
  touch "$chunk"
  mv "$chunk" "$dir/$(basename "$chunk").txt"
  sent=$((sent + 1))
done
echo "sent $sent chunks of up to $lines lines into $dir" >&2
