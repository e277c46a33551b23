/* The Varlink client connection against a scripted fake daemon: replies,
 * errors, streams, and every way the transport can fail. */
#include "client/hdclient.h"
#include "tests/unit/fake_varlink.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

static volatile sig_atomic_t usr1_count;

static void on_usr1(int sig)
{
	usr1_count++;
}

/* Connects to a fake serving `steps`. */
static struct hdclient *connect_fake(struct fake_server **f, const struct fake_step *steps,
				     size_t n)
{
	struct hdclient_error err;
	struct hdclient *c;

	*f = fake_start(steps, n);
	c = hdclient_connect(fake_socket_path(*f), &err);
	assert_non_null(c);
	assert_int_equal(err.failure, HDCLIENT_OK);
	return c;
}

static void test_call_returns_parameters(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { "{\"parameters\":{\"devices\":[{\"id\":\"0000:00:01.0\"}]}}" } },
	};
	struct fake_server *f;
	struct hdclient *c = connect_fake(&f, steps, 1);
	json_object *params = json_tokener_parse("{\"bus\":\"pci\"}"), *reply, *devices;
	const char *error;

	assert_int_equal(hdclient_call(c, "io.hostdevd.ListDevices", params, &reply, &error), 0);
	assert_null(error);
	assert_true(json_object_object_get_ex(reply, "devices", &devices));
	assert_int_equal(json_object_array_length(devices), 1);
	hdclient_free(c);
	fake_stop(f);
	assert_int_equal(fake_n_calls(f), 1);
	assert_string_equal(fake_call(f, 0),
			    "{\"method\":\"io.hostdevd.ListDevices\",\"parameters\":{\"bus\":\"pci\"}}");
	json_object_put(params);
	fake_free(f);
}

static void test_varlink_error_keeps_connection(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { "{\"error\":\"io.hostdevd.DeviceNotFound\","
			       "\"parameters\":{\"device\":\"id:1234:5678\"}}" } },
		{ .replies = { "{\"parameters\":{\"version\":\"0.1.0\"}}" } },
	};
	struct fake_server *f;
	struct hdclient *c = connect_fake(&f, steps, 2);
	json_object *reply, *v;
	const char *error;

	assert_int_equal(hdclient_call(c, "io.hostdevd.GetDevice", NULL, &reply, &error), 0);
	assert_string_equal(error, "io.hostdevd.DeviceNotFound");
	assert_true(json_object_object_get_ex(reply, "device", &v));
	assert_string_equal(json_object_get_string(v), "id:1234:5678");
	assert_int_equal(hdclient_call(c, "io.hostdevd.GetStatus", NULL, &reply, &error), 0);
	assert_null(error);
	assert_true(json_object_object_get_ex(reply, "version", &v));
	assert_int_equal(hdclient_last_error(c)->failure, HDCLIENT_OK);
	hdclient_free(c);
	fake_free(f);
}

static void test_stream_split_bytewise(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { "{\"parameters\":{\"sequence\":4},\"continues\":true}",
			       "{\"parameters\":{\"sequence\":5},\"continues\":true}",
			       "{\"parameters\":{\"sequence\":6}}" },
		  .bytewise = true },
	};
	struct fake_server *f;
	struct hdclient *c = connect_fake(&f, steps, 1);
	json_object *reply, *seq;
	const char *error;
	bool continues;

	assert_int_equal(hdclient_call_more(c, "io.hostdevd.Watch", NULL), 0);
	for (int i = 4; i <= 6; i++) {
		assert_int_equal(hdclient_next(c, &reply, &error, &continues), 0);
		assert_null(error);
		assert_true(json_object_object_get_ex(reply, "sequence", &seq));
		assert_int_equal(json_object_get_int(seq), i);
		assert_int_equal(continues, i < 6);
	}
	/* The stream ended: nothing more to read. */
	assert_int_equal(hdclient_next(c, &reply, &error, &continues), -EINVAL);
	assert_int_equal(hdclient_last_error(c)->failure, HDCLIENT_USAGE);
	hdclient_free(c);
	fake_stop(f);
	assert_string_equal(fake_call(f, 0),
			    "{\"method\":\"io.hostdevd.Watch\",\"parameters\":{},\"more\":true}");
	fake_free(f);
}

