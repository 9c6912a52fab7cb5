# nsroot.sh -- a throw-away root with a real systemd as PID 1 of new
# namespaces, for the tests that run kaohed as a service. Sourced by
# test_systemd.sh (the unit as shipped) and tests/package/test_package.sh
# (the Debian package installed, upgraded, removed and purged).
#
# 1. unshare makes new mount, PID, cgroup, UTS, IPC and network namespaces.
#    In them the host's root file system is the lower layer of an overlay
#    whose upper layer is a tmpfs only the namespace sees: whatever is
#    written to /etc, /usr, /var goes there. /proc (with /proc/sys
#    read-only), /sys (read-only), /dev (a tmpfs with the usual nodes),
#    /run and /tmp are fresh. A new child of the caller's cgroup2 cgroup is
#    the namespace's cgroup root, for systemd to manage.
# 2. The test's nsroot_populate puts its files in that root. The default
#    target is an empty one. Starting kaohed still pulls sysinit.target and
#    basic.target through its default dependencies, as on a real boot; the
#    units they want that would reach the shared kernel or run host jobs
#    (sysctl, modules, binfmt, udev, time sync, timers such as apt-daily)
#    are masked in the overlay's /etc. The unit file itself gets no drop-in.
# 3. The namespace's PID 1 pivots into the root and execs systemd, with
#    container=kaohe-test in its environment as a container manager would,
#    and without the capabilities that reach past namespaces (modules,
#    clock, raw I/O, kernel log).
# 4. Teardown, also on failure and on INT/TERM: SIGKILL to the namespace's
#    PID 1 ends every process of its PID namespace, and with the last of
#    them the mount namespace with its tmpfs and overlays. Then the cgroups
#    and the temporary directory are removed, and the host is checked
#    (mount table, /etc/passwd and friends, the installed paths, hostname).
#    A guard in its own session does the same if the test is killed
#    outright or runs past MAX_RUNTIME.
#
# The test script that sources this file
#   - sets NSROOT_NAME (its temporary directory is /tmp/NSROOT_NAME.PID.*,
#     its cgroup NSROOT_NAME-test.PID) and NSROOT_LABEL (the prefix of its
#     summary), and may add to NSROOT_HOST_PATHS, the host paths that must
#     be as they were after the test;
#   - defines nsroot_populate ROOT, run as root in the new mount namespace
#     before systemd starts, with the environment the script exported, and
#     may define nsroot_host_setup, run on the host once $T, the temporary
#     directory, exists;
#   - calls nsroot_dispatch "$@" first: the namespace's PID 1 and the guard
#     are the test script itself, run again;
#   - then nsroot_preflight (exit 77 when this machine cannot host it),
#     nsroot_start, nsroot_boot, its own checks with check/ok/bad, inns, as
#     and prop, and finish.
# Needs root, overlayfs and cgroup2, and only what Debian 12 installs
# anyway: systemd, util-linux (unshare, nsenter, setpriv, setsid,
# mountpoint, pivot_root), coreutils, findutils, awk.

export LC_ALL=C SYSTEMD_COLORS=0 SYSTEMD_PAGER=cat SYSTEMD_LESS='' SYSTEMD_URLIFY=0

TEST_TARGET=kaohe-test.target
BOOT_TIMEOUT=${BOOT_TIMEOUT:-20} # seconds for systemd to come up
MAX_RUNTIME=${MAX_RUNTIME:-120}  # the namespace is killed after this, whatever happens
NSROOT_HOST_PATHS=("${NSROOT_HOST_PATHS[@]+"${NSROOT_HOST_PATHS[@]}"}")
export TEST_TARGET

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

	# What the test puts in the root: the daemon's files, or a package.
	nsroot_populate "$R"
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


# nsroot_dispatch "$@": as the namespace's PID 1 or as the guard, do that
# and exit; otherwise return.
nsroot_dispatch() {
	if [ "${1:-}" = __guard ]; then
		guard "${@:2}"
		exit 0
	fi
	if [ "${1:-}" = __ns_init ]; then
		ns_init "$2"
		exit 1 # not reached unless exec failed
	fi
}

skip() {
	echo "$NSROOT_LABEL: SKIPPED: $*" >&2
	exit 77
}

# nsroot_preflight: exit 77 unless this machine can host the root.
nsroot_preflight() {
	local c
	[ "$(id -u)" -eq 0 ] || skip "needs root (namespaces, overlay mounts, cgroups)"
	[ -x /lib/systemd/systemd ] || skip "/lib/systemd/systemd not installed"
	for c in unshare nsenter setpriv systemd-sysusers mountpoint pivot_root timeout; do
		command -v $c >/dev/null || skip "$c not found"
	done
	grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null
	grep -qw overlay /proc/filesystems || skip "no overlayfs"
	grep -qw cgroup2 /proc/filesystems || skip "no cgroup2"
}

