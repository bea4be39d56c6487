#!/usr/bin/env bash
# The Debian packages some suites need: chromium (browser tests), redis-server (the chat
# across servers), iproute2 (its hosts in network namespaces) and python3 (the reference servers
# of peers/).
# Installed when this machine lets us (root and apt-get); otherwise nothing happens here and each
# suite that needs a missing one prints a loud `SKIPPED: <why>` line. With --required, a package
# that cannot be installed is an error (CI: nothing may be skipped).
set -uo pipefail
required=0
[ "${1:-}" = "--required" ] && required=1

# command → Debian package
declare -A PACKAGES=([chromium]=chromium [redis-server]=redis-server [ip]=iproute2 [python3]=python3)
missing=()
for cmd in "${!PACKAGES[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${PACKAGES[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: cannot install ${missing[*]} (needs root and apt-get); the suites that need them will say SKIPPED" >&2
  exit $required
fi
echo "system-deps: installing ${missing[*]} (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
# update once: a fresh machine's package lists are empty or stale
if ! apt-get update -qq >/dev/null || ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
  echo "system-deps: apt-get could not install ${missing[*]}" >&2
  exit $required
fi
exit 0