static void test_call_during_stream_refused(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { "{\"parameters\":{\"sequence\":1},\"continues\":true}",
			       "{\"parameters\":{\"sequence\":2}}" } },
	};
	struct fake_server *f;
	struct hdclient *c = connect_fake(&f, steps, 1);
	json_object *reply;
	const char *error;
	bool continues;

	assert_int_equal(hdclient_call_more(c, "io.hostdevd.Watch", NULL), 0);
	assert_int_equal(hdclient_next(c, &reply, &error, &continues), 0);
	assert_true(continues);
	assert_int_equal(hdclient_call(c, "io.hostdevd.GetStatus", NULL, &reply, &error), -EBUSY);
	assert_int_equal(hdclient_last_error(c)->failure, HDCLIENT_USAGE);
	assert_non_null(strstr(hdclient_last_error(c)->message, "stream of io.hostdevd.Watch"));
	/* Misuse does not break the stream. */
	assert_int_equal(hdclient_next(c, &reply, &error, &continues), 0);
	assert_false(continues);
	hdclient_free(c);
	fake_free(f);
}

static void test_error_ends_stream(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { "{\"parameters\":{\"sequence\":1},\"continues\":true}",
			       "{\"error\":\"io.hostdevd.WatcherTooSlow\","
			       "\"parameters\":{\"sequence\":9}}" } },
	};
	struct fake_server *f;
	struct hdclient *c = connect_fake(&f, steps, 1);
	json_object *reply;
	const char *error;
	bool continues;

	assert_int_equal(hdclient_call_more(c, "io.hostdevd.Watch", NULL), 0);
	assert_int_equal(hdclient_next(c, &reply, &error, &continues), 0);
	assert_int_equal(hdclient_next(c, &reply, &error, &continues), 0);
	assert_string_equal(error, "io.hostdevd.WatcherTooSlow");
	assert_false(continues);
	assert_int_equal(hdclient_next(c, &reply, &error, &continues), -EINVAL);
	hdclient_free(c);
	fake_free(f);
}

/* A failed call, then another: the failure is sticky. */
static void expect_failure(struct hdclient *c, int errnum, enum hdclient_failure failure,
			   const char *words)
{
	json_object *reply;
	const char *error;

	assert_int_equal(hdclient_call(c, "io.hostdevd.GetStatus", NULL, &reply, &error),
			 -errnum);
	assert_null(reply);
	assert_int_equal(hdclient_last_error(c)->failure, failure);
	assert_int_equal(hdclient_last_error(c)->errnum, errnum);
	assert_non_null(strstr(hdclient_last_error(c)->message, words));
	assert_int_equal(hdclient_call(c, "io.hostdevd.GetStatus", NULL, &reply, &error),
			 -errnum);
}

static void test_timeout(void **state)
{
	static const struct fake_step steps[] = { { .after = FAKE_SILENT } };
	struct fake_server *f;
	struct hdclient *c = connect_fake(&f, steps, 1);

	hdclient_set_timeout(c, 100);
	expect_failure(c, ETIMEDOUT, HDCLIENT_TIMEOUT,
		       "did not answer io.hostdevd.GetStatus within 0.1 s");
	hdclient_free(c);
	fake_free(f);
}

static void test_closed_before_reply(void **state)
{
	static const struct fake_step steps[] = { { .after = FAKE_CLOSE } };
	struct fake_server *f;
	struct hdclient *c = connect_fake(&f, steps, 1);

	expect_failure(c, ECONNRESET, HDCLIENT_IO,
		       "closed the connection before answering io.hostdevd.GetStatus");
	hdclient_free(c);
	fake_free(f);
}

/* A listening socket in a fresh directory (dir, a mkdtemp template): a
 * daemon that accepts and answers as the test says, in the test's thread. */
static int listen_in(char *dir, struct sockaddr_un *sa)
{
	int lfd;

	assert_non_null(mkdtemp(dir));
	snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/sock", dir);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)sa, sizeof(*sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	return lfd;
}

/* hostdevd refuses a connection over its limits with one error, sent at
 * accept, and hangs up before reading the call: the client's send meets a
 * broken pipe, and the answer it reports is that error, not the pipe. */
static void test_refused_at_accept(void **state)
{
	static const char refusal[] =
		"{\"error\":\"io.hostdevd.TooManyConnections\",\"parameters\":{\"limit\":128,"
		"\"reason\":\"uid 1000 has 128 connections open\"}}";
	char dir[] = "/tmp/hdclient-test-XXXXXX";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct hdclient_error err;
	json_object *reply = NULL;
	const char *error = NULL;
	struct hdclient *c;
	int lfd, afd;

	lfd = listen_in(dir, &sa);
	c = hdclient_connect(sa.sun_path, &err);
	assert_non_null(c);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	assert_int_equal(write(afd, refusal, sizeof(refusal)), (ssize_t)sizeof(refusal));
	close(afd);
	assert_int_equal(hdclient_call(c, "io.hostdevd.GetStatus", NULL, &reply, &error), 0);
	assert_string_equal(error, "io.hostdevd.TooManyConnections");
	assert_int_equal(json_object_get_int(json_object_object_get(reply, "limit")), 128);
	hdclient_free(c);
	close(lfd);
	unlink(sa.sun_path);
	rmdir(dir);
}

