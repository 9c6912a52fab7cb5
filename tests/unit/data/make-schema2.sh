#!/bin/bash
# Make schema2-2026.db, the database of schema version 2 that test_store
# migrates, with the kaohed and kaohectl of a version that wrote schema 2
# (0.1.0, before plan years; commit 79602a1 built them):
#
#   make-schema2.sh OLD_KAOHED OLD_KAOHECTL
#
# It runs schema2.conf's plan of 2026 in December 2026, which caught up
# the year's deadlines and took the 2026-Q1 to Q3 snapshots on its first
# start, then records a late submission, a void of an automatic deduction
# (a waiver), a move, a finding; the outbox holds the reminders and the
# admins' notices to a mail server that is not there.
set -euo pipefail
here=$(dirname "$(realpath "$0")")
kaohed=$(realpath "$1")
kaohectl=$(realpath "$2")
tmp=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
"$kaohed" -c "$here/schema2.conf" -f --state-dir "$tmp" --socket "$tmp/ctl.sock" \
	--export-dir "" 2>"$tmp/log" &
pid=$!
for _ in $(seq 100); do [ -S "$tmp/ctl.sock" ] && break; sleep 0.1; done
ctl() { "$kaohectl" -s "$tmp/ctl.sock" --json "$@" >/dev/null; }
ctl submit ua 2@2026-06-10 --at 2026-06-12T10:00:00+08:00 --note "迟交"
late=$(sqlite3 "$tmp/kaohe.db" "SELECT e.id FROM entries e JOIN units u ON u.ref = e.unit_ref
	WHERE u.id = 'ub' AND e.row_id = '1' AND e.type = 3 AND e.voided_at IS NULL")
ctl void "$late" --reason "申诉成立"
ctl move 2@2026-12-10 2026-12-20 --reason "延期"
ctl record ua 3 f1 2 --note "检查发现"
kill "$pid"
wait "$pid" || true
test "$(sqlite3 "$tmp/kaohe.db" "PRAGMA user_version")" = 2
cp "$tmp/kaohe.db" "$here/schema2-2026.db"
