#!/usr/bin/env bash
# Installs the outside test oracles that come from npm: TensorFlow.js (pure JS), pinned in
# tests/tfjs/package-lock.json, into a folder of the build tree (default build/tfjs; never
# globally). Installs Debian's nodejs and npm first when node or npm is missing. Idempotent: an
# install whose lock file matches is kept as it is.
# Under CI=true a failed install is an error; elsewhere a warning (the tfjs tests then skip).
set -euo pipefail
cd "$(dirname "$0")/.."
DEST="${1:-build/tfjs}"
SRC=tests/tfjs

fail() {
  echo "setup-oracles: $*" >&2
  if [ "${CI:-}" = true ]; then exit 1; fi
  echo "setup-oracles: continuing; the TensorFlow.js oracle tests will be skipped" >&2
  exit 0
}

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup-oracles: installing nodejs npm"
  $SUDO apt-get update -qq || fail "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm \
    || fail "could not install nodejs and npm"
fi

if cmp -s "$SRC/package-lock.json" "$DEST/package-lock.json" &&
   [ -f "$DEST/node_modules/@tensorflow/tfjs/package.json" ]; then
  echo "setup-oracles: tfjs oracle present in $DEST"
  exit 0
fi

mkdir -p "$DEST"
cp "$SRC/package.json" "$SRC/package-lock.json" "$DEST/"
echo "setup-oracles: npm ci in $DEST"
# --ignore-scripts: the pure-JS packages need no install step (and none may download anything).
(cd "$DEST" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) \
  || { rm -f "$DEST/package-lock.json"; fail "npm ci failed in $DEST"; }
