// SPDX-License-Identifier: Apache-2.0
// safetensors reader: a file written here is read back (shapes in ggml order, dtypes,
// data, metadata); every truncation and a catalogue of hostile headers fail with a
// message naming the problem, never a crash (run under ASan: each image is an exact
// malloc so any over-read is caught).
#include <stdint.h>
#include <unistd.h>

#include "fd_test.h"
#include "model/safetensors.h"

// An image: 8-byte length, `hdr` padded with spaces to 8, then `data`.
static uint8_t *image(const char *hdr, const void *data, size_t n_data, size_t *size) {
    size_t h = strlen(hdr), hp = (h + 7) / 8 * 8;
    *size = 8 + hp + n_data;
    uint8_t *b = malloc(*size);
    if (!b) exit(1);
    uint64_t len = hp;
    memcpy(b, &len, 8);
    memset(b + 8, ' ', hp);
    memcpy(b + 8, hdr, h);
    if (n_data) memcpy(b + 8 + hp, data, n_data);
    return b;
}

// "a": F32 [2, 3] = 0..5, "b": BF16 [4] = 1, 2, 3, 4, "c": F16 scalar 1.5.
static const char GOOD_HDR[] =
    "{\"__metadata__\":{\"format\":\"pt\"},"
    "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
    "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[24,32]},"
    "\"c\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[32,34]}}";

static uint8_t *good_image(size_t *size) {
    uint8_t data[34];
    float a[6] = {0, 1, 2, 3, 4, 5};
    uint16_t b[4] = {0x3f80, 0x4000, 0x4040, 0x4080}, c = 0x3e00;
    memcpy(data, a, 24);
    memcpy(data + 24, b, 8);
    memcpy(data + 32, &c, 2);
    return image(GOOD_HDR, data, sizeof data, size);
}

static void read_back_file(void) {
    size_t size;
    uint8_t *img = good_image(&size);
    char path[] = "/tmp/fd_test_st_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    CHECK(write(fd, img, size) == (ssize_t)size);
    close(fd);
    fd__st_file *f = NULL;
    CHECK_OK(fd__st_open(path, &f));
    unlink(path);
    free(img);
    if (!f) return;
    CHECK_EQ_I64(fd__st_n_tensors(f), 3);
    const fd_gguf_tensor *a = fd__st_find(f, "a"), *b = fd__st_find(f, "b"), *c = fd__st_find(f, "c");
    CHECK(a && b && c && !fd__st_find(f, "d") && !fd__st_find(f, "__metadata__"));
    if (a && b && c) {
        CHECK_EQ_I64(a->type, FD_GGML_F32);
        CHECK_EQ_I64(a->n_dims, 2);
        CHECK_EQ_I64(a->ne[0], 3);  // ggml order: the contiguous dimension first
        CHECK_EQ_I64(a->ne[1], 2);
        CHECK_EQ_I64(a->bytes, 24);
        float a5;
        memcpy(&a5, (const uint8_t *)a->data + 20, 4);
        CHECK_NEAR(a5, 5.0, 0);
        CHECK_EQ_I64(b->type, FD_GGML_BF16);
        CHECK_EQ_I64(b->ne[0], 4);
        CHECK_EQ_I64(b->offset, 24);
        CHECK_EQ_I64(c->type, FD_GGML_F16);
        CHECK_EQ_I64(c->n_dims, 0);
        CHECK_EQ_I64(c->ne[0], 1);
    }
    CHECK(fd__st_metadata(f, "format") && strcmp(fd__st_metadata(f, "format"), "pt") == 0);
    CHECK(fd__st_metadata(f, "nope") == NULL);
    fd__st_close(f);
}

static void every_truncation_fails(void) {
    size_t size;
    uint8_t *img = good_image(&size);
    for (size_t n = 0; n < size; n++) {
        uint8_t *cut = malloc(n ? n : 1);
        if (!cut) exit(1);
        memcpy(cut, img, n);
        fd__st_file *f = NULL;
        fd_status s = fd__st_open_memory(cut, n, "cut", &f);
        if (s != FD_ERR_FORMAT) FD_FAILF("truncated to %zu of %zu bytes: %s", n, size, fd_status_str(s));
        fd__st_close(f);
        free(cut);
    }
    free(img);
}

static void missing_file(void) {
    fd__st_file *f = NULL;
    CHECK_STATUS(fd__st_open("/nonexistent/model.safetensors", &f), FD_ERR_IO);
    CHECK_CONTAINS(fd_last_error(), "/nonexistent/model.safetensors");
}

// Opens hdr + n_data zero bytes and expects FD_ERR_FORMAT with `want` in the message.
static void expect_bad(const char *hdr, size_t n_data, const char *want) {
    uint8_t zeros[64] = {0};
    size_t size;
    uint8_t *img = image(hdr, zeros, n_data, &size);
    fd__st_file *f = NULL;
    fd_status s = fd__st_open_memory(img, size, "bad.safetensors", &f);
    if (s != FD_ERR_FORMAT) FD_FAILF("header %s: %s, expected a format error", hdr, fd_status_str(s));
    else CHECK_CONTAINS(fd_last_error(), want);
    fd__st_close(f);
    free(img);
}

static void hostile_header_length(void) {
    uint8_t b[16] = {0};
    uint64_t huge = UINT64_MAX - 3, small = 1;
    fd__st_file *f = NULL;
    memcpy(b, &huge, 8);
    CHECK_STATUS(fd__st_open_memory(b, sizeof b, "huge", &f), FD_ERR_FORMAT);
    CHECK_CONTAINS(fd_last_error(), "past the end of the file");
    memcpy(b, &small, 8);
    CHECK_STATUS(fd__st_open_memory(b, sizeof b, "tiny", &f), FD_ERR_FORMAT);
    CHECK_CONTAINS(fd_last_error(), "header length 1");
}

static void hostile_json(void) {
    expect_bad("{\"a\":", 0, "not valid JSON");
    expect_bad("[1, 2, 3]", 0, "not a JSON object");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "not valid JSON");
    expect_bad("{\"__metadata__\":[1]}", 0, "__metadata__");
    expect_bad("{\"a\":7}", 0, "entry a is not an object");
    expect_bad("{\"x\":1} trailing", 0, "not valid JSON");
}

static void hostile_tensors(void) {
    expect_bad("{\"blk.w\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, "blk.w has dtype I64");
    expect_bad("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "no \"dtype\"");
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[16],\"data_offsets\":[0,64]}}", 16, "extends past end of file");
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", 16, "data_offsets span 16");
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 16, "0 <= begin <= end");
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 16, "0 <= begin <= end");
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 16, "data_offsets");
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 16, "bad size at shape[0]");
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", 16, "bad size");
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,8]}}", 16,
               "bad size at shape[1]");
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}", 16, "at most 4");
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":{},\"data_offsets\":[0,4]}}", 16, "\"shape\" must be");
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}", 16, "not aligned");
    expect_bad("{\"u\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"v\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 16, "overlap");
}

FD_TEST_MAIN(FD_CASE(read_back_file), FD_CASE(every_truncation_fails), FD_CASE(missing_file),
             FD_CASE(hostile_header_length), FD_CASE(hostile_json), FD_CASE(hostile_tensors))
