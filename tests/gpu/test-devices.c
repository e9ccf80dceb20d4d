/* test-devices.c: the GPUs sl_devices_list finds are the ones nvidia-smi
 * (NVML, an oracle we did not write) reports: same count, and for each by
 * its UUID the same name and the same memory to within 1 MiB. NVML's
 * memory.total counts what the driver reserves for itself (480 MiB on an
 * H100 with driver 580), the driver API's does not: compared is total less
 * memory.reserved, where nvidia-smi knows that field. Without a GPU it first
 * checks that the answer is SL_OK, no device and a reason, then exits 77
 * (skipped). */
#include "../engine/test-util.h"

#include <stdint.h>

typedef struct {
    char uuid[64], name[128];
    double mib;
} smi_gpu;

static char *trim(char *s)
{
    while (*s == ' ')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* nvidia-smi's rows "uuid, name, memory.total[, memory.reserved]" (MiB);
 * -1 when it cannot run. Older versions refuse memory.reserved. */
static int query_smi(smi_gpu *out, int cap, bool reserved)
{
    FILE *p = popen(reserved ? "nvidia-smi --query-gpu=uuid,name,memory.total,memory.reserved "
                               "--format=csv,noheader,nounits 2>/dev/null"
                             : "nvidia-smi --query-gpu=uuid,name,memory.total "
                               "--format=csv,noheader,nounits 2>/dev/null",
                    "r");
    if (!p)
        return -1;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, p) && n < cap) {
        /* The name may hold commas; the uuid and the numbers do not. */
        char *a = strchr(line, ','), *b = a ? strrchr(a + 1, ',') : NULL, *c = NULL;
        if (!a || !b)
            continue;
        if (reserved) {
            *b = '\0';
            c = b + 1;
            b = strrchr(a + 1, ',');
            if (!b)
                continue;
        }
        *a = *b = '\0';
        snprintf(out[n].uuid, sizeof out[n].uuid, "%s", trim(line));
        snprintf(out[n].name, sizeof out[n].name, "%s", trim(a + 1));
        out[n].mib = strtod(trim(b + 1), NULL);
        if (c) {
            char *end;
            double r = strtod(trim(c), &end);
            if (end != trim(c)) /* "[N/A]" where the driver does not say */
                out[n].mib -= r;
        }
        n++;
    }
    return pclose(p) == 0 ? n : -1;
}

int main(void)
{
    enum { CAP = 64 };
    static sl_device_info d[CAP];
    char reason[128] = "unset";
    sl_error err = {0};
    int n = -1;
    sl_status st = sl_devices_list(d, CAP, &n, reason, sizeof reason, &err);
    CHECKF(st == SL_OK, "%s: %s", sl_status_name(st), err.message);
    if (st == SL_OK && n == 0) {
        CHECKF(reason[0] && strcmp(reason, "unset") != 0, "no reason given for no GPU");
        if (sl_test_failures)
            return sl_test_finish();
        fprintf(stderr, "no GPU (%s): skipped\n", reason);
        return 77;
    }
    if (st != SL_OK)
        return sl_test_finish();
    CHECK(reason[0] == '\0');

    static smi_gpu smi[CAP];
    int m = query_smi(smi, CAP, true);
    if (m < 0)
        m = query_smi(smi, CAP, false);
    CHECKF(m > 0, "nvidia-smi gave no GPUs (or could not run) where the driver found %d", n);
    /* nvidia-smi ignores CUDA_VISIBLE_DEVICES; the driver honours it. */
    const char *visible = getenv("CUDA_VISIBLE_DEVICES");
    if (!visible)
        CHECKF(n == m, "the driver found %d GPUs, nvidia-smi %d", n, m);
    for (int i = 0; i < n && i < CAP; i++) {
        const smi_gpu *g = NULL;
        for (int j = 0; j < m; j++)
            if (!strcmp(smi[j].uuid, d[i].id))
                g = &smi[j];
        CHECKF(g, "GPU %d (%s, %s) is not in nvidia-smi's list", i, d[i].name, d[i].id);
        if (!g)
            continue;
        CHECKF(!strcmp(g->name, d[i].name), "GPU %d: name '%s', nvidia-smi says '%s'", i,
               d[i].name, g->name);
        double mib = (double)d[i].total_bytes / 1048576.0;
        CHECKF(fabs(mib - g->mib) <= 1.0, "GPU %d: %.1f MiB, nvidia-smi says %.0f MiB (total less reserved)", i, mib, g->mib);
        CHECKF(d[i].cc_major >= 3 && d[i].cc_major <= 20 && d[i].cc_minor >= 0 && d[i].cc_minor <= 9,
               "GPU %d: compute capability %d.%d", i, d[i].cc_major, d[i].cc_minor);
        fprintf(stderr, "GPU %d: %s, %.0f MiB, compute %d.%d, %s\n", i, d[i].name, mib,
                d[i].cc_major, d[i].cc_minor, d[i].id);
    }
    return sl_test_finish();
}
