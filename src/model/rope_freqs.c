// SPDX-License-Identifier: Apache-2.0
// Rotary frequencies per layer kind, with the rope scaling a model declares
// (linear, Llama 3.1's by-wavelength blend, GGUF's rope_freqs divisors). Both
// backends build their cos/sin tables from these, in double.
#include <math.h>
#include <string.h>

#include "model/model_internal.h"

int fd_model_layer_is_swa(const fd_model_info *h, int l) {
    return h->sliding_window > 0 && h->swa_pattern > 0 && (l + 1) % h->swa_pattern != 0;
}

// Llama 3.1 (transformers' _compute_llama3_parameters): long wavelengths are slowed
// by the factor, short ones kept, the band between blended linearly.
static double llama3(const fd_model_info *h, double f) {
    double pi = 3.14159265358979323846, wavelen = 2 * pi / f, ctx = h->rope_orig_ctx;
    double low_wl = ctx / h->rope_low_freq, high_wl = ctx / h->rope_high_freq;
    if (wavelen < high_wl) return f;
    if (wavelen > low_wl) return f / h->rope_factor;
    double t = (ctx / wavelen - h->rope_low_freq) / (h->rope_high_freq - h->rope_low_freq);
    return (1 - t) * f / h->rope_factor + t * f;
}

void fd_model_rope_freqs(const fd_model *m, int swa, double *inv_freq) {
    const fd_model_info *h = &m->info;
    int half = h->head_dim / 2;
    double base = swa && h->rope_base_swa > 0 ? h->rope_base_swa : h->rope_base;
    for (int i = 0; i < half; i++) {
        double f = pow(base, -2.0 * i / h->head_dim);
        if (!swa && strcmp(h->rope_scaling, "linear") == 0) f /= h->rope_factor;
        if (!swa && strcmp(h->rope_scaling, "llama3") == 0) f = llama3(h, f);
        if (!swa && strcmp(h->rope_scaling, "freqs") == 0) f /= ((const float *)m->rope_freqs.data)[i];
        inv_freq[i] = f;
    }
}
