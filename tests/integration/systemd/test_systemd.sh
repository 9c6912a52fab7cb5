#!/bin/bash
# test_systemd.sh -- kaohed under a real systemd 252 running as PID 1 of
# throwaway namespaces, with systemd/kaohed.service exactly as shipped.
#
#   test_systemd.sh KAOHED KAOHECTL CONFIG_DIR [SYSTEMD_DIR]
#
# KAOHED and KAOHECTL are the binaries to test (a build tree's, not an
# ASan build: LeakSanitizer cannot run inside the unit's sandbox and makes
# every exit a failure). CONFIG_DIR holds the shipped kaohe.conf and
# plan-2020.conf; SYSTEMD_DIR holds kaohed.service and kaohe.sysusers
# (default CONFIG_DIR/../systemd). Needs root, overlayfs and cgroup2, and
# only what Debian 12 installs anyway: systemd, util-linux (unshare,
# nsenter, setpriv, setsid, mountpoint, pivot_root), coreutils, findutils,
# awk. Takes about 22 s, 15 of them waiting for RestartSec=5s and the first
# watchdog ping (WatchdogSec=30s pings every 15 s).
#
# 1. unshare makes new mount, PID, cgroup, UTS, IPC and network namespaces.
#    In them the host's root file system is the lower layer of an overlay
#    whose upper layer is a tmpfs only the namespace sees: whatever is
#    written to /etc, /usr, /var goes there. /proc (with /proc/sys
#    read-only), /sys (read-only), /dev (a tmpfs with the usual nodes),
#    /run and /tmp are fresh. A new child of the caller's cgroup2 cgroup is
#    the namespace's cgroup root, for systemd to manage.
# 2. Into that root go kaohed (/usr/sbin/kaohed), kaohectl
#    (/usr/bin/kaohectl), the unit (/lib/systemd/system/kaohed.service), the
#    sysusers file (/usr/lib/sysusers.d/kaohe.conf, applied with
#    systemd-sysusers --root), /etc/kaohe/kaohe.conf and plan-2020.conf, and
#    a test user kaohetest-bayilu, member of kaohe-bayilu. The default target
#    is an empty one. Starting kaohed still pulls sysinit.target and
#    basic.target through its default dependencies, as on a real boot; the
#    units they want that would reach the shared kernel or run host jobs
#    (sysctl, modules, binfmt, udev, time sync, timers such as apt-daily)
#    are masked in the overlay's /etc. The unit file itself gets no drop-in.
# 3. The namespace's PID 1 pivots into the root and execs systemd, with
#    container=kaohe-test in its environment as a container manager would,
#    and without the capabilities that reach past namespaces (modules,
#    clock, raw I/O, kernel log). The manager logs at debug level, so every
#    sd_notify message it gets is in the journal.
# 4. Checks, through systemctl, the journal, /proc and the control socket:
#    start (Type=notify, READY=1, STATUS=), the process (user kaohe, no
#    capabilities, NoNewPrivs, seccomp), the directories and the socket, the
#    sandbox as the daemon's mount namespace shows it, access for root, a
#    kaohe-bayilu member and nobody, reload by systemctl and by kaohectl
#    (RELOADING=1 ... READY=1), stop (STOPPING=1, exit 0), kill -9 and
#    Restart=on-failure, the watchdog, the daemon's log.
# 5. Teardown, also on failure and on INT/TERM: SIGKILL to the namespace's
#    PID 1 ends every process of its PID namespace, and with the last of
#    them the mount namespace with its tmpfs and overlays. Then the cgroups
#    and the temporary directory are removed, and the host is checked
#    (mount table, /etc/passwd and friends, the installed paths, hostname).
#    A guard in its own session does the same if this script is killed
#    outright or runs past MAX_RUNTIME.
#
# Prints each check as ok/FAIL, "systemd: N passed, M failed" and the names
# of the failed checks. Exits 0 when every check passed, 1 when one failed,
# 2 on bad arguments, 77 when this machine cannot run it (not root, no
# systemd, no overlayfs or cgroup2).
#
# Not proven here: DevicePolicy=closed (the BPF device filter is set up by
# systemd, but nothing here tries to open a denied device), the seccomp
# filter's contents (only that one is installed), network behaviour (the
# namespace has no network), and boot ordering against a real
# multi-user.target (After=network.target time-sync.target).
set -u
export LC_ALL=C SYSTEMD_COLORS=0 SYSTEMD_PAGER=cat SYSTEMD_LESS='' SYSTEMD_URLIFY=0

TEST_TARGET=kaohe-test.target
SOCK=/run/kaohe/control.sock
MEMBER=kaohetest-bayilu # a member of kaohe-bayilu only
BOOT_TIMEOUT=20         # seconds for systemd to come up
START_TIMEOUT=30        # seconds for `systemctl start` (catch-up included)
MAX_RUNTIME=120         # the namespace is killed after this, whatever happens

