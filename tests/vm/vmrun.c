/* vmrun: boots the real-kernel test VM for one scenario and drives it.
 *
 * QEMU (TCG, no KVM) boots Debian's kernel with the initramfs of
 * tests/vm/prepare.sh on a q35 machine with an emulated Intel IOMMU, two
 * e1000e NICs on PCIe root ports, a pcie-pci-bridge with two e1000 sharing
 * one IOMMU group, an xHCI controller with a keyboard, and a SATA disk on
 * the AHCI controller.  The guest's /init runs the scenario and speaks on
 * the serial console in "@@ " lines (tests/vm/guest/lib.sh): vmrun reads
 * them from QEMU's stdout, carries out the QMP requests (hot-plug) in order
 * on its QMP connection, waiting for DEVICE_DELETED after a device_del, and
 * takes the verdict from "DONE fails=N".  On failure it prints the whole
 * console.  QEMU dies with vmrun (PR_SET_PDEATHSIG) and is killed at the
 * deadline; nothing is left running.
 *
 * usage: vmrun --kernel FILE --initrd FILE --scenario NAME
 *              [--timeout SECONDS] [--append ARGS] [--smp CPUS] [--keep] [--verbose]
 * Exit: 0 the scenario passed, 1 it failed or did not finish, 2 usage. */
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DISK_BYTES (32 << 20)
#define MAX_QUEUE 64

struct options {
	const char *kernel, *initrd, *scenario, *append;
	const char *smp;
	int timeout_s;
	bool keep, verbose;
};

struct vm {
	struct options o;
	char dir[64];
	pid_t qemu;
	int console;  /* QEMU's stdout: the guest's serial console */
	int qmp_listen, qmp;
	FILE *log;    /* console.log */
	char line[4096];
	size_t line_len;
	char qbuf[65536]; /* QMP bytes not yet a whole message */
	size_t qlen;
	char *queue[MAX_QUEUE]; /* QMP requests from the guest, in order */
	size_t q_head, q_tail;
	bool in_flight;            /* a command sent, its return not read */
	char awaiting_delete[64];  /* a device_del's id, until DEVICE_DELETED */
	int fails;                 /* from DONE; -1 until then */
	int harness_errors;
	struct timespec start;
};

static double elapsed(const struct vm *vm)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - vm->start.tv_sec) + (now.tv_nsec - vm->start.tv_nsec) / 1e9;
}

static void say(const struct vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const struct vm *vm, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vmrun %6.2fs: ", elapsed(vm));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void harness_error(struct vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void harness_error(struct vm *vm, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	say(vm, "ERROR: %s", msg);
	vm->harness_errors++;
}

/* ---- QEMU ------------------------------------------------------------- */

static int listen_unix(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (strlen(path) >= sizeof(a.sun_path)) {
		fprintf(stderr, "vmrun: socket path too long: %s\n", path);
		exit(1);
	}
	memcpy(a.sun_path, path, strlen(path) + 1);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 1) < 0) {
		perror(path);
		exit(1);
	}
	return fd;
}

static void make_disk(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || ftruncate(fd, DISK_BYTES) < 0) {
		perror(path);
		exit(1);
	}
	close(fd);
}

/* The machine every scenario boots.  QEMU learns nothing of the host's
 * devices: everything here is emulated. */
