/* Failpoints: places where a crash test makes the daemon die on purpose.
 *
 * HOSTDEVD_FAILPOINT=NAME[:N] kills the daemon with SIGKILL the Nth time
 * (default: the first) it passes the failpoint NAME — no cleanup, no last
 * write, exactly as kill -9 or a power cut would.  Unset (as always outside
 * tests), a failpoint costs one pointer comparison.  The names, in the order
 * a managed claim and its release pass them (docs/state.md):
 *   claim.reserved  claim.intent_saved  detach.driver_override
 *   detach.unbind  detach.drivers_probe  claim.nodes_saved  claim.nodes_given
 *   claim.before_ack  claim.after_ack
 *   release.intent_saved  reattach.driver_override  reattach.unbind
 *   reattach.drivers_probe  release.after_ack
 * (claim.nodes_*: only a claim by a uid other than 0 of devices with VFIO
 * nodes, engine/nodeowner.h.) */
#pragma once

void failpoint(const char *name);
