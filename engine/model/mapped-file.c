#include "model/mapped-file.h"

#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

sl_status sl_map_file(const char *path, const uint8_t **data, size_t *size, sl_error *err)
{
    *data = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sl_fail(err, SL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    sl_status s = SL_OK;
    if (fstat(fd, &sb) != 0)
        s = sl_fail(err, SL_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        s = sl_fail(err, SL_ERR_IO, "%s: not a regular file", path);
    else if (sb.st_size < 0 || (uint64_t)(size_t)sb.st_size != (uint64_t)sb.st_size)
        s = sl_fail(err, SL_ERR_IO, "%s: too large to map", path);
    if (s == SL_OK && sb.st_size > 0) {
        void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED)
            s = sl_fail(err, SL_ERR_IO, "%s: cannot map %lld bytes: %s", path,
                        (long long)sb.st_size, strerror(errno));
        else {
            *data = p;
            *size = (size_t)sb.st_size;
        }
    }
    close(fd);
    return s;
}

void sl_unmap_file(const uint8_t *data, size_t size)
{
    if (data && size)
        munmap((void *)data, size);
}