# What the test must not change on the host, fingerprinted before and after:
# kaohe's own entries only (its users and groups, members named kaohe*, its
# package, its paths), since whatever else runs on the host meanwhile may
# add users or install packages. NSROOT_HOST_ROOT (empty: /) is where the
# host's files are looked up.
host_state() {
	local f r=${NSROOT_HOST_ROOT:-}
	for f in /etc/passwd /etc/group /etc/shadow /etc/gshadow; do
		if [ -e "$r$f" ]; then
			echo "$f:"
			awk -F: '$1 ~ /^kaohe/ || $4 ~ /(^|,)kaohe/' "$r$f" | sort
		else
			echo "absent $f"
		fi
	done
	dpkg-query --admindir="$r/var/lib/dpkg" -W -f='${Package} ${Version} ${db:Status-Abbrev}\n' \
		kaohe 2>/dev/null || echo "no kaohe package"
	for f in /usr/sbin/kaohed /usr/bin/kaohectl /lib/systemd/system/kaohed.service \
		/usr/lib/sysusers.d/kaohe.conf /etc/kaohe /var/lib/kaohe /run/kaohe \
		/etc/systemd/system/default.target /etc/systemd/system/$TEST_TARGET \
		/etc/systemd/system/dbus.service /run/systemd/private \
		"${NSROOT_HOST_PATHS[@]+"${NSROOT_HOST_PATHS[@]}"}"; do
		stat -c '%n %i %s %Y' "$r$f" 2>/dev/null || echo "absent $f"
	done
	[ -n "$r" ] || echo "hostname $(cat /proc/sys/kernel/hostname)"
}

# teardown: end the namespaces, remove the cgroups and the temporary
# directory; once, on any exit.
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

# nsroot_start: the temporary directory, the cgroup, the namespaces with
# their PID 1 (P1), and the guard.
nsroot_start() {
	host_before=$(host_state)
	self=$(realpath -- "$0")
	CGMNT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
	CGBASE=$CGMNT$(sed -n 's/^0:://p' /proc/self/cgroup)
	CGBASE=${CGBASE%/}

	# What an earlier run killed outright may have left (its guard killed too):
	# the temporary directory and cgroups named after a process that is gone.
	for d in /tmp/"$NSROOT_NAME".*.* ${CGMNT:+"$CGBASE"/"$NSROOT_NAME"-test.*}; do
		[ -d "$d" ] || continue
		owner=${d##*/"$NSROOT_NAME"-test.}
		[ "$owner" = "$d" ] && owner=$(basename "$d" | cut -d. -f2)
		case $owner in '' | *[!0-9]*) continue ;; esac
		kill -0 "$owner" 2>/dev/null && continue
		case $d in
		/tmp/*) rm -rf -- "$d" ;;
		*) remove_cgroup "$d" ;;
		esac
	done

	U=
	P1=
	GUARD=
	booted=
	torn_down=
	CG=
	CGMOUNTED=
	T=$(mktemp -d "/tmp/$NSROOT_NAME.$$.XXXXXX")
	trap teardown EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM HUP
	mkdir -p "$T/ns"
	: >"$T/console.log"
	chmod 0644 "$T/console.log"
	if declare -F nsroot_host_setup >/dev/null; then nsroot_host_setup; fi

	# A cgroup for the namespace, below the caller's own cgroup2 cgroup.
	if [ -z "$CGMNT" ]; then
		mkdir "$T/cgroup2"
		mount -t cgroup2 cgroup2 "$T/cgroup2" || skip "cannot mount cgroup2"
		CGMNT=$T/cgroup2
		CGBASE=$CGMNT$(sed -n 's/^0:://p' /proc/self/cgroup)
		CGBASE=${CGBASE%/}
		CGMOUNTED=1
	fi
	CG=$CGBASE/$NSROOT_NAME-test.$$

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
}

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
		eval '! grep -q -e "$NSROOT_NAME\." -e "kaohe-test" /proc/self/mounts'
	check "host: test cgroup removed" test ! -e "$CG"
	check "host: temporary directory removed" test ! -e "$T"
	check "host: kaohe's users, groups, package and paths, the hostname unchanged" \
		test "$(host_state)" = "$host_before"
	echo "$NSROOT_LABEL: $passed passed, $failed failed ($SECONDS s)"
	for f in "${failures[@]+"${failures[@]}"}"; do echo "  failed: $f"; done
	[ "$failed" -eq 0 ] && exit 0
	exit 1
}

# nsroot_boot: wait for systemd to reach the test target; finish if it
# does not.
nsroot_boot() {
	if [ -z "$P1" ]; then
		bad "namespace: unshare started PID 1"
		finish
	fi

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
}
