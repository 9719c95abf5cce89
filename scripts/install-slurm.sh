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

"$(dirname "${BASH_SOURCE[0]}")/apt-install-quiet.sh" install-slurm slurm-wlm munge
have || { echo "install-slurm: the packages installed but a daemon or command is missing" >&2; exit 1; }
say "installed: $(/usr/sbin/slurmctld -V)"
