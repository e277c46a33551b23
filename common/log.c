#include "common/log.h"
#include "common/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

enum log_level log_current_level = LOG_LVL_INFO;
static const char *log_ident = "hostdevd";
static bool log_syslog;

static const int syslog_priority[LOG_LVL__COUNT] = {
	[LOG_LVL_ERROR] = LOG_ERR,
	[LOG_LVL_WARN] = LOG_WARNING,
	[LOG_LVL_INFO] = LOG_INFO,
	[LOG_LVL_DEBUG] = LOG_DEBUG,
};

void log_use_syslog(bool on)
{
	if (on && !log_syslog)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_syslog = on;
}

static const char *const level_names[LOG_LVL__COUNT] = {
	[LOG_LVL_ERROR] = "error",
	[LOG_LVL_WARN] = "warn",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

void log_set_level(enum log_level level)
{
	if (level < LOG_LVL__COUNT)
		log_current_level = level;
}

void log_set_ident(const char *ident)
{
	log_ident = ident;
}

int log_level_from_name(const char *name)
{
	return name_index(level_names, LOG_LVL__COUNT, name);
}

const char *log_level_name(enum log_level level)
{
	return level < LOG_LVL__COUNT ? level_names[level] : "?";
}

/* A value with a newline must not start a line of its own, one with an
 * escape sequence must not drive the terminal: control characters as \n,
 * \r, \t or \xNN, and each byte that does not begin a well-formed UTF-8
 * character as \xNN.  out holds 4 bytes per byte of in, and a NUL. */
static void escape_line(const char *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)in[i];
		size_t len = c >= 0x80 ? utf8_char_len(in + i, n - i) : 1;

		if (c >= 0x20 && c != 0x7f && len) {
			memcpy(out, in + i, len);
			out += len;
			i += len;
			continue;
		}
		*out++ = '\\';
		if (c == '\n' || c == '\r' || c == '\t') {
			*out++ = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
		} else {
			*out++ = 'x';
			*out++ = hex[c >> 4];
			*out++ = hex[c & 15];
		}
		i++;
	}
	*out = '\0';
}

static void log_emit(enum log_level level, const char *line)
{
	size_t n = strlen(line);
	char escaped[n * 4 + 1];

	/* One pass: a clean line (the usual) is only copied. */
	escape_line(line, n, escaped);
	line = escaped;
	if (log_syslog)
		syslog(syslog_priority[level < LOG_LVL__COUNT ? level : LOG_LVL_ERROR], "%s", line);
	else
		/* One write per line keeps lines whole when threads log at once. */
		fprintf(stderr, "%s\n", line);
}

void log_msg(enum log_level level, const char *dev, const char *fmt, ...)
{
	char line[2048];
	int n;
	struct timespec ts;
	va_list ap;

	if (log_syslog) {
		n = dev ? snprintf(line, sizeof(line), "%s: ", dev) : 0;
	} else {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		n = snprintf(line, sizeof(line), "%s[%ld.%06ld] %s: ", log_ident, (long)ts.tv_sec,
			     ts.tv_nsec / 1000, log_level_name(level));
		if (dev && n >= 0 && (size_t)n < sizeof(line))
			n += snprintf(line + n, sizeof(line) - n, "%s: ", dev);
	}
	if (n >= 0 && (size_t)n < sizeof(line)) {
		va_start(ap, fmt);
		vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		va_end(ap);
	}
	log_emit(level, line);
}

void fatal(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: fatal: ", log_ident);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}