# --- inside the namespaces: build the root and exec systemd ----------------
# Runs as PID 1 of the new PID namespace, in the new mount namespace, with
# private propagation (unshare's default), so no mount here reaches the host.
ns_init() {
	local T=$1
	set -e
	local N=$T/ns
	local R=$N/root
	mount -t tmpfs -o mode=0755 kaohe-test "$N"
	mkdir -p "$N/upper" "$N/work" "$R"
	mount -t overlay overlay -o "lowerdir=/,upperdir=$N/upper,workdir=$N/work" "$R"
	# Top-level directories that are separate file systems on this host get
	# overlays of their own; the overlay of / only covers the root file system.
	local d
	for d in usr etc var opt srv; do
		if mountpoint -q "/$d"; then
			mkdir -p "$N/upper-$d" "$N/work-$d"
			mount -t overlay overlay -o "lowerdir=/$d,upperdir=$N/upper-$d,workdir=$N/work-$d" "$R/$d"
		fi
	done

	# API file systems, as a container manager sets them up.
	mount -t proc -o nosuid,nodev,noexec proc "$R/proc"
	mount --bind "$R/proc/sys" "$R/proc/sys"
	mount -o remount,bind,ro,nosuid,nodev,noexec "$R/proc/sys"
	if [ -e "$R/proc/sysrq-trigger" ]; then
		mount --bind "$R/proc/sysrq-trigger" "$R/proc/sysrq-trigger"
		mount -o remount,bind,ro "$R/proc/sysrq-trigger"
	fi
	mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$R/sys"
	mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$R/sys/fs/cgroup"
	mount -t tmpfs -o mode=0755,nosuid,size=4m dev "$R/dev"
	mknod -m 666 "$R/dev/null" c 1 3
	mknod -m 666 "$R/dev/zero" c 1 5
	mknod -m 666 "$R/dev/full" c 1 7
	mknod -m 666 "$R/dev/random" c 1 8
	mknod -m 666 "$R/dev/urandom" c 1 9
	mknod -m 666 "$R/dev/tty" c 5 0
	mkdir -m 755 "$R/dev/pts" "$R/dev/shm" "$R/dev/mqueue"
	chmod 1777 "$R/dev/shm"
	mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5,nosuid,noexec devpts "$R/dev/pts"
	mount -t tmpfs -o mode=1777,nosuid,nodev shm "$R/dev/shm"
	ln -s pts/ptmx "$R/dev/ptmx"
	ln -s /proc/self/fd "$R/dev/fd"
	ln -s /proc/self/fd/0 "$R/dev/stdin"
	ln -s /proc/self/fd/1 "$R/dev/stdout"
	ln -s /proc/self/fd/2 "$R/dev/stderr"
	# systemd writes its console output to /dev/console: a file of the test.
	touch "$R/dev/console"
	mount --bind "$T/console.log" "$R/dev/console"
	mount -t tmpfs -o mode=0755,nosuid,nodev run "$R/run"
	mount -t tmpfs -o mode=1777,nosuid,nodev tmp "$R/tmp"

	# What `cmake --install` and a package would put in place.
	install -m 0755 "$KAOHED" "$R/usr/sbin/kaohed"
	install -m 0755 "$KAOHECTL" "$R/usr/bin/kaohectl"
	install -m 0644 "$UNIT_SRC" "$R/lib/systemd/system/kaohed.service"
	install -m 0644 "$SYSUSERS_SRC" "$R/usr/lib/sysusers.d/kaohe.conf"
	mkdir -p "$R/etc/kaohe"
	chmod 0755 "$R/etc/kaohe"
	install -m 0644 "$CONFIG_DIR/kaohe.conf" "$CONFIG_DIR/plan-2020.conf" "$R/etc/kaohe/"
	systemd-sysusers --root="$R" kaohe.conf
	# The test's callers: a member of one unit's group, and nobody.
	systemd-sysusers --root="$R" --inline \
		"u $MEMBER - \"kaohe test, member of kaohe-bayilu\" /nonexistent /usr/sbin/nologin" \
		"m $MEMBER kaohe-bayilu"
	# No fstab entries: nothing to mount, no swap to enable.
	: >"$R/etc/fstab"

	# Boot into an empty target. Starting kaohed pulls sysinit.target and
	# basic.target by its default dependencies, as on a real boot; the units
	# they want that would touch the (shared) kernel or run host jobs are
	# masked in the overlay's /etc.
	local sd=$R/etc/systemd/system
	mkdir -p "$sd"
	cat >"$sd/$TEST_TARGET" <<-EOF
		[Unit]
		Description=kaohe systemd test (nothing but the basics)
		AllowIsolate=yes
	EOF
	ln -sfn "$TEST_TARGET" "$sd/default.target"
	local keep=" systemd-journald.service systemd-journal-flush.service systemd-tmpfiles-setup.service "
	local u
	local w
	for w in "$R"/lib/systemd/system/sysinit.target.wants/* "$sd"/sysinit.target.wants/* \
		"$R"/lib/systemd/system/sockets.target.wants/* "$sd"/sockets.target.wants/*; do
		[ -e "$w" ] || [ -L "$w" ] || continue
		u=${w##*/}
		case $keep in *" $u "*) continue ;; esac
		case $u in systemd-journald*.socket) [ "$u" != systemd-journald-audit.socket ] && continue ;; esac
		ln -sfn /dev/null "$sd/$u"
	done
	for u in timers.target paths.target remote-fs.target getty.target \
		systemd-udevd.service systemd-udev-trigger.service systemd-udev-settle.service \
		systemd-udevd-control.socket systemd-udevd-kernel.socket \
		systemd-timesyncd.service systemd-networkd.service systemd-resolved.service \
		systemd-logind.service dbus.service dbus.socket \
		systemd-hwdb-update.service systemd-journal-catalog-update.service \
		ldconfig.service systemd-update-done.service systemd-remount-fs.service \
		systemd-fsck-root.service console-setup.service keyboard-setup.service \
		apparmor.service networking.service ifupdown-pre.service \
		systemd-sysusers.service systemd-pstore.service; do
		ln -sfn /dev/null "$sd/$u"
	done

	# Make the overlay the root, drop the host's view, and become systemd.
	cd "$R"
	mkdir -p .oldroot
	pivot_root . .oldroot
	cd /
	umount -l /.oldroot
	rmdir /.oldroot
	set +e
	# Capabilities whose effects would reach past the namespaces (kernel
	# modules, the clock, raw I/O, the kernel log, process accounting, MAC
	# policy) leave the bounding set of systemd and everything under it.
	exec setpriv --bounding-set -sys_module,-sys_time,-sys_rawio,-syslog,-wake_alarm,-sys_pacct,-mac_admin,-mac_override -- \
		env -i container=kaohe-test TERM=dumb \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		/lib/systemd/systemd --system --show-status=false
}

