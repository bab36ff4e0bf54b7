#!/usr/bin/env bash
# Install the Debian packages the test suite needs (idempotent; safe to run on every `make test`).
#
# Each entry is "CHECK : PACKAGE". CHECK is either a path (shell globs allowed) that must exist, or the
# name of a command that must be on PATH. Add a line to DEPS to require another package.
set -euo pipefail

DEPS=(
  "/usr/lib/postgresql/*/bin/initdb : postgresql"  # private PostgreSQL servers (pandawms/bench/pgserver.py)
  "/usr/bin/chromium : chromium"                    # monitor browser tests (tests/monitor/test_browser.py)
  "xrootd : xrootd-server"                          # XRootD storage server (pandawms/bench/storageservers.py)
  "xrdcp : xrootd-client"                           # its third-party copies (ofs.tpc pgm xrdcp)
  "slurmctld : slurm-wlm"                           # one-node Slurm cluster (tests/factory/slurmcluster.py)
  "munged : munge"                                  # its authentication daemon
)

# found CHECK: print what satisfies CHECK and succeed, or fail quietly.
found() {
  local check=$1 match
  if [[ $check == */* ]]; then
    for match in $check; do  # unquoted on purpose: expand the glob
      [[ -e $match ]] && { echo "$match"; return 0; }
    done
    return 1
  fi
  command -v "$check"
}

missing=()
for dep in "${DEPS[@]}"; do
  check=${dep%% : *} package=${dep##* : }
  if where=$(found "$check"); then
    echo "test-deps: $package present ($where)"
  else
    missing+=("$package")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

as_root=()
if [[ $EUID -ne 0 ]]; then
  if command -v sudo >/dev/null; then
    as_root=(sudo)
  else
    echo "test-deps: missing Debian packages: ${missing[*]}; run this script as root or install sudo" >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null; then
  echo "test-deps: missing packages: ${missing[*]}, and no apt-get to install them (Debian/Ubuntu only)" >&2
  exit 1
fi

echo "test-deps: installing ${missing[*]} ..."
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

status=0
for dep in "${DEPS[@]}"; do
  check=${dep%% : *} package=${dep##* : }
  [[ " ${missing[*]} " == *" $package "* ]] || continue
  if where=$(found "$check"); then
    echo "test-deps: $package installed ($where)"
  else
    echo "test-deps: $package installed but '$check' still not found" >&2
    status=1
  fi
done
exit $status
