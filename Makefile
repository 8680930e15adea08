# `make deb`: build dist/gflow_<version>_<arch>.deb with Debian's tools (dpkg-buildpackage,
# debhelper, dh-virtualenv). `make deb-deps` installs them (root, Debian 12 or later).
# The version comes from one place, gflow/__init__.py (setup.cfg reads it from there too).

VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' gflow/__init__.py)
BUILD := build/deb
SRC := $(BUILD)/gflow-$(VERSION)
BUILD_DEPS := debhelper dh-virtualenv python3-venv python3-argparse-manpage dpkg-dev fakeroot

.PHONY: deb deb-deps clean

deb:
	@test -n "$(VERSION)" || { echo "make deb: no __version__ in gflow/__init__.py" >&2; exit 1; }
	rm -rf $(BUILD)
	mkdir -p $(SRC)
	# the files under version control (all of them outside a git checkout), never build output
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		git ls-files -z | xargs -0 cp --parents -t $(SRC); \
	else \
		tar -cf - --exclude=./build --exclude=./dist --exclude=./.venv --exclude=./.git . | tar -xf - -C $(SRC); \
	fi
	rm -rf $(SRC)/debian
	cp -r packaging/debian $(SRC)/debian
	sh packaging/debian-changelog.sh $(VERSION) > $(SRC)/debian/changelog
	cd $(SRC) && dpkg-buildpackage --build=binary --unsigned-source --unsigned-changes --no-sign
	mkdir -p dist
	cp $(BUILD)/gflow_$(VERSION)_*.deb dist/
	@ls dist/gflow_$(VERSION)_*.deb

deb-deps:
	apt-get update -q && apt-get install -y --no-install-recommends $(BUILD_DEPS)

clean:
	rm -rf $(BUILD) dist
