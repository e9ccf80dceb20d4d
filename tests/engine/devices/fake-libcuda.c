/* fake-libcuda.c: a stand-in for the NVIDIA driver library, so that device
 * discovery is tested on machines without a GPU. $FAKE_CUDA picks what it
 * does: "two" (two GPUs), "none" (cuInit says no device), "zero" (cuInit
 * succeeds, no devices), "broken" (cuInit fails with 999), "name-fails"
 * (cuDeviceGetName fails with 101 on the second GPU), "no-uuid" (the UUID
 * call fails, so the PCI address is the id). Not the real API's headers:
 * the signatures sightline's engine declares. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef int cu_result;

static const char *mode(void)
{
    const char *m = getenv("FAKE_CUDA");
    return m ? m : "two";
}

cu_result cuInit(unsigned flags);
cu_result cuDeviceGetCount(int *n);
cu_result cuDeviceGet(int *dev, int ordinal);
cu_result cuDeviceGetName(char *name, int len, int dev);
cu_result cuDeviceTotalMem_v2(size_t *bytes, int dev);
cu_result cuDeviceGetAttribute(int *value, int attribute, int dev);
cu_result cuDeviceGetUuid_v2(unsigned char uuid[16], int dev);
cu_result cuGetErrorName(cu_result r, const char **name);

cu_result cuInit(unsigned flags)
{
    if (flags != 0)
        return 1;
    if (!strcmp(mode(), "none"))
        return 100;
    if (!strcmp(mode(), "broken"))
        return 999;
    return 0;
}

cu_result cuDeviceGetCount(int *n)
{
    *n = !strcmp(mode(), "zero") ? 0 : 2;
    return 0;
}

cu_result cuDeviceGet(int *dev, int ordinal)
{
    if (ordinal < 0 || ordinal > 1)
        return 101;
    *dev = ordinal + 10; /* handles need not equal ordinals */
    return 0;
}

cu_result cuDeviceGetName(char *name, int len, int dev)
{
    if (dev == 11 && !strcmp(mode(), "name-fails"))
        return 101;
    /* A name longer than the buffer: the driver truncates and terminates. */
    const char *n = dev == 10 ? "Fake GPU Alpha <A&B>" : "Fake GPU Beta with a very long name that goes on "
                                                   "and on past the end of the caller's buffer of "
                                                   "one hundred and twenty-eight bytes, surely";
    strncpy(name, n, (size_t)len - 1);
    name[len - 1] = '\0';
    return 0;
}

cu_result cuDeviceTotalMem_v2(size_t *bytes, int dev)
{
    *bytes = dev == 10 ? (size_t)85520809984ull : (size_t)25769803776ull;
    return 0;
}

cu_result cuDeviceGetAttribute(int *value, int attribute, int dev)
{
    switch (attribute) {
    case 75: *value = dev == 10 ? 9 : 8; return 0;   /* compute capability major */
    case 76: *value = dev == 10 ? 0 : 6; return 0;   /* minor */
    case 33: *value = dev == 10 ? 0x3b : 0xc1; return 0; /* PCI bus */
    case 34: *value = 0; return 0;                    /* PCI device */
    case 50: *value = 0; return 0;                    /* PCI domain */
    }
    return 1;
}

cu_result cuDeviceGetUuid_v2(unsigned char uuid[16], int dev)
{
    if (!strcmp(mode(), "no-uuid"))
        return 801;
    for (int i = 0; i < 16; i++)
        uuid[i] = (unsigned char)(dev * 16 + i);
    return 0;
}

cu_result cuGetErrorName(cu_result r, const char **name)
{
    *name = r == 999 ? "CUDA_ERROR_UNKNOWN" : r == 101 ? "CUDA_ERROR_INVALID_DEVICE" : "CUDA_ERROR_OTHER";
    return 0;
}
