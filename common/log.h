/* Levelled logging for the daemon and its tools.
 *
 * Messages go to stderr (journald picks them up under systemd).  The level can
 * be changed at run time with log_set_level(); a message below the level costs
 * one comparison, which matters on the uevent hot path. */
#pragma once

#include <stdbool.h>

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
	LOG_LVL__COUNT
};

extern enum log_level log_current_level;

void log_set_level(enum log_level level);
/* Parses "error", "warn", "info", "debug"; returns -1 on an unknown name. */
int log_level_from_name(const char *name);
const char *log_level_name(enum log_level level);
/* Send messages to syslog (daemon facility) instead of stderr. */
void log_use_syslog(bool on);
/* Prefix every line with this program name (default "hostdevd"). */
void log_set_ident(const char *ident);

void log_msg(enum log_level level, const char *dev, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static inline bool log_enabled(enum log_level level)
{
	return level <= log_current_level;
}

#define log_at(lvl, dev, ...)                                                  \
	do {                                                                   \
		if (log_enabled(lvl))                                          \
			log_msg(lvl, dev, __VA_ARGS__);                        \
	} while (0)

#define log_error(...) log_at(LOG_LVL_ERROR, NULL, __VA_ARGS__)
#define log_warn(...) log_at(LOG_LVL_WARN, NULL, __VA_ARGS__)
#define log_info(...) log_at(LOG_LVL_INFO, NULL, __VA_ARGS__)
#define log_debug(...) log_at(LOG_LVL_DEBUG, NULL, __VA_ARGS__)
/* Same, prefixed with the device the message concerns. */
#define log_dev_error(dev, ...) log_at(LOG_LVL_ERROR, dev, __VA_ARGS__)
#define log_dev_warn(dev, ...) log_at(LOG_LVL_WARN, dev, __VA_ARGS__)
#define log_dev_info(dev, ...) log_at(LOG_LVL_INFO, dev, __VA_ARGS__)
#define log_dev_debug(dev, ...) log_at(LOG_LVL_DEBUG, dev, __VA_ARGS__)

/* A broken invariant: log and abort. */
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
