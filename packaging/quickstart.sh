#!/bin/sh
# Install gflow into a private virtualenv, start your personal daemon (user mode, SQLite
# state, no GPU needed) and run a first job, printing its output.
#   sh packaging/quickstart.sh          (from a checkout of this repository)
# Re-running it is safe: it reuses the virtualenv and an already running daemon.
# On a machine where the system daemon runs (the Debian package), no personal daemon is
# started: `gflowd up` says so and your first job goes to the shared scheduler.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
venv=${GFLOW_VENV:-$HOME/.local/share/gflow-venv}

if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    # Debian ships venv separately; only root (or sudo) can add it
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo apt-get install -y python3-venv
    else
        # no way to install it ourselves: say exactly what to ask for
        echo "gflow needs Python's venv module, which this machine lacks." >&2
        echo "Ask your administrator to run:  apt-get install python3-venv" >&2
        echo "(or to install gflow for everyone: the gflow Debian package, then 'gflowd up --system')." >&2
        exit 1
    fi
fi
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "$here"

PATH="$venv/bin:$PATH"
gflowd up
gbatch --name hello --wait sh -c 'echo "hello from gflow job $GFLOW_JOB_ID, running as $(id -un)"'
gjob log @
echo
echo "gflow is installed in $venv. Add it to your PATH:"
echo "  export PATH=\"$venv/bin:\$PATH\""
