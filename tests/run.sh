#!/bin/sh
# The project's test command (README, .ci/run): make a virtualenv with gflow and pytest,
# then run the whole suite. Multi-user tests run when this is started as root.
set -eu
cd "$(dirname "$0")/.."
venv=.venv
if ! python3 -c 'import ensurepip, venv' 2>/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
fi
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -e '.[test]'
exec "$venv/bin/python" -m pytest "$@"
