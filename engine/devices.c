/* devices.c: the NVIDIA GPUs this machine has, through the driver API of
 * libcuda.so.1, loaded at run time. No CUDA toolkit is needed to build this
 * and no driver to run it: the calls are declared here from the driver API's
 * documented signatures, and a machine without the library has no GPU. */
#include "error.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The driver API's types, as it defines them (a device is an ordinal). */
typedef int cu_result;
typedef int cu_device;
typedef struct {
    unsigned char bytes[16];
} cu_uuid;

enum {
    CU_SUCCESS = 0,
    CU_ERROR_STUB_LIBRARY = 34, /* the toolkit's link stub, not a driver */
    CU_ERROR_NO_DEVICE = 100,
    CU_ATTR_PCI_BUS_ID = 33,
    CU_ATTR_PCI_DEVICE_ID = 34,
    CU_ATTR_CC_MAJOR = 75,
    CU_ATTR_CC_MINOR = 76,
    CU_ATTR_PCI_DOMAIN_ID = 50,
};

typedef struct {
    cu_result (*init)(unsigned flags);
    cu_result (*count)(int *n);
    cu_result (*get)(cu_device *dev, int ordinal);
    cu_result (*name)(char *name, int len, cu_device dev);
    cu_result (*total_mem)(size_t *bytes, cu_device dev);
    cu_result (*attribute)(int *value, int attribute, cu_device dev);
    cu_result (*uuid)(cu_uuid *uuid, cu_device dev); /* _v2 where the driver has it */
    cu_result (*error_name)(cu_result r, const char **name);
} driver;

/* dlsym returns void *; ISO C has no conversion to a function pointer, POSIX
 * guarantees this one. */
static void load(void *lib, const char *symbol, void *slot)
{
    void *p = dlsym(lib, symbol);
    memcpy(slot, &p, sizeof p);
}

static void set_reason(char *reason, size_t cap, const char *text)
{
    if (reason && cap)
        snprintf(reason, cap, "%s", text);
}

static sl_status driver_error(const driver *d, sl_error *err, const char *call, cu_result r)
{
    const char *name = NULL;
    if (!d->error_name || d->error_name(r, &name) != CU_SUCCESS || !name)
        name = "unknown error";
    return sl_fail(err, SL_ERR_IO, "the NVIDIA driver failed: %s returned %d (%s)", call, r, name);
}

