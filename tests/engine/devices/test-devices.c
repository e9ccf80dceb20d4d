/* test-devices.c: sl_devices_list against a stand-in driver library
 * (fake-libcuda.c), loaded through $SIGHTLINE_LIBCUDA: what it reports is
 * what the list holds; no driver, no device and a failing driver each give
 * their answer. The real driver is tested in tests/gpu against nvidia-smi. */
#include "../test-util.h"

static void use(const char *lib, const char *mode)
{
    setenv("SIGHTLINE_LIBCUDA", lib, 1);
    setenv("FAKE_CUDA", mode, 1);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test-devices FAKE-LIBCUDA.so\n");
        return 2;
    }
    const char *fake = argv[1];
    sl_device_info d[4];
    char reason[128];
    sl_error err = {0};
    int n = -1;

    /* Bad arguments. */
    CHECK(sl_devices_list(d, 4, NULL, reason, sizeof reason, &err) == SL_ERR_INVALID_ARGUMENT);
    CHECK(sl_devices_list(NULL, 4, &n, reason, sizeof reason, &err) == SL_ERR_INVALID_ARGUMENT);
    CHECK(sl_devices_list(d, -1, &n, reason, sizeof reason, &err) == SL_ERR_INVALID_ARGUMENT);

    /* No library at all. */
    use("/nonexistent/libcuda.so.1", "two");
    CHECK(sl_devices_list(d, 4, &n, reason, sizeof reason, &err) == SL_OK);
    CHECK(n == 0);
    CHECKF(!strcmp(reason, "no NVIDIA driver found"), "reason '%s'", reason);

    /* Two GPUs. */
    use(fake, "two");
    memset(reason, 'x', sizeof reason);
    CHECKF(sl_devices_list(d, 4, &n, reason, sizeof reason, &err) == SL_OK, "%s", err.message);
    CHECK(n == 2);
    CHECK(reason[0] == '\0');
    CHECK(d[0].index == 0 && d[1].index == 1);
    CHECK(!strcmp(d[0].name, "Fake GPU Alpha <A&B>"));
    CHECK(strlen(d[1].name) == sizeof d[1].name - 1 && !strncmp(d[1].name, "Fake GPU Beta", 13));
    CHECK(d[0].total_bytes == 85520809984ull && d[1].total_bytes == 25769803776ull);
    CHECK(d[0].cc_major == 9 && d[0].cc_minor == 0 && d[1].cc_major == 8 && d[1].cc_minor == 6);
    CHECKF(!strcmp(d[0].id, "GPU-a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf"), "id '%s'", d[0].id);
    CHECKF(!strcmp(d[1].id, "GPU-b0b1b2b3-b4b5-b6b7-b8b9-babbbcbdbebf"), "id '%s'", d[1].id);
    CHECKF(!strcmp(d[0].pci_bus_id, "00000000:3B:00.0"), "pci '%s'", d[0].pci_bus_id);

    /* Room for one: one filled, two counted. */
    sl_device_info one[2];
    memset(one, 0x5a, sizeof one);
    CHECK(sl_devices_list(one, 1, &n, NULL, 0, &err) == SL_OK);
    CHECK(n == 2 && !strcmp(one[0].name, "Fake GPU Alpha <A&B>"));
    CHECK(((unsigned char *)&one[1])[0] == 0x5a);
    CHECK(sl_devices_list(NULL, 0, &n, NULL, 0, &err) == SL_OK && n == 2);

    /* No UUID: the PCI address is the id. */
    use(fake, "no-uuid");
    CHECK(sl_devices_list(d, 4, &n, reason, sizeof reason, &err) == SL_OK && n == 2);
    CHECKF(!strcmp(d[1].id, "PCI-00000000:C1:00.0"), "id '%s'", d[1].id);

    /* The driver finds no device, in either way it can say so. */
    use(fake, "none");
    CHECK(sl_devices_list(d, 4, &n, reason, sizeof reason, &err) == SL_OK);
    CHECK(n == 0);
    CHECKF(!strcmp(reason, "the driver found no GPU"), "reason '%s'", reason);
    use(fake, "zero");
    CHECK(sl_devices_list(d, 4, &n, reason, sizeof reason, &err) == SL_OK);
    CHECK(n == 0 && !strcmp(reason, "the driver found no GPU"));

    /* A failing driver: an error with the call and its code. */
    use(fake, "broken");
    n = -1;
    CHECK(sl_devices_list(d, 4, &n, reason, sizeof reason, &err) == SL_ERR_IO);
    CHECK(n == 0);
    CHECKF(strstr(err.message, "cuInit") && strstr(err.message, "999") &&
               strstr(err.message, "CUDA_ERROR_UNKNOWN"),
           "message '%s'", err.message);
    use(fake, "name-fails");
    CHECK(sl_devices_list(d, 4, &n, reason, sizeof reason, &err) == SL_ERR_IO);
    CHECKF(strstr(err.message, "cuDeviceGetName") && strstr(err.message, "101"), "message '%s'",
           err.message);

    /* A library that is not a driver (lacks the calls): unsupported. */
    use("libm.so.6", "two");
    CHECK(sl_devices_list(d, 4, &n, reason, sizeof reason, &err) == SL_ERR_UNSUPPORTED);
    CHECKF(strstr(err.message, "too old") != NULL, "message '%s'", err.message);
    return sl_test_finish();
}