# remove_cgroup CG: remove the cgroup tree CG (its processes must be dead).
remove_cgroup() {
	for _ in $(seq 50); do
		find "$1" -name cgroup.procs -exec cat {} + 2>/dev/null | grep -q . || break
		sleep 0.1
	done
	find "$1" -depth -type d -exec rmdir {} + 2>/dev/null
	[ ! -d "$1" ]
}

# __guard MAIN U CG T MAX: see where it is started.
guard() {
	local main=$1 u=$2 cg=$3 t=$4 max=$5
	local end=$((SECONDS + max))
	while kill -0 "$main" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.5; done
	# Only if U is still this test's unshare; its PID 1 dies with it
	# (--kill-child), and the whole PID namespace with its PID 1.
	if tr '\0' ' ' <"/proc/$u/cmdline" 2>/dev/null | grep -qF -- "__ns_init $t"; then
		kill -KILL "$u"
	fi
	kill -0 "$main" 2>/dev/null && return # the script tears down itself
	sleep 0.5
	remove_cgroup "$cg"
	rm -rf -- "$t"
}

if [ "${1:-}" = __guard ]; then
	guard "${@:2}"
	exit 0
fi
if [ "${1:-}" = __ns_init ]; then
	ns_init "$2"
	exit 1 # not reached unless exec failed
fi

