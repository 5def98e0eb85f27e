#!/usr/bin/env bash
# Installs what the end-to-end test needs: Debian's Chromium, ripgrep, and code-server 4.100.3
# (VS Code 1.100.3, the newest that runs on Node 20). Idempotent and fast when everything is present;
# runs before `npm test` and in CI on a fresh machine (as root). code-server lives in a cache folder
# outside the repository's package.json so it never enters our lockfile or the .vsix.
set -euo pipefail

CODE_SERVER_VERSION=4.100.3
CACHE_DIR="${ANNEAL_E2E_CACHE:-$HOME/.cache/anneal-e2e}"
PREFIX="$CACHE_DIR/code-server-$CODE_SERVER_VERSION"
MARKER="$PREFIX/.installed"

need_apt=()
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v rg >/dev/null 2>&1 || need_apt+=(ripgrep)
# code-server's native kerberos module builds against libkrb5's headers.
[ -e /usr/include/krb5.h ] || [ -e /usr/include/krb5/krb5.h ] || need_apt+=(libkrb5-dev)
if [ "${#need_apt[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: missing ${need_apt[*]}; run as root or install them: apt-get install -y ${need_apt[*]}" >&2
    exit 1
  fi
  echo "setup.sh: installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ -f "$MARKER" ]; then
  exit 0
fi

# @vscode/ripgrep downloads its binary from GitHub unless a tarball is already in its cache folder;
# hand it Debian's rg instead (this machine reaches only the npm registry).
RG_CACHE="${TMPDIR:-/tmp}/vscode-ripgrep-cache-1.15.11"
RG_TAR="$RG_CACHE/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz"
if [ ! -f "$RG_TAR" ]; then
  mkdir -p "$RG_CACHE"
  tar czf "$RG_TAR" -C "$(dirname "$(command -v rg)")" rg
fi

echo "setup.sh: installing code-server@$CODE_SERVER_VERSION into $PREFIX"
mkdir -p "$PREFIX"
[ -f "$PREFIX/package.json" ] || echo '{"name":"anneal-e2e-code-server","private":true}' > "$PREFIX/package.json"
# node-pty's postinstall runs npx, which must not prompt.
npm_config_yes=true npm install --prefix "$PREFIX" --no-audit --no-fund --unsafe-perm \
  "code-server@$CODE_SERVER_VERSION" >"$PREFIX/install.log" 2>&1 || {
  echo "setup.sh: code-server install failed; see $PREFIX/install.log" >&2
  tail -n 40 "$PREFIX/install.log" >&2
  exit 1
}
[ -x "$PREFIX/node_modules/.bin/code-server" ] || { echo "setup.sh: code-server binary missing after install" >&2; exit 1; }
touch "$MARKER"
echo "setup.sh: done"
