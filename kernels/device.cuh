// device.cuh: what the launchers ask of the device they run on (device.cu).
#ifndef SL_DEVICE_CUH
#define SL_DEVICE_CUH

#include <cuda_runtime_api.h>

// Whether the current device is sm_90 (Hopper), where the wgmma kernels run;
// asked once a device.
bool sl_device_is_sm90();

#endif