# --- on the host ---------------------------------------------------------------
if [ $# -lt 3 ]; then
	echo "usage: $0 KAOHED KAOHECTL CONFIG_DIR [SYSTEMD_DIR]" >&2
	exit 2
fi
KAOHED=$(realpath -- "$1")
KAOHECTL=$(realpath -- "$2")
CONFIG_DIR=$(realpath -- "$3")
SYSTEMD_DIR=$(realpath -- "${4:-$CONFIG_DIR/../systemd}")
UNIT_SRC=$SYSTEMD_DIR/kaohed.service
SYSUSERS_SRC=$SYSTEMD_DIR/kaohe.sysusers
export KAOHED KAOHECTL CONFIG_DIR UNIT_SRC SYSUSERS_SRC TEST_TARGET MEMBER

skip() {
	echo "systemd: SKIPPED: $*" >&2
	exit 77
}
for f in "$KAOHED" "$KAOHECTL"; do
	[ -x "$f" ] || {
		echo "$f is not an executable file" >&2
		exit 2
	}
done
for f in "$CONFIG_DIR/kaohe.conf" "$CONFIG_DIR/plan-2020.conf" "$UNIT_SRC" "$SYSUSERS_SRC"; do
	[ -f "$f" ] || {
		echo "$f not found" >&2
		exit 2
	}
done
[ "$(id -u)" -eq 0 ] || skip "needs root (namespaces, overlay mounts, cgroups)"
[ -x /lib/systemd/systemd ] || skip "/lib/systemd/systemd not installed"
for c in unshare nsenter setpriv systemd-sysusers mountpoint pivot_root timeout; do
	command -v $c >/dev/null || skip "$c not found"
done
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null
grep -qw overlay /proc/filesystems || skip "no overlayfs"
grep -qw cgroup2 /proc/filesystems || skip "no cgroup2"

# What the test must not change on the host, fingerprinted before and after.
host_state() {
	local f
	for f in /etc/passwd /etc/group /etc/shadow /etc/gshadow /etc/fstab; do
		if [ -e "$f" ]; then sha256sum "$f"; else echo "absent $f"; fi
	done
	for f in /usr/sbin/kaohed /usr/bin/kaohectl /lib/systemd/system/kaohed.service \
		/usr/lib/sysusers.d/kaohe.conf /etc/kaohe /var/lib/kaohe /run/kaohe \
		/etc/systemd/system/default.target /etc/systemd/system/$TEST_TARGET \
		/etc/systemd/system/dbus.service /run/systemd/private; do
		stat -c '%n %i %s %Y' "$f" 2>/dev/null || echo "absent $f"
	done
	echo "hostname $(cat /proc/sys/kernel/hostname)"
}
host_before=$(host_state)

self=$(realpath -- "${BASH_SOURCE[0]}")
CGMNT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
CGBASE=$CGMNT$(sed -n 's/^0:://p' /proc/self/cgroup)
CGBASE=${CGBASE%/}

# What an earlier run killed outright may have left (its guard killed too):
# the temporary directory and cgroups named after a process that is gone.
for d in /tmp/kaohe-systemd.*.* ${CGMNT:+"$CGBASE"/kaohe-systemd-test.*}; do
	[ -d "$d" ] || continue
	owner=${d##*/kaohe-systemd-test.}
	[ "$owner" = "$d" ] && owner=$(basename "$d" | cut -d. -f2)
	case $owner in '' | *[!0-9]*) continue ;; esac
	kill -0 "$owner" 2>/dev/null && continue
	case $d in
	/tmp/*) rm -rf -- "$d" ;;
	*) remove_cgroup "$d" ;;
	esac
done

T=$(mktemp -d "/tmp/kaohe-systemd.$$.XXXXXX")
mkdir -p "$T/ns"
: >"$T/console.log"
chmod 0644 "$T/console.log"

# A cgroup for the namespace, below the caller's own cgroup2 cgroup.
CGMOUNTED=
if [ -z "$CGMNT" ]; then
	mkdir "$T/cgroup2"
	mount -t cgroup2 cgroup2 "$T/cgroup2" || skip "cannot mount cgroup2"
	CGMNT=$T/cgroup2
	CGBASE=$CGMNT$(sed -n 's/^0:://p' /proc/self/cgroup)
	CGBASE=${CGBASE%/}
	CGMOUNTED=1
fi
CG=$CGBASE/kaohe-systemd-test.$$

U=
P1=
GUARD=
booted=
torn_down=
teardown() {
	[ -n "$torn_down" ] && return
	torn_down=1
	if [ -n "$GUARD" ]; then kill "$GUARD" 2>/dev/null; fi
	# P1 is reaped by U, U by this script: while U is not a zombie, P1's PID
	# is still P1's.
	if [ -n "$P1" ] && [ -n "$U" ] && [ "$(awk '{ print $3 }' "/proc/$U/stat" 2>/dev/null)" != Z ]; then
		kill -KILL "$P1" 2>/dev/null
	fi
	if [ -n "$U" ]; then
		kill -KILL "$U" 2>/dev/null
		wait "$U" 2>/dev/null
	fi
	# Every process of the PID namespace dies with its PID 1 (and the mount
	# namespace, with its tmpfs and overlays, with its last process). Then
	# the cgroups are removed, deepest first.
	if [ -d "$CG" ] && ! remove_cgroup "$CG"; then
		echo "warning: could not remove cgroup $CG" >&2
	fi
	if [ -n "$CGMOUNTED" ]; then umount "$CGMNT"; fi
	rm -rf -- "$T"
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

mkdir "$CG" || skip "cannot create cgroup $CG"

# The subshell moves itself into the test cgroup, then unshare makes that
# cgroup the root of the new cgroup namespace and forks PID 1 of the new PID
# namespace. --kill-child: should unshare die, PID 1 gets SIGKILL.
(
	echo "$BASHPID" >"$CG/cgroup.procs" || exit 1
	exec unshare --mount --pid --fork --kill-child --cgroup --uts --ipc --net \
		--propagation private -- "$self" __ns_init "$T"
) >"$T/init.log" 2>&1 &
U=$!

# The namespace's PID 1, as the host sees it: the child of unshare.
for _ in $(seq 100); do
	P1=$(cat /proc/"$U"/task/*/children 2>/dev/null | awk '{ print $1; exit }')
	[ -n "$P1" ] && break
	kill -0 "$U" 2>/dev/null || break
	sleep 0.05
done

# A guard in a session of its own (so that a kill of this script's process
# group spares it): should this script die without its traps running, or run
# past MAX_RUNTIME, it kills the namespace and removes what is left.
setsid "$self" __guard "$$" "$U" "$CG" "$T" "$MAX_RUNTIME" </dev/null >/dev/null 2>&1 &
GUARD=$!

passed=0
failed=0
failures=()
ok() {
	echo "ok   $1"
	passed=$((passed + 1))
}
bad() {
	echo "FAIL $1${2:+: $2}"
	failed=$((failed + 1))
	failures+=("$1")
}
# check NAME COMMAND...: the command's exit status decides.
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else bad "$name"; fi
}

