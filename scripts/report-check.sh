#!/usr/bin/env bash
# report-check.sh opens a report page in headless Chromium and fails unless
# it loads without script errors and every image on it resolves. The page's
# own script records both on <html> (data-report-* attributes); this reads
# them from the DOM Chromium dumps.
#
# Usage: scripts/report-check.sh [PAGE] [SCREENSHOT.png]
#
#   PAGE         the report to check (default results/index.html)
#   SCREENSHOT   also save a 1280-pixel-wide screenshot of the page there
#
# Chromium is /usr/bin/chromium (Debian package chromium) or $DIFFLAB_CHROMIUM.
set -euo pipefail

page="${1:-results/index.html}"
shot="${2:-}"
browser="${DIFFLAB_CHROMIUM:-/usr/bin/chromium}"

[ -x "$browser" ] || { echo "report-check: no Chromium at $browser (fix: apt-get install -y chromium, or set DIFFLAB_CHROMIUM)" >&2; exit 2; }
[ -f "$page" ] || { echo "report-check: no page at $page (fix: run difflab report first)" >&2; exit 2; }
url="file://$(cd "$(dirname "$page")" && pwd)/$(basename "$page")"

profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
	--disable-component-update --disable-sync --disable-dev-shm-usage --user-data-dir="$profile"
	--virtual-time-budget=10000)

dom="$(timeout 120 "$browser" "${flags[@]}" --dump-dom "$url" 2>/dev/null)"
attr() { printf '%s' "$dom" | grep -o "data-report-$1=\"[^\"]*\"" | head -n1 | sed 's/^[^"]*"//; s/"$//'; }

if [ "$(attr check)" != done ]; then
	echo "report-check: $page did not finish loading in Chromium (no data-report-check)" >&2
	exit 1
fi
status=0
if [ -n "$(attr broken)" ]; then
	echo "report-check: images that did not load: $(attr broken)" >&2
	status=1
fi
if [ -n "$(attr errors)" ]; then
	echo "report-check: script errors: $(attr errors)" >&2
	status=1
fi
if [ -n "$shot" ]; then
	timeout 120 "$browser" "${flags[@]}" --hide-scrollbars --window-size=1280,2400 --screenshot="$(realpath -m "$shot")" "$url" >/dev/null 2>&1
	echo "report-check: screenshot $shot"
fi
[ "$status" = 0 ] && echo "report-check: $page loads cleanly; $(attr images) images, all resolved"
exit "$status"
