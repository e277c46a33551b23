/* The standard service interface every Varlink service implements
 * (org.varlink.service): GetInfo and GetInterfaceDescription. */
#include "daemon/methods.h"
#include "common/util.h"

#include <string.h>

#ifndef HOSTDEVD_URL
/* The build may name the project's home page; GetInfo requires a string. */
#define HOSTDEVD_URL ""
#endif

#define SERVICE_INTERFACE "org.varlink.service"
#define HOSTDEVD_INTERFACE "io.hostdevd"

/* The standard service interface every Varlink service implements. */
static const char service_description[] =
	"# The Varlink Service Interface is provided by every varlink service. It\n"
	"# describes the service and the interfaces it implements.\n"
	"interface org.varlink.service\n"
	"\n"
	"# Get a list of all the interfaces a service provides and information\n"
	"# about the implementation.\n"
	"method GetInfo() -> (\n"
	"  vendor: string,\n"
	"  product: string,\n"
	"  version: string,\n"
	"  url: string,\n"
	"  interfaces: []string\n"
	")\n"
	"\n"
	"# Get the description of an interface that is implemented by this service.\n"
	"method GetInterfaceDescription(interface: string) -> (description: string)\n"
	"\n"
	"# The requested interface was not found.\n"
	"error InterfaceNotFound (interface: string)\n"
	"\n"
	"# The requested method was not found\n"
	"error MethodNotFound (method: string)\n"
	"\n"
	"# The interface defines the requested method, but the service does not\n"
	"# implement it.\n"
	"error MethodNotImplemented (method: string)\n"
	"\n"
	"# One of the passed parameters is invalid.\n"
	"error InvalidParameter (parameter: string)\n"
	"\n"
	"# Client is denied access\n"
	"error PermissionDenied ()\n"
	"\n"
	"# Method is expected to be called with 'more' set to true, but wasn't\n"
	"error ExpectedMore ()\n";

static json_object *string_array(const char *const *v, size_t n)
{
	json_object *arr = json_object_new_array_ext((int)n);

	for (size_t i = 0; i < n; i++)
		json_object_array_add(arr, json_object_new_string(v[i]));
	return arr;
}

struct interface_def {
	const char *name;
	const char *description;
	const size_t *length;
};

static const size_t service_description_len = sizeof(service_description) - 1;

static const struct interface_def interfaces[] = {
	{ SERVICE_INTERFACE, service_description, &service_description_len },
	{ HOSTDEVD_INTERFACE, hostdevd_idl, &hostdevd_idl_len },
};

static const struct interface_def *interface_find(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(interfaces); i++)
		if (strlen(interfaces[i].name) == len && memcmp(interfaces[i].name, name, len) == 0)
			return &interfaces[i];
	return NULL;
}

static void method_get_info(struct methods_ctx *ctx, struct server_call *call, json_object *params)
{
	const char *names[ARRAY_SIZE(interfaces)];
	json_object *r = json_object_new_object();

	for (size_t i = 0; i < ARRAY_SIZE(interfaces); i++)
		names[i] = interfaces[i].name;
	json_object_object_add(r, "vendor", json_object_new_string("hostdevd"));
	json_object_object_add(r, "product", json_object_new_string("hostdevd"));
	json_object_object_add(r, "version", json_object_new_string(HOSTDEVD_VERSION));
	json_object_object_add(r, "url", json_object_new_string(HOSTDEVD_URL));
	json_object_object_add(r, "interfaces", string_array(names, ARRAY_SIZE(names)));
	server_call_reply(call, r, false);
}

static void method_get_interface_description(struct methods_ctx *ctx, struct server_call *call,
					     json_object *params)
{
	const char *name = NULL;
	const struct interface_def *iface;
	json_object *r;

	vl_param_string(params, "interface", &name);
	iface = interface_find(name, strlen(name));
	if (!iface) {
		struct hd_err e;

		err_set(&e, HDE_INTERFACE_NOT_FOUND, NULL);
		e.name = name;
		server_call_err(call, &e);
		return;
	}
	r = json_object_new_object();
	json_object_object_add(r, "description",
			       json_object_new_string_len(iface->description, (int)*iface->length));
	server_call_reply(call, r, false);
}

bool methods_interface_known(const char *name, size_t len)
{
	return interface_find(name, len) != NULL;
}

static const struct param_def interface_params[] = {
	{ "interface", PARAM_STRING, true },
	{ NULL },
};

const struct method_def service_methods[] = {
	{ SERVICE_INTERFACE ".GetInfo", method_get_info, PERM_LIST, METHOD_ANY_PEER, NULL },
	{ SERVICE_INTERFACE ".GetInterfaceDescription", method_get_interface_description,
	  PERM_LIST, METHOD_ANY_PEER, interface_params },
	{ NULL },
};