# inns COMMAND...: run COMMAND in the namespaces (as root), under a timeout.
inns() {
	timeout 45 nsenter --target "$P1" --mount --pid --uts --ipc --net -- "$@"
}
# as USER COMMAND...: run COMMAND in the namespaces as USER, with the groups
# that the namespace's /etc/group gives it.
as() {
	local user=$1
	shift
	inns setpriv --reuid="$user" --regid="$(inns id -g "$user")" --init-groups -- "$@"
}
prop() { inns systemctl show -P "$1" kaohed.service; }
alive() { [ -n "$P1" ] && kill -0 "$P1" 2>/dev/null; }
# The journal cursor now; the unit's messages (systemd's about it and the
# daemon's), all of them or those after a cursor. After a cursor the whole
# journal is read: journalctl 252 with -u and --after-cursor can skip the
# first matching entry when the cursor's own entry does not match. The
# patterns grepped for name kaohed.service or come from the daemon only.
cursor() { inns journalctl --no-pager -n 0 --show-cursor 2>/dev/null | sed -n 's/^-- cursor: //p'; }
unitlog() {
	if [ -n "${1:-}" ]; then
		inns journalctl --no-pager -o cat --after-cursor="$1"
	else
		inns journalctl --no-pager -o cat -u kaohed.service
	fi
}
# logged CURSOR ERE: wait up to 3 s for the unit's log after CURSOR to match
# ERE (journald takes the messages asynchronously).
logged() {
	for _ in $(seq 30); do
		unitlog "$1" | grep -Eq -- "$2" && return 0
		sleep 0.1
	done
	return 1
}
# notified CURSOR PID TAGS: systemd logged (at debug level) the notification
# TAGS from PID after CURSOR.
notified() { logged "$1" "kaohed.service: Got notification message from PID $2 \($3"; }

finish() {
	local f
	if [ "$failed" -ne 0 ]; then
		if [ -z "$booted" ]; then
			echo "--- namespace setup ---"
			tail -n 20 "$T/init.log"
			echo "--- systemd console ---"
			tail -n 20 "$T/console.log"
		fi
		if alive; then
			echo "--- systemctl status kaohed ---"
			inns systemctl status --no-pager -l -n 0 kaohed.service
			echo "--- journal of kaohed.service (daemon only, last 40) ---"
			inns journalctl --no-pager -t kaohed -o short-monotonic | tail -n 40
		fi
	fi
	if [ -n "${KAOHE_SYSTEMD_TEST_JOURNAL:-}" ] && alive; then
		inns journalctl --no-pager -o short-monotonic >"$KAOHE_SYSTEMD_TEST_JOURNAL"
	fi
	teardown
	# The host after teardown.
	check "host: nothing of the test left in the mount table" \
		eval '! grep -q -e "kaohe-systemd\." -e "kaohe-test" /proc/self/mounts'
	check "host: test cgroup removed" test ! -e "$CG"
	check "host: temporary directory removed" test ! -e "$T"
	check "host: /etc users and groups, /usr, /var, /run paths, hostname unchanged" \
		test "$(host_state)" = "$host_before"
	echo "systemd: $passed passed, $failed failed ($SECONDS s)"
	for f in "${failures[@]+"${failures[@]}"}"; do echo "  failed: $f"; done
	[ "$failed" -eq 0 ] && exit 0
	exit 1
}

if [ -z "$P1" ]; then
	bad "namespace: unshare started PID 1"
	finish
fi

# --- boot ----------------------------------------------------------------------
state=
for _ in $(seq $((BOOT_TIMEOUT * 10))); do
	alive || break
	state=$(inns systemctl is-system-running 2>/dev/null)
	case $state in running | degraded) break ;; esac
	sleep 0.1
done
case $state in
running | degraded)
	booted=1
	ok "boot: systemd reached $TEST_TARGET ($state)"
	;;
*)
	bad "boot: systemd reached $TEST_TARGET" "state '${state:-none}'"
	finish
	;;
esac
check "boot: systemd is PID 1 of the namespace" test "$(inns cat /proc/1/comm)" = systemd
check "boot: systemd runs in a new PID namespace" \
	test "$(readlink "/proc/$P1/ns/pid")" != "$(readlink /proc/self/ns/pid)"
check "boot: systemd's / is the overlay" test "$(inns stat -f -c %T /)" = overlayfs
# At debug level the manager logs each sd_notify message it receives:
# "kaohed.service: Got notification message from PID N (READY=1)".
check "boot: manager log level set to debug" inns systemctl log-level debug

# --- start ---------------------------------------------------------------------
c=$(cursor)
t0=$(date +%s%N)
if inns timeout "$START_TIMEOUT" systemctl start kaohed.service; then
	ok "start: systemctl start kaohed exits 0"
else
	bad "start: systemctl start kaohed" "exit $?"
	finish
fi
echo "     (start took $((($(date +%s%N) - t0) / 1000000)) ms)"
check "start: active (running)" test "$(prop ActiveState)/$(prop SubState)" = active/running
check "start: the unit file is the shipped one, without drop-ins" \
	eval 'cmp -s "$UNIT_SRC" <(inns cat "$(prop FragmentPath)") && [ -z "$(prop DropInPaths)" ]'