static void format_uuid(char *out, size_t cap, const cu_uuid *u)
{
    const unsigned char *b = u->bytes;
    snprintf(out, cap,
             "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

static sl_status describe(const driver *d, int ordinal, sl_device_info *info, sl_error *err)
{
    memset(info, 0, sizeof *info);
    info->index = ordinal;
    cu_device dev = 0;
    cu_result r = d->get(&dev, ordinal);
    if (r != CU_SUCCESS)
        return driver_error(d, err, "cuDeviceGet", r);
    if ((r = d->name(info->name, (int)sizeof info->name, dev)) != CU_SUCCESS)
        return driver_error(d, err, "cuDeviceGetName", r);
    info->name[sizeof info->name - 1] = '\0';
    size_t bytes = 0;
    if ((r = d->total_mem(&bytes, dev)) != CU_SUCCESS)
        return driver_error(d, err, "cuDeviceTotalMem_v2", r);
    info->total_bytes = bytes;
    if ((r = d->attribute(&info->cc_major, CU_ATTR_CC_MAJOR, dev)) != CU_SUCCESS ||
        (r = d->attribute(&info->cc_minor, CU_ATTR_CC_MINOR, dev)) != CU_SUCCESS)
        return driver_error(d, err, "cuDeviceGetAttribute", r);
    int domain = 0, bus = 0, slot = 0;
    if (d->attribute(&domain, CU_ATTR_PCI_DOMAIN_ID, dev) == CU_SUCCESS &&
        d->attribute(&bus, CU_ATTR_PCI_BUS_ID, dev) == CU_SUCCESS &&
        d->attribute(&slot, CU_ATTR_PCI_DEVICE_ID, dev) == CU_SUCCESS)
        snprintf(info->pci_bus_id, sizeof info->pci_bus_id, "%08X:%02X:%02X.0", (unsigned)domain,
                 (unsigned)bus, (unsigned)slot);
    /* The UUID is the id to keep in settings: ordinals change with
     * CUDA_VISIBLE_DEVICES and the device order, the UUID never does. Old
     * drivers without it fall back on the PCI address, which is stable too. */
    cu_uuid u;
    if (d->uuid && d->uuid(&u, dev) == CU_SUCCESS)
        format_uuid(info->id, sizeof info->id, &u);
    else if (info->pci_bus_id[0])
        snprintf(info->id, sizeof info->id, "PCI-%s", info->pci_bus_id);
    else
        snprintf(info->id, sizeof info->id, "CUDA-%d", ordinal);
    return SL_OK;
}

sl_status sl_devices_list(sl_device_info *out, int cap, int *n_found, char *reason,
                          size_t reason_cap, sl_error *err)
{
    if (!n_found || cap < 0 || (cap > 0 && !out))
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT,
                       "sl_devices_list: n_found is NULL, or cap < 0, or out is NULL with cap > 0");
    *n_found = 0;
    set_reason(reason, reason_cap, "");
    const char *path = getenv("SIGHTLINE_LIBCUDA");
    if (!path || !*path)
        path = "libcuda.so.1";
    /* Never closed: the driver keeps threads and state that do not survive
     * being unloaded, and a second dlopen only takes another reference. */
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        set_reason(reason, reason_cap, "no NVIDIA driver found");
        return SL_OK;
    }
    driver d = {0};
    load(lib, "cuInit", &d.init);
    load(lib, "cuDeviceGetCount", &d.count);
    load(lib, "cuDeviceGet", &d.get);
    load(lib, "cuDeviceGetName", &d.name);
    load(lib, "cuDeviceTotalMem_v2", &d.total_mem);
    load(lib, "cuDeviceGetAttribute", &d.attribute);
    load(lib, "cuDeviceGetUuid_v2", &d.uuid);
    if (!d.uuid)
        load(lib, "cuDeviceGetUuid", &d.uuid);
    load(lib, "cuGetErrorName", &d.error_name);
    if (!d.init || !d.count || !d.get || !d.name || !d.total_mem || !d.attribute)
        return sl_fail(err, SL_ERR_UNSUPPORTED,
                       "%s lacks calls Sightline needs (cuInit, cuDeviceGetCount, cuDeviceGet, "
                       "cuDeviceGetName, cuDeviceTotalMem_v2, cuDeviceGetAttribute): the NVIDIA "
                       "driver is too old",
                       path);
    cu_result r = d.init(0);
    if (r == CU_ERROR_NO_DEVICE) {
        set_reason(reason, reason_cap, "the driver found no GPU");
        return SL_OK;
    }
    if (r == CU_ERROR_STUB_LIBRARY) {
        set_reason(reason, reason_cap, "no NVIDIA driver found (only the CUDA toolkit's stub library)");
        return SL_OK;
    }
    if (r != CU_SUCCESS)
        return driver_error(&d, err, "cuInit", r);
    int n = 0;
    if ((r = d.count(&n)) != CU_SUCCESS)
        return driver_error(&d, err, "cuDeviceGetCount", r);
    if (n < 0)
        return sl_fail(err, SL_ERR_IO, "the NVIDIA driver failed: cuDeviceGetCount gave %d devices", n);
    if (n == 0) {
        set_reason(reason, reason_cap, "the driver found no GPU");
        return SL_OK;
    }
    for (int i = 0; i < n && i < cap; i++) {
        sl_status st = describe(&d, i, &out[i], err);
        if (st != SL_OK)
            return st;
    }
    *n_found = n;
    return SL_OK;
}
