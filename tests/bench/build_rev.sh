#!/bin/bash
# Build kaohed and kaohectl (Release) of revision REV of this repository
# in DIR, for a benchmark's baseline beside the working tree:
#
#   tests/bench/build_rev.sh REV DIR      # then DIR/build holds them
#
# The sources come from `git archive`, so neither the working tree nor
# the repository's worktrees change.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 REV DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
rev=$1 dir=$2
mkdir -p "$dir/src"
# The whole repository's tree, not only this directory's.
top=$(git -C "$here" rev-parse --show-toplevel)
git -C "$top" archive "$rev" | tar -x -C "$dir/src"
cmake -S "$dir/src" -B "$dir/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$dir/build" -j"$(nproc)" --target kaohed kaohectl >/dev/null
echo "$dir/build"