static void exec_qemu(const struct vm *vm)
{
	char append[1024], qmp[128], disk[128], kernel_arg[1024], initrd_arg[1024];
	const char *argv[80];
	size_t n = 0;

	/* no_timer_check: under TCG on a loaded host the kernel's check that
	 * the timer interrupt arrives through the interrupt-remapped IO-APIC
	 * can time out, and it panics ("timer doesn't work through
	 * Interrupt-remapped IO-APIC"): seen when other guests and builds
	 * shared the two cores.  The check proves nothing about hostdevd. */
	snprintf(append, sizeof(append),
		 "console=ttyS0 intel_iommu=on iommu=pt panic=-1 quiet loglevel=3 no_timer_check "
		 "hdvm.scenario=%s %s",
		 vm->o.scenario, vm->o.append ? vm->o.append : "");
	snprintf(qmp, sizeof(qmp), "unix:%s/qmp.sock", vm->dir);
	snprintf(disk, sizeof(disk), "file=%s/disk.img,format=raw,if=none,id=disk0", vm->dir);
	snprintf(kernel_arg, sizeof(kernel_arg), "%s", vm->o.kernel);
	snprintf(initrd_arg, sizeof(initrd_arg), "%s", vm->o.initrd);
#define A(...)                                                                     \
	do {                                                                       \
		const char *args_[] = { __VA_ARGS__ };                             \
		for (size_t i_ = 0; i_ < ARRAY_SIZE(args_); i_++)                  \
			argv[n++] = args_[i_];                                     \
	} while (0)
	A("qemu-system-x86_64", "-machine", "q35,kernel-irqchip=split", "-accel",
	  "tcg,thread=multi", "-cpu", "max", "-m", "512", "-smp", vm->o.smp, "-nodefaults",
	  "-display", "none", "-no-reboot", "-no-user-config");
	/* The IOMMU must come before the devices it translates for. */
	A("-device", "intel-iommu,intremap=on");
	A("-kernel", kernel_arg, "-initrd", initrd_arg, "-append", append);
	/* x-speed=5: with QEMU 7.2's ACPI hot-plug a secondary bus reset
	 * fails on a faster link. */
	A("-device", "pcie-root-port,id=rp1,chassis=1,slot=1,x-speed=5", "-device",
	  "e1000e,bus=rp1,id=nic0,romfile=");
	A("-device", "pcie-root-port,id=rp2,chassis=2,slot=2,x-speed=5", "-device",
	  "e1000e,bus=rp2,id=nic1,romfile=");
	/* Behind a PCIe-to-PCI bridge there is no isolation: one group. */
	A("-device", "pcie-pci-bridge,id=br1,bus=pcie.0", "-device",
	  "e1000,bus=br1,addr=1,id=gnic0,romfile=", "-device", "e1000,bus=br1,addr=2,id=gnic1,romfile=");
	A("-device", "qemu-xhci,id=xhci", "-device", "usb-kbd,bus=xhci.0,id=kbd0");
	A("-drive", disk, "-device", "ide-hd,drive=disk0,bus=ide.0");
	A("-serial", "stdio", "-qmp", qmp);
#undef A
	argv[n] = NULL;
	execvp(argv[0], (char *const *)argv);
	perror("qemu-system-x86_64");
	_exit(127);
}

