// SPDX-License-Identifier: Apache-2.0
// GET /metrics: the engine's statistics in the Prometheus text format (0.0.4).
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "server/gen.h"

static void addf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void addf(sbuf *b, const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0) sbuf_add(b, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static void metric(sbuf *b, const char *name, const char *type, const char *help, double v) {
    addf(b, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

static void counter(sbuf *b, const char *name, const char *help, uint64_t v) {
    addf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
         (unsigned long long)v);
}

// The engine counts per bucket; Prometheus buckets are cumulative.
static void histogram(sbuf *b, const char *name, const char *help, const uint64_t *buckets,
                      double sum, uint64_t count) {
    addf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t acc = 0;
    for (int i = 0; i < 16; i++) {
        acc += buckets[i];
        double le = fd_engine_latency_buckets[i];
        if (isinf(le)) addf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)acc);
        else addf(b, "%s_bucket{le=\"%g\"} %llu\n", name, le, (unsigned long long)acc);
    }
    addf(b, "%s_sum %.17g\n%s_count %llu\n", name, sum, name, (unsigned long long)count);
}

// Generated tokens per second since the previous scrape (or since the start).
static double throughput(fd_server *s, const fd_engine_stats *st) {
    double now = fd_server_now();
    pthread_mutex_lock(&s->mu);
    double dt = now - s->last_scrape_s;
    uint64_t dtok = st->generated_tokens - s->last_scrape_tokens;
    s->last_scrape_s = now;
    s->last_scrape_tokens = st->generated_tokens;
    pthread_mutex_unlock(&s->mu);
    return dt > 0 ? (double)dtok / dt : 0.0;
}

char *fd_server_metrics(fd_server *s) {
    fd_engine_stats st;
    fd_engine_get_stats(s->engine, &st);
    sbuf b = {0};
    metric(&b, "fdeploy_requests_running", "gauge", "Sequences in the running batch.", st.running);
    metric(&b, "fdeploy_requests_waiting", "gauge", "Requests queued, not yet scheduled.", st.waiting);
    metric(&b, "fdeploy_kv_cache_blocks_total", "gauge", "KV cache blocks in the pool.",
           st.kv_blocks_total);
    metric(&b, "fdeploy_kv_cache_blocks_used", "gauge", "KV cache blocks held by sequences.",
           st.kv_blocks_used);
    metric(&b, "fdeploy_kv_cache_usage_ratio", "gauge", "Fraction of KV cache blocks in use.",
           st.kv_blocks_total ? (double)st.kv_blocks_used / st.kv_blocks_total : 0.0);
    counter(&b, "fdeploy_prefix_cache_queries_total", "Blocks looked up in the prefix cache.",
            st.prefix_queries);
    counter(&b, "fdeploy_prefix_cache_hits_total", "Blocks found in the prefix cache.",
            st.prefix_hits);
    metric(&b, "fdeploy_prefix_cache_hit_rate", "gauge", "Prefix cache hits / queries.",
           st.prefix_queries ? (double)st.prefix_hits / (double)st.prefix_queries : 0.0);
    histogram(&b, "fdeploy_time_to_first_token_seconds", "Time from arrival to the first token.",
              st.ttft_buckets, st.ttft_sum, st.ttft_count);
    histogram(&b, "fdeploy_inter_token_latency_seconds", "Time between consecutive tokens.",
              st.itl_buckets, st.itl_sum, st.itl_count);
    counter(&b, "fdeploy_generation_tokens_total", "Tokens generated.", st.generated_tokens);
    counter(&b, "fdeploy_prompt_tokens_total", "Prompt tokens processed.", st.prompt_tokens);
    counter(&b, "fdeploy_requests_finished_total", "Requests finished (any reason).",
            st.requests_finished);
    counter(&b, "fdeploy_preemptions_total", "Sequences preempted (KV cache full).",
            st.preemptions);
    metric(&b, "fdeploy_generation_tokens_per_second", "gauge",
           "Generated tokens per second since the previous scrape.", throughput(s, &st));
    metric(&b, "fdeploy_uptime_seconds", "gauge", "Seconds since the engine started.", st.uptime_s);
    return b.p;
}
