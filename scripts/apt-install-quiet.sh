#!/usr/bin/env bash
# apt-install-quiet.sh installs Debian packages whose services must not start
# while they install (the tests start the servers themselves, on their own
# ports and in temporary folders). It runs as root or as a user with sudo,
# and names its caller in every message.
#
# Usage: scripts/apt-install-quiet.sh CALLER PACKAGE...
set -euo pipefail
caller=${1:?usage: scripts/apt-install-quiet.sh CALLER PACKAGE...}
shift
pkgs=("$@")

command -v apt-get >/dev/null || { echo "$caller: apt-get not found: install ${pkgs[*]} (or their equivalents) by hand" >&2; exit 1; }
sudo=()
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || { echo "$caller: not root and no sudo: install ${pkgs[*]} as root" >&2; exit 1; }
	sudo=(sudo)
fi
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	# Exit status 101 tells invoke-rc.d not to start services.
	printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
	"${sudo[@]}" chmod 755 "$policy"
	trap '"${sudo[@]}" rm -f "$policy"' EXIT
fi
printf '%s: installing %s\n' "$caller" "${pkgs[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q -o DPkg::Lock::Timeout=900
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=900 "${pkgs[@]}"
