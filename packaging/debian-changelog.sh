#!/bin/sh
# debian/changelog for `make deb`: the version is gflow's own (gflow/__init__.py), so the
# package can never disagree with `gflowd --version`; the date is the last commit's.
set -eu
version="$1"
date="$(git log -1 --format=%aD 2>/dev/null || true)"
[ -n "$date" ] || date="$(date -R)"
cat <<END
gflow ($version) unstable; urgency=medium

  * gflow $version (see the project's CHANGELOG.md).

 -- gflow packagers <packaging@gflow.invalid>  $date
END
