#!/bin/bash
# The layout of the C sources (clang-format with .clang-format) and the
# Python tests' and scripts' hygiene (pyflakes).
#
#   scripts/lint.sh          reformat the C sources in place
#   scripts/lint.sh --check  change nothing; exit 1 on any difference or
#                            pyflakes message (./check runs this)
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t c_files < <(git ls-files '*.c' '*.h')
mapfile -t py_files < <(git ls-files '*.py')
if [ "${1:-}" != "--check" ]; then
	clang-format -i "${c_files[@]}"
	exit 0
fi
status=0
clang-format --dry-run -Werror "${c_files[@]}" || {
	echo "lint: the C sources are not laid out as .clang-format says: run scripts/lint.sh"
	status=1
}
/usr/bin/python3 -m pyflakes "${py_files[@]}" || {
	echo "lint: pyflakes found the messages above"
	status=1
}
exit $status
