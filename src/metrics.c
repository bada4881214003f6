/*
 * metrics.c - the metrics registry and its Prometheus text rendering (see
 * metrics.h).
 *
 * Families and their series are small arrays searched linearly: the job
 * has a few dozen families and series (topics, rejection reasons, rules,
 * partitions), it updates them per batch rather than per record, and a
 * scrape renders them all anyway.  Series keep their creation order, so
 * consecutive scrapes list them alike.
 */
#include "auditwatch/metrics.h"
#include "xalloc.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct series {
    char *labels;
    double value;      /* counters, gauges; histograms: the sum */
    uint64_t count;    /* histograms */
    uint64_t *buckets; /* histograms: observations <= bound[i] (not cumulative) */
};

struct family {
    char *name, *help;
    enum aw_metric_type type;
    double *bounds;
    size_t nbounds;
    struct series *series;
    size_t nseries, cap;
};

struct aw_metrics {
    pthread_mutex_t lock;
    struct family *families;
    size_t nfamilies;
};



struct aw_metrics *aw_metrics_new(void)
{
    struct aw_metrics *m = aw_xrealloc(NULL, sizeof *m);
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

void aw_metrics_free(struct aw_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nfamilies; i++) {
        struct family *f = &m->families[i];
        for (size_t s = 0; s < f->nseries; s++) {
            free(f->series[s].labels);
            free(f->series[s].buckets);
        }
        free(f->series);
        free(f->bounds);
        free(f->name);
        free(f->help);
    }
    free(m->families);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static struct family *find_family(struct aw_metrics *m, const char *name)
{
    for (size_t i = 0; i < m->nfamilies; i++)
        if (!strcmp(m->families[i].name, name))
            return &m->families[i];
    return NULL;
}

void aw_metrics_family(struct aw_metrics *m, const char *name, enum aw_metric_type type, const char *help,
                       const double *buckets, size_t nbuckets)
{
    pthread_mutex_lock(&m->lock);
    if (!find_family(m, name)) {
        m->families = aw_xrealloc(m->families, (m->nfamilies + 1) * sizeof *m->families);
        struct family *f = &m->families[m->nfamilies++];
        memset(f, 0, sizeof *f);
        f->name = aw_xstrdup(name);
        f->help = aw_xstrdup(help);
        f->type = type;
        if (type == AW_METRIC_HISTOGRAM && nbuckets) {
            f->bounds = aw_xrealloc(NULL, nbuckets * sizeof *f->bounds);
            memcpy(f->bounds, buckets, nbuckets * sizeof *f->bounds);
            f->nbounds = nbuckets;
        }
    }
    pthread_mutex_unlock(&m->lock);
}

/* The series of a declared family (created on first use); NULL when the
 * family was never declared - a programming error, reported once. */
static struct series *series_for(struct aw_metrics *m, const char *name, const char *labels)
{
    struct family *f = find_family(m, name);
    if (!f) {
        fprintf(stderr, "auditwatch: metric %s used but not declared\n", name);
        return NULL;
    }
    labels = labels ? labels : "";
    for (size_t i = 0; i < f->nseries; i++)
        if (!strcmp(f->series[i].labels, labels))
            return &f->series[i];
    if (f->nseries == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 8;
        f->series = aw_xrealloc(f->series, f->cap * sizeof *f->series);
    }
    struct series *s = &f->series[f->nseries++];
    memset(s, 0, sizeof *s);
    s->labels = aw_xstrdup(labels);
    if (f->type == AW_METRIC_HISTOGRAM) {
        s->buckets = aw_xrealloc(NULL, (f->nbounds ? f->nbounds : 1) * sizeof *s->buckets);
        memset(s->buckets, 0, (f->nbounds ? f->nbounds : 1) * sizeof *s->buckets);
    }
    return s;
}

void aw_metrics_add(struct aw_metrics *m, const char *name, const char *labels, double delta)
{
    pthread_mutex_lock(&m->lock);
    struct series *s = series_for(m, name, labels);
    if (s)
        s->value += delta;
    pthread_mutex_unlock(&m->lock);
}

void aw_metrics_set(struct aw_metrics *m, const char *name, const char *labels, double value)
{
    pthread_mutex_lock(&m->lock);
    struct series *s = series_for(m, name, labels);
    if (s)
        s->value = value;
    pthread_mutex_unlock(&m->lock);
}

void aw_metrics_observe(struct aw_metrics *m, const char *name, const char *labels, double value)
{
    pthread_mutex_lock(&m->lock);
    struct family *f = find_family(m, name);
    struct series *s = series_for(m, name, labels);
    if (s && f) {
        s->value += value;
        s->count++;
        for (size_t i = 0; i < f->nbounds; i++)
            if (value <= f->bounds[i]) {
                s->buckets[i]++;
                break;
            }
    }
    pthread_mutex_unlock(&m->lock);
}

void aw_metrics_clear(struct aw_metrics *m, const char *name)
{
    pthread_mutex_lock(&m->lock);
    struct family *f = find_family(m, name);
    if (f) {
        for (size_t s = 0; s < f->nseries; s++) {
            free(f->series[s].labels);
            free(f->series[s].buckets);
        }
        f->nseries = 0;
    }
    pthread_mutex_unlock(&m->lock);
}

double aw_metrics_value(struct aw_metrics *m, const char *name, const char *labels)
{
    double v = 0;
    pthread_mutex_lock(&m->lock);
    struct family *f = find_family(m, name);
    for (size_t i = 0; f && i < f->nseries; i++)
        if (!strcmp(f->series[i].labels, labels ? labels : ""))
            v = f->type == AW_METRIC_HISTOGRAM ? (double)f->series[i].count : f->series[i].value;
    pthread_mutex_unlock(&m->lock);
    return v;
}

void aw_metrics_label(struct aw_buf *out, const char *key, const char *value)
{
    if (out->len)
        aw_buf_append_char(out, ',');
    aw_buf_append_str(out, key);
    aw_buf_append_str(out, "=\"");
    for (const char *c = value; *c; c++) {
        if (*c == '\\')
            aw_buf_append_str(out, "\\\\");
        else if (*c == '"')
            aw_buf_append_str(out, "\\\"");
        else if (*c == '\n')
            aw_buf_append_str(out, "\\n");
        else
            aw_buf_append_char(out, *c);
    }
    aw_buf_append_char(out, '"');
}

static void append_double(struct aw_buf *out, double v)
{
    char num[64];
    if (isinf(v))
        snprintf(num, sizeof num, "%s", v > 0 ? "+Inf" : "-Inf");
    else if (v == (double)(int64_t)v && fabs(v) < 9e15)
        snprintf(num, sizeof num, "%lld", (long long)v);
    else
        snprintf(num, sizeof num, "%.9g", v);
    aw_buf_append_str(out, num);
}

/* name{labels[,extra]} value */
static void sample(struct aw_buf *out, const char *name, const char *suffix, const char *labels, const char *extra,
                   double v)
{
    aw_buf_append_str(out, name);
    aw_buf_append_str(out, suffix);
    if (*labels || extra) {
        aw_buf_append_char(out, '{');
        aw_buf_append_str(out, labels);
        if (extra) {
            if (*labels)
                aw_buf_append_char(out, ',');
            aw_buf_append_str(out, extra);
        }
        aw_buf_append_char(out, '}');
    }
    aw_buf_append_char(out, ' ');
    append_double(out, v);
    aw_buf_append_char(out, '\n');
}

void aw_metrics_render(struct aw_metrics *m, struct aw_buf *out)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->nfamilies; i++) {
        const struct family *f = &m->families[i];
        aw_buf_append_str(out, "# HELP ");
        aw_buf_append_str(out, f->name);
        aw_buf_append_char(out, ' ');
        aw_buf_append_str(out, f->help);
        aw_buf_append_str(out, "\n# TYPE ");
        aw_buf_append_str(out, f->name);
        aw_buf_append_char(out, ' ');
        aw_buf_append_str(out, types[f->type]);
        aw_buf_append_char(out, '\n');
        for (size_t s = 0; s < f->nseries; s++) {
            const struct series *se = &f->series[s];
            if (f->type != AW_METRIC_HISTOGRAM) {
                sample(out, f->name, "", se->labels, NULL, se->value);
                continue;
            }
            uint64_t cumulative = 0;
            for (size_t b = 0; b < f->nbounds; b++) {
                cumulative += se->buckets[b];
                char le[64];
                snprintf(le, sizeof le, "le=\"%g\"", f->bounds[b]);
                sample(out, f->name, "_bucket", se->labels, le, (double)cumulative);
            }
            sample(out, f->name, "_bucket", se->labels, "le=\"+Inf\"", (double)se->count);
            sample(out, f->name, "_sum", se->labels, NULL, se->value);
            sample(out, f->name, "_count", se->labels, NULL, (double)se->count);
        }
    }
    pthread_mutex_unlock(&m->lock);
}
