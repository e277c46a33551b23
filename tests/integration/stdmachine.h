/* The standard machine (tb_build_standard) with the real hostdevd running
 * on it, and what standard-devices.json, written by hand from the machine's
 * inventory, says the daemon must answer for it: the fixture parts of the
 * tests that only ask (it-topology, it-hotplug, it-hostdevctl) and of
 * kfix's, which let the daemon write. */
#pragma once

#include "tests/integration/hdproc.h"
#include "tests/integration/testbed.h"

#include <json-c/json.h>
#include <stdbool.h>

/* Builds the machine into *tb and starts the daemon on it.  For setups,
 * which get no teardown when they fail: when the daemon does not start,
 * prints why, frees the machine too and returns false, leaving nothing
 * running or on disk. */
bool stdm_try_start(struct testbed **tb, struct hdproc *daemon);
/* Stops the daemon, failing unless it exits cleanly (hdproc_stop_ok),
 * removes its directory and frees the machine. */
void stdm_stop(struct testbed *tb, struct hdproc *daemon);

/* standard-devices.json: the devices array of ListDevices, in its order
 * (a new reference). */
json_object *stdm_expected(void);
/* The record of `id` in that array (borrowed); fails when there is none. */
json_object *stdm_expected_device(json_object *expected, const char *id);
