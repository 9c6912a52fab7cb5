# Sourced by ./run and ./check: installs the Debian packages kaohe needs
# that this machine lacks.  Needs root (or sudo) only when something is
# missing.

KAOHE_BUILD_DEPS="gcc make cmake pkg-config tzdata
libev-dev libcurl4-openssl-dev libsqlite3-dev libconfig-dev libjansson-dev
libssl-dev libsystemd-dev libical-dev"
KAOHE_TEST_DEPS="clang-format pyflakes3 libcmocka-dev python3 python3-aiosmtpd python3-icalendar chromium fonts-noto-cjk
poppler-utils openssl nginx-light wrk clang libclang-rt-14-dev
redis-server redis-tools
sqlite3 time faketime
dpkg-dev debhelper lintian mandoc man-db
python3-prometheus-client prometheus"

kaohe_install() {
	local missing="" p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
			missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	echo "==> installing:$missing"
	local sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	$sudo apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
}