pid=$(prop MainPID)
echo "     MainPID=$pid"
check "start: READY=1 came from the main process" notified "$c" "$pid" 'READY=1'
status_text=$(prop StatusText)
echo "     StatusText=$status_text"
check "start: STATUS= is shown (StatusText non-empty)" test -n "$status_text"
check "start: WatchdogSec=30s is in force" test "$(prop WatchdogUSec)" = 30s
check "start: the daemon logs to the journal (its ready line)" logged "$c" 'kaohed .* ready: plan'

kaohe_uid=$(inns id -u kaohe)
kaohe_gid=$(inns id -g kaohe)
pstatus=$(inns cat "/proc/$pid/status" 2>/dev/null)
field() { printf '%s\n' "$pstatus" | awk -v f="$1:" '$1 == f { $1 = ""; sub(/^ /, ""); print; exit }'; }
check "process: runs as user kaohe (real, effective, saved, fs uid $kaohe_uid)" \
	test "$(field Uid)" = "$kaohe_uid $kaohe_uid $kaohe_uid $kaohe_uid"
check "process: runs as group kaohe (real, effective, saved, fs gid $kaohe_gid)" \
	test "$(field Gid)" = "$kaohe_gid $kaohe_gid $kaohe_gid $kaohe_gid"
# systemd's initgroups() lists the primary group; no other group may appear.
check "process: no supplementary group besides kaohe (Groups: $(field Groups))" \
	eval '[ -z "$(field Groups | tr " " "\n" | grep -vx "$kaohe_gid" | grep .)" ]'
check "process: CapEff 0" test "$(field CapEff)" = 0000000000000000
check "process: CapPrm 0" test "$(field CapPrm)" = 0000000000000000
check "process: CapBnd 0 (CapabilityBoundingSet=)" test "$(field CapBnd)" = 0000000000000000
check "process: CapAmb 0" test "$(field CapAmb)" = 0000000000000000
check "process: NoNewPrivs 1" test "$(field NoNewPrivs)" = 1
check "process: seccomp filtering (Seccomp 2)" test "$(field Seccomp)" = 2
check "process: executable is /usr/sbin/kaohed" \
	test "$(inns readlink "/proc/$pid/exe")" = /usr/sbin/kaohed
check "process: its own mount namespace (the sandbox)" \
	test "$(inns readlink "/proc/$pid/ns/mnt")" != "$(inns readlink /proc/1/ns/mnt)"

# stat -c: mode owner type
st() { inns stat -c '%a %U %F' "$1" 2>/dev/null; }
check "files: /run/kaohe is 0755 kaohe (RuntimeDirectory=)" test "$(st /run/kaohe)" = "755 kaohe directory"
check "files: /run/kaohe/control.sock is a socket, 0666, kaohe" test "$(st $SOCK)" = "666 kaohe socket"
check "files: /var/lib/kaohe is 0750 kaohe (StateDirectory=)" test "$(st /var/lib/kaohe)" = "750 kaohe directory"
check "files: /var/lib/kaohe/kaohe.db is 0600 kaohe" test "$(st /var/lib/kaohe/kaohe.db)" = "600 kaohe regular file"
# The publisher (kaohed publish, a process of the service) runs at start.
published() {
	local i
	for i in $(seq 150); do
		inns test -s /var/lib/kaohe/export/all.ics && inns test -s /var/lib/kaohe/export/index.html &&
			return 0
		sleep 0.2
	done
	return 1
}
check "publish: index.html and the feeds written in the sandbox (/var/lib/kaohe/export)" published
check "publish: the export directory is 0755 kaohe, index.html 0644 (published: readable by all)" \
	eval 'test "$(st /var/lib/kaohe/export)" = "755 kaohe directory" &&
		test "$(st /var/lib/kaohe/export/index.html)" = "644 kaohe regular file"'
check "publish: the journal says it was written" logged "$c" 'publish: /var/lib/kaohe/export written'

# --- the sandbox, as the daemon's mount namespace shows it ---------------------
# Paths are reached through /proc/PID/root, which crosses into the daemon's
# mounts. As root (which DAC does not stop) test -w fails only on a read-only
# mount; as kaohe it fails on a read-only mount or by ownership.
mounts=$(inns cat "/proc/$pid/mountinfo" | awk '{ print $5, $6 }')
mopts() { awk -v m="$1" '$1 == m { o = $2 } END { print o }' <<<"$mounts"; }
has_opt() { [[ ,$(mopts "$1"), == *,"$2",* ]]; }
check "sandbox: / is read-only and noexec (ProtectSystem=strict, NoExecPaths=/)" \
	eval 'has_opt / ro && has_opt / noexec'
check "sandbox: /run is read-only (ReadOnlyPaths=/run)" has_opt /run ro
check "sandbox: /var/lib/kaohe is writable and noexec" \
	eval 'has_opt /var/lib/kaohe rw && has_opt /var/lib/kaohe noexec'
check "sandbox: /run/kaohe is writable and noexec" \
	eval 'has_opt /run/kaohe rw && has_opt /run/kaohe noexec'
check "sandbox: /home and /root are read-only (ProtectHome=yes)" \
	eval 'has_opt /home ro && has_opt /root ro'
