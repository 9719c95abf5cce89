#!/usr/bin/env bash
# install-slurm.sh installs Debian's slurm-wlm and munge, so that the tests of
# `difflab run --executor slurm` start a real one-node Slurm cluster (see
# README, "Running on a Slurm cluster"). It is idempotent: with the daemons and
# client commands installed it says so and changes nothing. It runs as root or
# as a user with sudo.
#
# The packages' own services are kept from starting while they install: the
# tests configure and start the daemons themselves, in a temporary folder.
set -euo pipefail

say() { printf 'install-slurm: %s\n' "$*"; }

have() {
	for f in /usr/sbin/munged /usr/sbin/slurmctld /usr/sbin/slurmd; do
		[ -x "$f" ] || return 1
	done
	for c in sbatch squeue scontrol scancel sinfo; do
		command -v "$c" >/dev/null || return 1
	done
}

if have; then
	say "slurm-wlm and munge already installed: $(/usr/sbin/slurmctld -V)"
	exit 0
fi

command -v apt-get >/dev/null || { echo "install-slurm: apt-get not found: install Slurm (slurmctld, slurmd, the client commands) and munge by hand" >&2; exit 1; }
sudo=()
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || { echo "install-slurm: not root and no sudo: install slurm-wlm and munge as root" >&2; exit 1; }
	sudo=(sudo)
fi
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	# Exit status 101 tells invoke-rc.d not to start services.
	printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
	"${sudo[@]}" chmod 755 "$policy"
	trap '"${sudo[@]}" rm -f "$policy"' EXIT
fi
say "installing slurm-wlm and munge"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q -o DPkg::Lock::Timeout=900
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=900 slurm-wlm munge
have || { echo "install-slurm: the packages installed but a daemon or command is missing" >&2; exit 1; }
say "installed: $(/usr/sbin/slurmctld -V)"
