// device.cu: what the launchers ask of the device they run on.
#include "device.cuh"

// Compute capability 9.0 (Hopper) of the current device, asked once a device.
bool sl_device_is_sm90()
{
    static int known[64]; // 0 unknown, 1 yes, 2 no
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0)
        return false;
    if (dev < 64 && known[dev])
        return known[dev] == 1;
    int major = 0, minor = 0;
    bool yes = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) ==
                   cudaSuccess &&
               cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) ==
                   cudaSuccess &&
               major == 9 && minor == 0;
    if (dev < 64)
        known[dev] = yes ? 1 : 2;
    return yes;
}
