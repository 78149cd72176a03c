// SPDX-License-Identifier: Apache-2.0
// dtype facts, half/bfloat16 conversion, tensor checks, status strings.
#include "core/internal.h"
#include "fd_test.h"

static void half_round_trip(void) {
    float vals[] = {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f, 0.1f};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        CHECK_NEAR(fd_f16_to_f32(fd_f32_to_f16(vals[i])), vals[i], fabs(vals[i]) * 1e-3);
    CHECK_EQ_I64(fd_f32_to_f16(1.0f), 0x3c00);
    CHECK_EQ_I64(fd_f32_to_f16(70000.0f), 0x7c00);      // overflow -> inf
    CHECK_EQ_I64(fd_f32_to_f16(5.9604645e-08f), 0x0001); // smallest subnormal
    CHECK_EQ_I64(fd_f32_to_f16(2.9802322e-08f), 0x0000); // ties to even -> 0
    CHECK_EQ_I64(fd_f32_to_f16(1.0009765625f), 0x3c01);
    for (uint32_t h = 0; h < 0x7c00; h++)  // every finite positive half survives
        CHECK_EQ_I64(fd_f32_to_f16(fd_f16_to_f32((uint16_t)h)), h);
}

// The row converter (F16C where present) equals the scalar one on every half.
static void f16_rows(void) {
    static uint16_t in[65536];
    static float out[65536];
    for (uint32_t h = 0; h < 65536; h++) in[h] = (uint16_t)h;
    fd__f16_to_f32_row(in + 3, out + 3, 65533);  // unaligned start, odd tail
    int bad = 0;
    for (uint32_t h = 3; h < 65536; h++) {
        float r = fd_f16_to_f32((uint16_t)h);
        bad += !(r == out[h] || (isnan(r) && isnan(out[h])));
    }
    CHECK_EQ_I64(bad, 0);
}

static void bf16_round_trip(void) {
    CHECK_EQ_I64(fd_f32_to_bf16(1.0f), 0x3f80);
    CHECK_NEAR(fd_bf16_to_f32(fd_f32_to_bf16(3.14159f)), 3.140625, 1e-6);
    CHECK(isnan(fd_bf16_to_f32(fd_f32_to_bf16(NAN))));
}

static void tensor_checks(void) {
    float d[6];
    fd_tensor t = fd_tensor_2d(d, FD_F32, 2, 3);
    CHECK_EQ_I64(fd_tensor_numel(&t), 6);
    CHECK_EQ_I64(fd_tensor_bytes(&t), 24);
    CHECK_OK(FD_CHECK_T("op", "x", &t, FD_F32, 2, -1));
    CHECK_STATUS(FD_CHECK_T("op", "x", &t, FD_F16, 2, 3), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "op: x has dtype f32, expected f16");
    CHECK_STATUS(FD_CHECK_T("op", "x", &t, FD_F32, 3, 2), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "shape [2, 3], expected [3, 2]");
    CHECK_STATUS(FD_CHECK_T("op", "x", NULL, FD_F32, 3), FD_ERR_INVALID_ARG);
}

static void status_strings(void) {
    CHECK(strcmp(fd_status_str(FD_OK), "ok") == 0);
    CHECK(strcmp(fd_status_str(FD_ERR_UNSUPPORTED_ARCH), "unsupported architecture") == 0);
    CHECK(strcmp(fd_status_str((fd_status)999), "unknown status") == 0);
    CHECK_EQ_I64(fd_dtype_size(FD_BF16), 2);
    CHECK(strcmp(fd_dtype_name(FD_I64), "i64") == 0);
}

FD_TEST_MAIN(FD_CASE(half_round_trip), FD_CASE(f16_rows), FD_CASE(bf16_round_trip), FD_CASE(tensor_checks),
             FD_CASE(status_strings))
