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

"$(dirname "${BASH_SOURCE[0]}")/apt-install-quiet.sh" install-nginx nginx-light