static void start_qemu(struct vm *vm)
{
	int out[2], err;
	char path[128];

	if (pipe2(out, O_CLOEXEC) < 0) {
		perror("pipe");
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/qemu.err", vm->dir);
	vm->qemu = fork();
	if (vm->qemu < 0) {
		perror("fork");
		exit(1);
	}
	if (vm->qemu == 0) {
		/* Never outlive the harness, whatever kills it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		err = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(out[1], 1);
		if (err >= 0)
			dup2(err, 2);
		close(0);
		if (open("/dev/null", O_RDONLY) != 0)
			_exit(127);
		exec_qemu(vm);
	}
	close(out[1]);
	vm->console = out[0];
	say(vm, "qemu pid %d, scenario %s, work dir %s", (int)vm->qemu, vm->o.scenario, vm->dir);
}

static void stop_qemu(struct vm *vm)
{
	int status;

	if (vm->qemu <= 0)
		return;
	if (waitpid(vm->qemu, &status, WNOHANG) == 0) {
		kill(vm->qemu, SIGKILL);
		waitpid(vm->qemu, &status, 0);
	}
	vm->qemu = 0;
}

/* ---- QMP -------------------------------------------------------------- */

static void qmp_send(struct vm *vm, const char *text)
{
	size_t len = strlen(text), off = 0;

	if (vm->o.verbose)
		say(vm, "qmp <- %s", text);
	while (off < len) {
		ssize_t w = write(vm->qmp, text + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			harness_error(vm, "writing to QMP: %s", strerror(errno));
			return;
		}
		off += (size_t)w;
	}
	if (write(vm->qmp, "\n", 1) != 1)
		harness_error(vm, "writing to QMP: %s", strerror(errno));
}

/* The next guest request, as a QMP command: "device_add {json}" or
 * "device_del ID".  NULL (and an error counted) for anything else. */
static json_object *request_command(struct vm *vm, const char *req)
{
	json_object *cmd = json_object_new_object(), *args;

	if (strncmp(req, "device_add ", 11) == 0) {
		args = json_tokener_parse(req + 11);
		if (!args || !json_object_is_type(args, json_type_object)) {
			json_object_put(args);
			json_object_put(cmd);
			harness_error(vm, "guest asked for device_add with bad JSON: %s", req);
			return NULL;
		}
	} else if (strncmp(req, "device_del ", 11) == 0) {
		args = json_object_new_object();
		json_object_object_add(args, "id", json_object_new_string(req + 11));
		snprintf(vm->awaiting_delete, sizeof(vm->awaiting_delete), "%s", req + 11);
	} else {
		json_object_put(cmd);
		harness_error(vm, "guest asked for an unknown QMP request: %s", req);
		return NULL;
	}
	json_object_object_add(cmd, "execute",
			       json_object_new_string_len(req, (int)strcspn(req, " ")));
	json_object_object_add(cmd, "arguments", args);
	return cmd;
}

/* Sends the next queued request when nothing is outstanding. */
static void qmp_pump(struct vm *vm)
{
	while (!vm->in_flight && !vm->awaiting_delete[0] && vm->q_head != vm->q_tail) {
		char *req = vm->queue[vm->q_head++ % MAX_QUEUE];
		json_object *cmd = request_command(vm, req);

		say(vm, "guest asks: %s", req);
		free(req);
		if (!cmd)
			continue;
		qmp_send(vm, json_object_to_json_string_ext(cmd, JSON_C_TO_STRING_PLAIN));
		json_object_put(cmd);
		vm->in_flight = true;
	}
}

static void qmp_message(struct vm *vm, json_object *msg)
{
	json_object *v, *data, *dev;

	if (vm->o.verbose)
		say(vm, "qmp -> %s", json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN));
	if (json_object_object_get_ex(msg, "return", &v)) {
		vm->in_flight = false;
	} else if (json_object_object_get_ex(msg, "error", &v)) {
		vm->in_flight = false;
		vm->awaiting_delete[0] = '\0';
		harness_error(vm, "QMP refused the request: %s",
			      json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	} else if (json_object_object_get_ex(msg, "event", &v) &&
		   streq(json_object_get_string(v), "DEVICE_DELETED") &&
		   json_object_object_get_ex(msg, "data", &data) &&
		   json_object_object_get_ex(data, "device", &dev) &&
		   streq(json_object_get_string(dev), vm->awaiting_delete)) {
		say(vm, "QEMU deleted %s", vm->awaiting_delete);
		vm->awaiting_delete[0] = '\0';
	}
	qmp_pump(vm);
}

/* QMP messages are JSON objects, one per line. */
static bool qmp_read(struct vm *vm)
{
	ssize_t r = read(vm->qmp, vm->qbuf + vm->qlen, sizeof(vm->qbuf) - vm->qlen - 1);
	char *start, *nl;

	if (r <= 0)
		return false;
	vm->qlen += (size_t)r;
	vm->qbuf[vm->qlen] = '\0';
	start = vm->qbuf;
	while ((nl = strchr(start, '\n'))) {
		json_object *msg;

		*nl = '\0';
		msg = json_tokener_parse(start);
		if (msg)
			qmp_message(vm, msg);
		json_object_put(msg);
		start = nl + 1;
	}
	vm->qlen -= (size_t)(start - vm->qbuf);
	memmove(vm->qbuf, start, vm->qlen);
	if (vm->qlen == sizeof(vm->qbuf) - 1) {
		harness_error(vm, "a QMP message longer than %zu bytes", vm->qlen);
		vm->qlen = 0;
	}
	return true;
}

/* QEMU connects to our socket as it starts (it is the client); the
 * greeting is answered with qmp_capabilities, whose return qmp_message
 * consumes like any other. */
static void qmp_accept(struct vm *vm, int timeout_ms)
{
	struct pollfd p = { .fd = vm->qmp_listen, .events = POLLIN };

	if (poll(&p, 1, timeout_ms) != 1) {
		harness_error(vm, "QEMU did not connect to QMP within %d ms", timeout_ms);
		return;
	}
	vm->qmp = accept4(vm->qmp_listen, NULL, NULL, SOCK_CLOEXEC);
	if (vm->qmp < 0) {
		harness_error(vm, "accepting QMP: %s", strerror(errno));
		return;
	}
	qmp_send(vm, "{\"execute\":\"qmp_capabilities\"}");
	vm->in_flight = true;
}

/* ---- the console ------------------------------------------------------ */

static void guest_line(struct vm *vm, char *line)
{
	char *at = strstr(line, "@@ "), *tag, *rest;

	fprintf(vm->log, "%s\n", line);
	if (vm->o.verbose)
		fprintf(stderr, "guest| %s\n", line);
	if (!at)
		return;
	/* "@@ <uptime> TAG rest" */
	tag = strchr(at + 3, ' ');
	if (!tag)
		return;
	tag++;
	rest = strchr(tag, ' ');
	rest = rest ? rest + 1 : tag + strlen(tag);
	if (strncmp(tag, "QMP ", 4) == 0) {
		if (vm->q_tail - vm->q_head == MAX_QUEUE) {
			harness_error(vm, "more than %d QMP requests queued", MAX_QUEUE);
			return;
		}
		vm->queue[vm->q_tail++ % MAX_QUEUE] = xstrdup(rest);
		qmp_pump(vm);
	} else if (strncmp(tag, "BENCH ", 6) == 0) {
		/* A benchmark's figures: its output, on stdout. */
		printf("%s\n", rest);
		fflush(stdout);
	} else if (strncmp(tag, "DONE ", 5) == 0) {
		vm->fails = atoi(rest + strlen("fails="));
		say(vm, "guest done: %s", rest);
	} else if (strncmp(tag, "PASS ", 5) == 0 || strncmp(tag, "FAIL ", 5) == 0 ||
		   strncmp(tag, "READY ", 6) == 0 || strncmp(tag, "BOOTED ", 7) == 0) {
		if (!vm->o.verbose)
			say(vm, "guest: %.*s%s", (int)(strlen(tag) > 200 ? 200 : strlen(tag)), tag,
			    strlen(tag) > 200 ? "..." : "");
	}
}

/* Returns false at EOF: QEMU is gone. */
static bool console_read(struct vm *vm)
{
	char buf[4096];
	ssize_t r = read(vm->console, buf, sizeof(buf));

	if (r <= 0)
		return false;
	for (ssize_t i = 0; i < r; i++) {
		char c = buf[i];

		if (c == '\r')
			continue;
		if (c == '\n' || vm->line_len == sizeof(vm->line) - 1) {
			vm->line[vm->line_len] = '\0';
			guest_line(vm, vm->line);
			vm->line_len = 0;
			if (c == '\n')
				continue;
		}
		vm->line[vm->line_len++] = c;
	}
	return true;
}

static void dump_console(struct vm *vm)
{
	char path[128], buf[4096];
	size_t n;
	FILE *f;

	fflush(vm->log);
	snprintf(path, sizeof(path), "%s/console.log", vm->dir);
	f = fopen(path, "r");
	if (!f)
		return;
	fprintf(stderr, "==== guest console (%s) ====\n", vm->o.scenario);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	fclose(f);
	snprintf(path, sizeof(path), "%s/qemu.err", vm->dir);
	f = fopen(path, "r");
	if (f && (n = fread(buf, 1, sizeof(buf), f)) > 0) {
		fprintf(stderr, "==== qemu stderr ====\n");
		fwrite(buf, 1, n, stderr);
	}
	if (f)
		fclose(f);
	fprintf(stderr, "==== end ====\n");
}

/* ---- the run ---------------------------------------------------------- */

static void run(struct vm *vm)
{
	double deadline = vm->o.timeout_s;
	bool console_open = true;

	qmp_accept(vm, 30000);
	while (console_open && vm->fails < 0) {
		struct pollfd p[2] = { { .fd = vm->console, .events = POLLIN },
				       { .fd = vm->qmp, .events = POLLIN } };
		double left = deadline - elapsed(vm);

		if (left <= 0) {
			harness_error(vm, "the scenario did not finish within %d s", vm->o.timeout_s);
			return;
		}
		if (poll(p, vm->qmp >= 0 ? 2 : 1, (int)(left * 1000) + 1) < 0 && errno != EINTR)
			return;
		if (p[0].revents)
			console_open = console_read(vm);
		if (vm->qmp >= 0 && p[1].revents && !qmp_read(vm)) {
			close(vm->qmp);
			vm->qmp = -1;
		}
	}
	/* The guest powers off after DONE: read what it still prints. */
	while (console_open && elapsed(vm) < deadline) {
		struct pollfd p = { .fd = vm->console, .events = POLLIN };

		if (poll(&p, 1, 10000) <= 0)
			break;
		console_open = console_read(vm);
	}
	if (vm->fails < 0)
		harness_error(vm, "QEMU exited before the guest said DONE");
}

static void usage(int status)
{
	fprintf(status ? stderr : stdout,
		"usage: vmrun --kernel FILE --initrd FILE --scenario NAME [--timeout SECONDS]\n"
		"             [--append KERNEL_ARGS] [--smp CPUS] [--keep] [--verbose]\n"
		"Boots the hostdevd test VM (QEMU, TCG) for one scenario of tests/vm/scenarios\n"
		"and exits 0 when the guest reports no failure.\n");
	exit(status);
}

static void parse(struct options *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' }, { "initrd", required_argument, NULL, 'i' },
		{ "scenario", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' }, { "append", required_argument, NULL, 'a' },
		{ "keep", no_argument, NULL, 'K' },	      { "verbose", no_argument, NULL, 'v' },
		{ "smp", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },	      {},
	};
	int c;

	*o = (struct options){ .timeout_s = 240, .smp = "1" };
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'k': o->kernel = optarg; break;
		case 'i': o->initrd = optarg; break;
		case 's': o->scenario = optarg; break;
		case 't': o->timeout_s = atoi(optarg); break;
		case 'a': o->append = optarg; break;
		case 'K': o->keep = true; break;
		case 'v': o->verbose = true; break;
		case 'p': o->smp = optarg; break;
		case 'h': usage(0); break;
		default: usage(2);
		}
	}
	if (!o->kernel || !o->initrd || !o->scenario || o->timeout_s <= 0 || optind != argc)
		usage(2);
}

int main(int argc, char **argv)
{
	struct vm vm = { .fails = -1, .qmp = -1 };
	const char *tmp = getenv("TMPDIR");
	char path[128];
	int rc;

	parse(&vm.o, argc, argv);
	clock_gettime(CLOCK_MONOTONIC, &vm.start);
	signal(SIGPIPE, SIG_IGN);
	snprintf(vm.dir, sizeof(vm.dir), "%s/hdvm.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(vm.dir)) {
		perror(vm.dir);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/console.log", vm.dir);
	vm.log = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/disk.img", vm.dir);
	make_disk(path);
	snprintf(path, sizeof(path), "%s/qmp.sock", vm.dir);
	vm.qmp_listen = listen_unix(path);
	start_qemu(&vm);
	run(&vm);
	stop_qemu(&vm);
	rc = vm.fails == 0 && vm.harness_errors == 0 ? 0 : 1;
	say(&vm, "%s: %s", vm.o.scenario, rc == 0 ? "PASSED" : "FAILED");
	if (rc != 0)
		dump_console(&vm);
	fclose(vm.log);
	for (size_t i = vm.q_head; i < vm.q_tail; i++)
		free(vm.queue[i % MAX_QUEUE]);
	if (!vm.o.keep) {
		const char *files[] = { "console.log", "qemu.err", "disk.img", "qmp.sock" };

		for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
			snprintf(path, sizeof(path), "%s/%s", vm.dir, files[i]);
			unlink(path);
		}
		rmdir(vm.dir);
	}
	return rc;
}