/* The same hang-up with nothing said: the broken pipe is the failure. */
static void test_hung_up_at_accept(void **state)
{
	char dir[] = "/tmp/hdclient-test-XXXXXX";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct hdclient_error err;
	json_object *reply = NULL;
	const char *error = NULL;
	struct hdclient *c;
	int lfd, afd;

	lfd = listen_in(dir, &sa);
	c = hdclient_connect(sa.sun_path, &err);
	assert_non_null(c);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	close(afd);
	assert_true(hdclient_call(c, "io.hostdevd.GetStatus", NULL, &reply, &error) < 0);
	assert_null(reply);
	assert_int_equal(hdclient_last_error(c)->failure, HDCLIENT_IO);
	assert_non_null(strstr(hdclient_last_error(c)->message, "Broken pipe"));
	hdclient_free(c);
	close(lfd);
	unlink(sa.sun_path);
	rmdir(dir);
}

static void test_closed_mid_reply(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { "{\"parameters\":{" }, .no_nul = true, .after = FAKE_CLOSE },
	};
	struct fake_server *f;
	struct hdclient *c = connect_fake(&f, steps, 1);

	expect_failure(c, ECONNRESET, HDCLIENT_IO, "closed the connection");
	hdclient_free(c);
	fake_free(f);
}

static void test_invalid_reply(void **state)
{
	static const struct fake_step steps[] = { { .replies = { "not json" } } };
	struct fake_server *f;
	struct hdclient *c = connect_fake(&f, steps, 1);

	expect_failure(c, EPROTO, HDCLIENT_PROTOCOL,
		       "reply to io.hostdevd.GetStatus is invalid: message is not valid JSON");
	hdclient_free(c);
	fake_free(f);
}

static void test_reply_too_large(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { "{\"parameters\":{\"version\":\"a string far longer than the "
			       "sixty-four bytes this client accepts\"}}" } },
	};
	struct fake_server *f;
	struct hdclient *c = connect_fake(&f, steps, 1);

	hdclient_set_max_reply(c, 64);
	expect_failure(c, EMSGSIZE, HDCLIENT_PROTOCOL, "larger than 64 bytes");
	hdclient_free(c);
	fake_free(f);
}

static void test_unterminated_reply_too_large(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { "{\"parameters\":{\"version\":\"endless" }, .no_nul = true,
		  .after = FAKE_SILENT },
	};
	struct fake_server *f;
	struct hdclient *c = connect_fake(&f, steps, 1);

	hdclient_set_max_reply(c, 16);
	expect_failure(c, EMSGSIZE, HDCLIENT_PROTOCOL, "larger than 16 bytes");
	hdclient_free(c);
	fake_free(f);
}

static void test_stream_reply_to_plain_call(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { "{\"parameters\":{},\"continues\":true}" } },
	};
	struct fake_server *f;
	struct hdclient *c = connect_fake(&f, steps, 1);

	expect_failure(c, EPROTO, HDCLIENT_PROTOCOL, "streaming reply to io.hostdevd.GetStatus");
	hdclient_free(c);
	fake_free(f);
}

static void expect_connect_failure(const char *path, int errnum, const char *words)
{
	struct hdclient_error err;

	assert_null(hdclient_connect(path, &err));
	assert_int_equal(err.failure, HDCLIENT_CONNECT);
	assert_int_equal(err.errnum, errnum);
	assert_non_null(strstr(err.message, words));
}

static void test_connect_failures(void **state)
{
	char *missing = fake_missing_socket_path(), *refusing = fake_refusing_socket_path();
	char long_path[200];

	memset(long_path, 'x', sizeof(long_path) - 1);
	long_path[0] = '/';
	long_path[sizeof(long_path) - 1] = '\0';
	expect_connect_failure(missing, ENOENT, "No such file or directory");
	expect_connect_failure(refusing, ECONNREFUSED, "Connection refused");
	expect_connect_failure(long_path, ENAMETOOLONG, "longer than the 107 bytes");
	expect_connect_failure("", EINVAL, "no socket path");
	expect_connect_failure(NULL, EINVAL, "no socket path");
	fake_remove_path(missing);
	fake_remove_path(refusing);
}

static pthread_t main_thread;