check "sandbox: /tmp and /var/tmp are private mounts (PrivateTmp=yes)" \
	eval '[ -n "$(mopts /tmp)" ] && [ -n "$(mopts /var/tmp)" ]'
check "sandbox: /dev is the service's own (PrivateDevices=yes)" \
	has_opt /dev ro
ro_for_root=1
for p in / /etc /usr /usr/bin /usr/sbin /var /var/lib /run /run/systemd /home /root; do
	inns test -w "/proc/$pid/root$p" && ro_for_root= && echo "     $p is on a writable mount"
done
check "sandbox: the OS is on read-only mounts (even root could not write / /etc /usr /var /run)" \
	test -n "$ro_for_root"
w_ok=1
for p in / /etc /etc/kaohe /etc/kaohe/kaohe.conf /usr /usr/lib /usr/bin /usr/sbin /var /var/lib \
	/run /run/systemd /home /root; do
	as kaohe test -w "/proc/$pid/root$p" && w_ok= && echo "     kaohe can write $p"
done
for p in /var/lib/kaohe /run/kaohe /tmp /var/tmp; do
	as kaohe test -w "/proc/$pid/root$p" || { w_ok= && echo "     kaohe cannot write $p"; }
done
check "sandbox: user kaohe can write /var/lib/kaohe /run/kaohe /tmp /var/tmp and nothing else probed" \
	test -n "$w_ok"
check "sandbox: no shell can be executed in the daemon's namespace (NoExecPaths=/)" \
	eval '! inns nsenter --target "$pid" --mount /bin/sh -c true 2>/dev/null'
check "sandbox: /usr/bin/kill can, for ExecReload= (ExecPaths=)" \
	inns nsenter --target "$pid" --mount /usr/bin/kill -0 1
# Writable mounts besides the expected ones are reported, not failed: under
# systemd 252 the bind mounts that ExecPaths= and ConfigurationDirectory=
# create are read-write (ownership by root is then what keeps kaohe out).
extra=$(awk '$2 ~ /(^|,)rw(,|$)/ { print $1 }' <<<"$mounts" |
	grep -vxE '/var/lib/kaohe|/run/kaohe|/tmp|/var/tmp|/proc|/dev/(pts|shm|mqueue)' | tr '\n' ' ')
[ -z "$extra" ] || echo "note: read-write mounts in the daemon's namespace besides its own directories: $extra"

# --- the control socket, as three callers ----------------------------------------
# refused OUT RC: kaohectl exited 1 with a permission-denied answer.
refused() { [ "$2" -eq 1 ] && [[ $1 == *'"permission-denied"'* ]]; }
out=$(inns kaohectl -s $SOCK --json ping 2>&1)
rc=$?
check "socket: root (admin) may ping" eval '[ $rc -eq 0 ] && [[ $out == *"\"ok\": true"* || $out == *"\"ok\":true"* ]]'
[ $rc -eq 0 ] || echo "     exit $rc: ${out:0:300}"
out=$(as "$MEMBER" kaohectl -s $SOCK --json status bayilu 2>&1)
rc=$?
check "socket: member of kaohe-bayilu may 'status bayilu'" test $rc -eq 0
[ $rc -eq 0 ] || echo "     exit $rc: ${out:0:300}"
out=$(as "$MEMBER" kaohectl -s $SOCK --json status baiyun 2>&1)
rc=$?
check "socket: member of kaohe-bayilu is refused 'status baiyun'" refused "$out" $rc
refused "$out" $rc || echo "     exit $rc: ${out:0:300}"
out=$(as "$MEMBER" kaohectl -s $SOCK --json reload 2>&1)
rc=$?
check "socket: member of kaohe-bayilu is refused 'reload'" refused "$out" $rc
out=$(as nobody kaohectl -s $SOCK --json status 2>&1)
rc=$?
check "socket: nobody is refused 'status'" refused "$out" $rc
refused "$out" $rc || echo "     exit $rc: ${out:0:300}"
out=$(as nobody kaohectl -s $SOCK --json status bayilu 2>&1)
rc=$?
check "socket: nobody is refused 'status bayilu'" refused "$out" $rc

# --- the sandbox, through the daemon's own writes ----------------------------------
out=$(inns kaohectl -s $SOCK --json backup /var/lib/kaohe/test-backup.db 2>&1)
rc=$?
check "sandbox: backup into the state directory works" test $rc -eq 0
[ $rc -eq 0 ] || echo "     exit $rc: ${out:0:300}"
check "sandbox: the backup is 0600 kaohe" test "$(st /var/lib/kaohe/test-backup.db)" = "600 kaohe regular file"
out=$(inns kaohectl -s $SOCK --json backup /var/tmp/kaohe-escape.db 2>&1)
rc=$?
check "sandbox: backup to /var/tmp lands in the private /var/tmp, not the real one" \
	eval '! inns test -e /var/tmp/kaohe-escape.db'
out=$(inns kaohectl -s $SOCK --json backup /var/backups/kaohe-escape.db 2>&1)
rc=$?
check "sandbox: backup to /var/backups is refused (ProtectSystem=strict)" \
	eval '[ $rc -eq 1 ] && ! inns test -e /var/backups/kaohe-escape.db'
