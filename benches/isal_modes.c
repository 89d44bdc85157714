// ISA-L level 1 over a file of bulk-body lines, compressed as the sinks compress them:
// 1 MiB bodies handed over in pieces. Mode 0: one stateful gzip stream per body (the sinks'
// way). Mode 1: each piece compressed on its own (stateless, ending with a full flush), the
// pieces joined into one gzip member with the CRC carried across them.
// Prints MB/s of input and the output's share of it. Built and run by benches/isal_modes.sh:
//   isal_modes FILE MODE [PIECE_KIB=256] [REPEATS=3] [LEVEL_BUF_BYTES=ISAL_DEF_LVL1_DEFAULT]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "igzip_lib.h"
#include "crc.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s FILE MODE [PIECE_KIB] [REPEATS] [LEVEL_BUF_BYTES]\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 1; }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *in = malloc(n);
    if (fread(in, 1, n, f) != (size_t) n) { perror("read"); return 1; }
    fclose(f);
    int mode = atoi(argv[2]);
    size_t piece = (argc > 3 ? atoi(argv[3]) : 256) * 1024;
    int repeats = argc > 4 ? atoi(argv[4]) : 3;
    size_t level_size = argc > 5 ? (size_t) atoi(argv[5]) : ISAL_DEF_LVL1_DEFAULT;
    const size_t body_size = 1 << 20, room = 2 * body_size + 65536;
    unsigned char *out = malloc(room), *level_buf = malloc(level_size);
    struct isal_zstream s;
    size_t total_out = 0;
    double start = now();
    for (int r = 0; r < repeats; r++) {
        for (size_t b = 0; b < (size_t) n; b += body_size) {
            size_t len = (size_t) n - b < body_size ? (size_t) n - b : body_size, o = 0;
            unsigned char *body = in + b;
            if (mode == 0) {
                isal_deflate_init(&s);
                s.level = 1; s.level_buf = level_buf; s.level_buf_size = level_size;
                s.gzip_flag = IGZIP_GZIP;
                for (size_t p = 0; p < len; p += piece) {
                    size_t pl = len - p < piece ? len - p : piece;
                    s.next_in = body + p; s.avail_in = pl; s.end_of_stream = p + pl >= len;
                    s.flush = NO_FLUSH; s.next_out = out + o; s.avail_out = room - o;
                    if (isal_deflate(&s) != COMP_OK || s.avail_in) { fprintf(stderr, "deflate failed\n"); return 1; }
                    o = s.total_out;
                }
            } else {
                memcpy(out, "\x1f\x8b\x08\0\0\0\0\0\0\xff", 10);
                o = 10;
                uint32_t crc = 0, isize = (uint32_t) len;
                for (size_t p = 0; p < len; p += piece) {
                    size_t pl = len - p < piece ? len - p : piece;
                    int last = p + pl >= len;
                    crc = crc32_gzip_refl(crc, body + p, pl);
                    isal_deflate_stateless_init(&s);
                    s.level = 1; s.level_buf = level_buf; s.level_buf_size = level_size;
                    s.gzip_flag = IGZIP_DEFLATE;
                    s.next_in = body + p; s.avail_in = pl; s.end_of_stream = last;
                    s.flush = last ? NO_FLUSH : FULL_FLUSH;
                    s.next_out = out + o; s.avail_out = room - o;
                    if (isal_deflate_stateless(&s) != COMP_OK) { fprintf(stderr, "stateless deflate failed\n"); return 1; }
                    o = s.next_out - out;
                }
                memcpy(out + o, &crc, 4);
                memcpy(out + o + 4, &isize, 4);
                o += 8;
            }
            total_out += o;
            if (r == 0 && b == 0 && getenv("FIRST_BODY")) {
                FILE *g = fopen(getenv("FIRST_BODY"), "wb");
                fwrite(out, 1, o, g);
                fclose(g);
            }
        }
    }
    double secs = now() - start;
    printf("mode %d (%s), pieces %zu KiB, level buffer %zu: %.1f MB/s, output %.4f of the input\n",
           mode, mode ? "stateless pieces" : "stateful stream", piece / 1024, level_size,
           (double) n * repeats / secs / 1e6, (double) total_out / repeats / n);
    return 0;
}
