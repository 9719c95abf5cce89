#!/usr/bin/env bash
# install-nginx.sh installs Debian's nginx-light, whose WebDAV module lets the
# remote cache tests start a real HTTP cache server (see README, "Remote
# cache"). It is idempotent: with an nginx that has the WebDAV module it says
# so and changes nothing. It runs as root or as a user with sudo.
#
# The package's own service is kept from starting while it installs: the tests
# start nginx themselves, on a free port, and port 80 may be taken.
set -euo pipefail

say() { printf 'install-nginx: %s\n' "$*"; }

for nginx in "$(command -v nginx || true)" /usr/sbin/nginx; do
	if [ -n "$nginx" ] && [ -x "$nginx" ] && "$nginx" -V 2>&1 | grep -q http_dav_module; then
		say "nginx with WebDAV already installed: $nginx"
		exit 0
	fi
done

command -v apt-get >/dev/null || { echo "install-nginx: apt-get not found: install nginx with the WebDAV module (http_dav_module) by hand" >&2; exit 1; }
sudo=()
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || { echo "install-nginx: not root and no sudo: install nginx-light as root" >&2; exit 1; }
	sudo=(sudo)
fi
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	# Exit status 101 tells invoke-rc.d not to start services.
	printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
	"${sudo[@]}" chmod 755 "$policy"
	trap '"${sudo[@]}" rm -f "$policy"' EXIT
fi
say "installing nginx-light"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q -o DPkg::Lock::Timeout=900
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=900 nginx-light