[ $rc -eq 1 ] || echo "     exit $rc: ${out:0:300}"

# --- reload --------------------------------------------------------------------
c=$(cursor)
check "reload: systemctl reload kaohed exits 0" inns timeout 15 systemctl reload kaohed.service
check "reload: active (running)" test "$(prop ActiveState)/$(prop SubState)" = active/running
check "reload: same MainPID" test "$(prop MainPID)" = "$pid"
check "reload: the daemon logs the reload" logged "$c" 'reload: configuration loaded'
check "reload: RELOADING=1 then READY=1 reached systemd" \
	eval 'notified "$c" "$pid" "RELOADING=1" &&
		unitlog "$c" | grep -E "Got notification message from PID $pid \((RELOADING|READY)=1" |
		tr "\n" " " | grep -Eq "RELOADING=1.*READY=1"'
check "reload: systemd saw reload -> running" logged "$c" 'kaohed.service: Changed reload -> running'
c=$(cursor)
check "reload: kaohectl reload (admin) exits 0" eval 'inns kaohectl -s $SOCK reload >/dev/null'
check "reload: after kaohectl reload, RELOADING=1 and READY=1 reached systemd, still running" \
	eval 'notified "$c" "$pid" "RELOADING=1" && notified "$c" "$pid" "READY=1" &&
		[ "$(prop SubState)" = running ]'
check "reload: socket still answers" eval 'inns kaohectl -s $SOCK ping >/dev/null'

# --- stop ----------------------------------------------------------------------
c=$(cursor)
check "stop: systemctl stop kaohed exits 0" inns timeout 15 systemctl stop kaohed.service
check "stop: inactive (dead)" test "$(prop ActiveState)/$(prop SubState)" = inactive/dead
check "stop: Result=success" test "$(prop Result)" = success
check "stop: STOPPING=1 reached systemd" notified "$c" "$pid" 'STOPPING=1'
# Result=success also follows a death by SIGTERM; the daemon must exit 0.
check "stop: the main process exited with status 0 (not killed by SIGTERM)" \
	logged "$c" 'kaohed.service: Main process exited, code=exited, status=0/SUCCESS'
check "stop: /run/kaohe removed (RuntimeDirectory=)" eval '! inns test -e /run/kaohe'
check "stop: database kept" inns test -f /var/lib/kaohe/kaohe.db

# --- SIGKILL and Restart=on-failure ----------------------------------------------
check "restart: start again" inns timeout "$START_TIMEOUT" systemctl start kaohed.service
pid=$(prop MainPID)
check "restart: NRestarts=0 before the kill" test "$(prop NRestarts)" = 0
inns kill -KILL "$pid"
# RestartSec=5s, then the start until READY=1.
newpid=
for _ in $(seq 150); do
	if [ "$(prop NRestarts)" = 1 ] && [ "$(prop SubState)" = running ]; then
		newpid=$(prop MainPID)
		break
	fi
	sleep 0.1
done
check "restart: restarted after kill -9 (NRestarts=1)" test "$(prop NRestarts)" = 1
check "restart: active (running) again, with a new MainPID" \
	eval '[ -n "$newpid" ] && [ "$newpid" != "$pid" ] && [ "$(prop ActiveState)" = active ]'
check "restart: socket answers after the restart" eval 'inns kaohectl -s $SOCK ping >/dev/null'
pid=$newpid

# --- watchdog ------------------------------------------------------------------
# WatchdogSec=30s as shipped: the daemon pings every 15 s. Wait for the first
# plain WATCHDOG=1 of the restarted process (up to 20 s after it started).
c0=$(prop ExecMainStartTimestampMonotonic)
wd=
end=$((SECONDS + 20))
while [ $SECONDS -lt $end ]; do
	if unitlog | grep -q "kaohed.service: Got notification message from PID $pid (WATCHDOG=1)"; then
		wd=1
		break
	fi
	sleep 0.2
done
check "watchdog: WATCHDOG=1 reached systemd within 20 s" test -n "$wd"
check "watchdog: WatchdogTimestamp moved past the start" \
	test "$(prop WatchdogTimestampMonotonic)" -gt $((c0 + 10000000))
check "watchdog: still active (running), same MainPID" \
	test "$(prop ActiveState)/$(prop SubState)/$(prop MainPID)" = "active/running/$pid"

# --- the daemon's own log ------------------------------------------------------
daemonlog=$(inns journalctl --no-pager -t kaohed -o cat)
errors=$(inns journalctl --no-pager -t kaohed -p err -o cat)
check "journal: kaohed logged nothing at priority err or worse" test -z "$errors"
[ -z "$errors" ] || printf '     %s\n' "$errors" | head -n 10
denied=$(grep -iE 'not permitted|permission denied|read-only file system|seccomp' <<<"$daemonlog" |
	grep -v kaohe-escape)
check "journal: kaohed hit no EPERM/EACCES/EROFS (besides the refused backup)" test -z "$denied"
[ -z "$denied" ] || printf '     %s\n' "$denied" | head -n 10

finish
