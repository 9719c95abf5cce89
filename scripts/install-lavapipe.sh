#!/usr/bin/env bash
# install-lavapipe.sh installs Mesa's lavapipe, a Vulkan driver that runs on
# the CPU, so that `difflab run --device gpu` (ONNX Runtime's WebGPU
# execution provider, Dawn on Vulkan) can be tested on a machine without a
# GPU. CI runs it before the tests; `setup` does not, because it changes
# apt's sources. It is idempotent and prints each step.
#
# Usage: scripts/install-lavapipe.sh
#
# What it does, on Debian 12 (bookworm), as root or with sudo:
#   1. Nothing, if mesa-vulkan-drivers 25 or later and libvulkan1 are
#      installed: bookworm's own mesa-vulkan-drivers (22.3) lacks a Vulkan
#      feature Dawn requires.
#   2. Adds the suite bookworm-backports to apt's sources (file
#      /etc/apt/sources.list.d/bookworm-backports.list), on the mirror the
#      existing bookworm entry uses, unless a source already names it.
#   3. apt-get update, then installs mesa-vulkan-drivers and libvulkan1 from
#      bookworm-backports.
#   4. Checks that lavapipe's driver manifest (lvp_icd*.json) is in place.
set -euo pipefail

case "${1:-}" in
"") ;;
-h | --help)
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
	exit 0
	;;
*)
	echo "install-lavapipe: takes no arguments (got $1)" >&2
	exit 2
	;;
esac

say() { printf 'install-lavapipe: %s\n' "$*"; }
die() {
	printf 'install-lavapipe: error: %s\n' "$*" >&2
	exit 1
}

# The lowest Mesa whose lavapipe Dawn accepts (measured: 22.3 fails, 25.0.7 works).
min_mesa=25
suite=bookworm-backports
list=/etc/apt/sources.list.d/$suite.list

installed_version() { { dpkg-query -W -f='${Status} ${Version}' "$1" 2>/dev/null || true; } | sed -n 's/^install ok installed //p'; }
icd() { { ls /usr/share/vulkan/icd.d/lvp_icd*.json 2>/dev/null || true; } | head -n 1; }

mesa="$(installed_version mesa-vulkan-drivers)"
loader="$(installed_version libvulkan1)"
if [ -n "$loader" ] && [ -n "$mesa" ] && [ "${mesa%%.*}" -ge "$min_mesa" ] 2>/dev/null && [ -n "$(icd)" ]; then
	say "lavapipe already installed (mesa-vulkan-drivers $mesa, libvulkan1 $loader, $(icd))"
	exit 0
fi
say "installing lavapipe: mesa-vulkan-drivers ${mesa:-absent} (want $min_mesa or later), libvulkan1 ${loader:-absent}"

. /etc/os-release
[ "${VERSION_CODENAME:-}" = bookworm ] || die "this script knows Debian 12 (bookworm), not ${PRETTY_NAME:-this system}: install a Mesa of version $min_mesa or later (package mesa-vulkan-drivers) and the Vulkan loader (libvulkan1) by hand"
command -v apt-get >/dev/null || die "apt-get not found"
sudo=()
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || die "not root and no sudo: run it as root"
	sudo=(sudo)
fi

# bookworm_mirror prints the URI and the signed-by keyring (if any) of the
# first source of the suite bookworm, from deb822 files (*.sources) or
# one-line lists (sources.list, *.list).
bookworm_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		# Stanzas are separated by blank lines; print "URI KEYRING" of one
		# whose Types include deb and Suites include bookworm.
		awk '
			function flush() {
				if (types ~ /(^| )deb( |$)/ && suites ~ /(^| )bookworm( |$)/ && uri != "" && !done) {
					print uri, key; done = 1
				}
				types = ""; suites = ""; uri = ""; key = ""
			}
			/^[ \t]*$/ { flush(); next }
			/^[ \t]*#/ { next }
			tolower($1) == "types:" { $1 = ""; types = $0 " " }
			tolower($1) == "suites:" { $1 = ""; suites = $0 " " }
			tolower($1) == "uris:" { uri = $2 }
			tolower($1) == "signed-by:" { key = $2 }
			END { flush() }
		' "$f" | head -n 1
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		# deb [options] URI bookworm components...
		awk '
			$1 != "deb" { next }
			{
				key = ""; i = 2
				if ($2 ~ /^\[/) {
					for (; i <= NF; i++) {
						if ($i ~ /^\[?signed-by=/) { key = $i; sub(/^\[?signed-by=/, "", key); sub(/\]$/, "", key) }
						if ($i ~ /\]$/) { i++; break }
					}
				}
				if ($(i + 1) == "bookworm") { print $i, key; exit }
			}
		' "$f"
	done
}

if grep -rqsw -- "$suite" /etc/apt/sources.list /etc/apt/sources.list.d/; then
	say "apt already has a source for $suite"
else
	read -r uri key < <(bookworm_mirror | head -n 1) || true
	[ -n "${uri:-}" ] || die "no source of the suite bookworm found in /etc/apt/sources.list or /etc/apt/sources.list.d/: add one for $suite to apt's sources by hand"
	options=""
	[ -n "${key:-}" ] && options="[signed-by=$key] "
	say "adding $suite to apt's sources: $list (deb ${options}$uri $suite main)"
	echo "deb ${options}$uri $suite main" | "${sudo[@]}" tee "$list" >/dev/null
fi

say "apt-get update"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q -o DPkg::Lock::Timeout=900
say "apt-get install -t $suite mesa-vulkan-drivers libvulkan1"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=900 \
	-t "$suite" mesa-vulkan-drivers libvulkan1

mesa="$(installed_version mesa-vulkan-drivers)"
[ "${mesa%%.*}" -ge "$min_mesa" ] 2>/dev/null || die "mesa-vulkan-drivers $mesa was installed, want $min_mesa or later from $suite"
[ -n "$(icd)" ] || die "mesa-vulkan-drivers $mesa is installed but /usr/share/vulkan/icd.d/ holds no lvp_icd*.json"
say "lavapipe installed (mesa-vulkan-drivers $mesa, libvulkan1 $(installed_version libvulkan1), $(icd))"