static void test_signal_interrupts_stream_only(void **state)
{
	struct fake_step steps[] = {
		{ .replies = { "{\"parameters\":{\"version\":\"0.1.0\"}}" } },
		{ .replies = { "{\"parameters\":{\"sequence\":1},\"continues\":true}" } },
	};
	struct sigaction sa = { .sa_handler = on_usr1 };
	struct fake_server *f;
	struct hdclient *c;
	json_object *reply;
	const char *error;
	bool continues;

	main_thread = pthread_self();
	for (size_t i = 0; i < 2; i++) {
		steps[i].signal_thread = &main_thread;
		steps[i].signal_tid = gettid();
		steps[i].signal_count = &usr1_count;
		steps[i].signals = 1;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	usr1_count = 0;
	c = connect_fake(&f, steps, 2);
	/* A plain call rides over the signal and still gets its reply. */
	assert_int_equal(hdclient_call(c, "io.hostdevd.GetStatus", NULL, &reply, &error), 0);
	assert_null(error);
	assert_int_equal(usr1_count, 1);
	/* A stream hands the interruption to the caller, intact. */
	assert_int_equal(hdclient_call_more(c, "io.hostdevd.Watch", NULL), 0);
	assert_int_equal(hdclient_next(c, &reply, &error, &continues), -EINTR);
	assert_int_equal(usr1_count, 2);
	assert_int_equal(hdclient_next(c, &reply, &error, &continues), 0);
	assert_true(continues);
	hdclient_free(c);
	fake_free(f);
	signal(SIGUSR1, SIG_DFL);
}

/* How many of this process's descriptors are open on `path`. */
static size_t open_on(const char *path)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		char link[300], target[PATH_MAX];
		ssize_t len;

		snprintf(link, sizeof(link), "/proc/self/fd/%s", de->d_name);
		len = readlink(link, target, sizeof(target) - 1);
		if (len < 0)
			continue;
		target[len] = '\0';
		n += strcmp(target, path) == 0;
	}
	closedir(d);
	return n;
}

/* A reply's descriptor (SCM_RIGHTS, as OpenDevice sends it) is the caller's
 * by index once taken, once only; one nobody takes is closed when the next
 * reply is read, or with the connection. */
static void test_reply_descriptors(void **state)
{
	char path[] = "/tmp/hdclient-fd.XXXXXX";
	int tmp = mkstemp(path);
	struct fake_step steps[4] = { 0 };
	struct fake_server *f;
	struct hdclient *c;
	json_object *reply;
	const char *error;
	struct stat a, b;
	int fd;

	assert_true(tmp >= 0);
	close(tmp);
	for (size_t i = 0; i < 4; i++) {
		steps[i].replies[0] = "{\"parameters\":{\"fd_index\":0}}";
		steps[i].fd_paths[0] = i == 2 ? NULL : path;
	}
	steps[2].replies[0] = "{\"parameters\":{}}";
	c = connect_fake(&f, steps, 4);
	assert_int_equal(hdclient_call(c, "io.hostdevd.OpenDevice", NULL, &reply, &error), 0);
	assert_null(error);
	fd = hdclient_take_fd(c, 0);
	assert_true(fd >= 0);
	assert_int_equal(hdclient_take_fd(c, 0), -EBADF);
	assert_int_equal(hdclient_take_fd(c, 1), -EBADF);
	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(stat(path, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	/* Not taken: gone once the next reply is read. */
	assert_int_equal(hdclient_call(c, "io.hostdevd.OpenDevice", NULL, &reply, &error), 0);
	assert_int_equal(hdclient_call(c, "io.hostdevd.GetStatus", NULL, &reply, &error), 0);
	assert_int_equal(hdclient_take_fd(c, 0), -EBADF);
	assert_int_equal(open_on(path), 1); /* ours, taken */
	/* Not taken: gone with the connection. */
	assert_int_equal(hdclient_call(c, "io.hostdevd.OpenDevice", NULL, &reply, &error), 0);
	hdclient_free(c);
	fake_stop(f);
	assert_int_equal(open_on(path), 1);
	close(fd);
	assert_int_equal(open_on(path), 0);
	fake_free(f);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_call_returns_parameters),
		cmocka_unit_test(test_varlink_error_keeps_connection),
		cmocka_unit_test(test_stream_split_bytewise),
		cmocka_unit_test(test_call_during_stream_refused),
		cmocka_unit_test(test_error_ends_stream),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_closed_before_reply),
		cmocka_unit_test(test_refused_at_accept),
		cmocka_unit_test(test_hung_up_at_accept),
		cmocka_unit_test(test_closed_mid_reply),
		cmocka_unit_test(test_invalid_reply),
		cmocka_unit_test(test_reply_too_large),
		cmocka_unit_test(test_unterminated_reply_too_large),
		cmocka_unit_test(test_stream_reply_to_plain_call),
		cmocka_unit_test(test_connect_failures),
		cmocka_unit_test(test_signal_interrupts_stream_only),
		cmocka_unit_test(test_reply_descriptors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
