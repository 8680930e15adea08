#!/bin/sh
# The project's test command (README, .ci/run): make a virtualenv with gflow and pytest,
# then run the whole suite. Multi-user tests run when this is started as root.
set -eu
cd "$(dirname "$0")/.."
venv=.venv
missing=""
python3 -c 'import ensurepip, venv' 2>/dev/null || missing="python3-venv"
command -v tmux >/dev/null || missing="$missing tmux"  # gjob attach / close-sessions tests
# tests/packaging builds and installs the .deb: Debian's packaging tools, and what it checks with
for pkg in git make dpkg-dev debhelper dh-virtualenv fakeroot python3-venv python3-argparse-manpage lintian \
           man-db bash-completion systemd; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        $missing >/dev/null || echo "tests/run.sh: could not install:$missing" >&2
fi
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -e '.[test]'
exec "$venv/bin/python" -m pytest "$@"
