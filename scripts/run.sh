#!/bin/bash
# Installs what is needed, builds, and runs hostdevd in the foreground on this
# machine with the safe default: it observes the devices and detaches nothing.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh"
"$top/scripts/build.sh" "$top/build"
sock=${HOSTDEVD_SOCKET:-/run/hostdevd/hostdevd.sock}
# The built-in policy (observe, detach nothing) even where /etc/hostdevd
# holds one that acts: an empty directory (a named path must exist).
# HOSTDEVD_POLICY or a --policy argument chooses another.
policy=${HOSTDEVD_POLICY:-$top/build/no-policy}
[ -n "${HOSTDEVD_POLICY:-}" ] || mkdir -p "$policy"
cat <<MSG

hostdevd is starting in the foreground (Ctrl-C stops it). From another terminal:
    $top/build/client/hostdevctl list          # the machine's PCI and USB devices
    $top/build/client/hostdevctl status
    $top/build/client/hostdevctl watch         # live events
(socket: $sock; set HOSTDEVD_SOCKET or pass --socket to use another;
 policy: $policy, an empty directory: the built-in default that detaches nothing;
 pass --policy /etc/hostdevd to use the machine's)

MSG
exec "$top/build/daemon/hostdevd" --foreground --socket "$sock" --policy "$policy" "$@"
