#include "autograd/tensor.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void qt_die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("qatc: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *xmalloc(size_t bytes) {
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0)
        qt_die("out of memory allocating %zu bytes", bytes);
    return p;
}

size_t qt_arena_used(const qt_arena *a) {
    size_t s = 0;
    for (const qt_arena_chunk *c = a->head; c; c = c->next) {
        s += c->used;
        if (c == a->cur) break;
    }
    return s;
}

void *qt_arena_alloc(qt_arena *a, size_t bytes) {
    bytes = (bytes + 63) & ~(size_t)63;
    if (!bytes) bytes = 64;
    while (a->cur && a->cur->used + bytes > a->cur->cap) {
        if (!a->cur->next) break;
        a->cur = a->cur->next;
        a->cur->used = 0;
    }
    if (!a->cur || a->cur->used + bytes > a->cur->cap) {
        size_t cap = bytes > a->chunk_size ? bytes : a->chunk_size;
        qt_arena_chunk *c = xmalloc(sizeof *c);
        c->mem = xmalloc(cap);
        c->cap = cap;
        c->used = 0;
        c->next = NULL;
        a->n_mallocs++;
        if (!a->head) {
            a->head = c;
        } else {
            /* insert after cur so the chunk order stays the allocation order */
            c->next = a->cur->next;
            a->cur->next = c;
        }
        a->cur = c;
    }
    void *p = a->cur->mem + a->cur->used;
    a->cur->used += bytes;
    return p;
}

void *qt_arena_calloc(qt_arena *a, size_t bytes) {
    void *p = qt_arena_alloc(a, bytes);
    memset(p, 0, bytes);
    return p;
}

void qt_ctx_init(qt_ctx *ctx, size_t chunk_bytes) {
    memset(ctx, 0, sizeof *ctx);
    ctx->arena.chunk_size = chunk_bytes ? chunk_bytes : ((size_t)64 << 20);
}

void qt_ctx_free(qt_ctx *ctx) {
    qt_arena_chunk *c = ctx->arena.head;
    while (c) {
        qt_arena_chunk *next = c->next;
        free(c->mem);
        free(c);
        c = next;
    }
    free(ctx->nodes);
    memset(ctx, 0, sizeof *ctx);
}

void qt_ctx_reset(qt_ctx *ctx) {
    ctx->n_nodes = 0;
    ctx->arena.cur = ctx->arena.head;
    if (ctx->arena.cur) ctx->arena.cur->used = 0;
    memset(ctx->grad_bins, 0, sizeof ctx->grad_bins); /* the buffers were arena memory */
}

void qt_no_grad(qt_ctx *ctx, int delta) { ctx->no_grad += delta; }

void qt_ctx_recycle_grads(qt_ctx *ctx, int on) { ctx->recycle_grads = on != 0; }

/* Puts an arena gradient buffer of n floats on its size's list (dropped when every bin holds another size). */
static void grad_give_back(qt_ctx *ctx, float *g, size_t n) {
    qt_grad_bin *free_bin = NULL;
    for (int i = 0; i < QT_GRAD_BINS; i++) {
        qt_grad_bin *b = &ctx->grad_bins[i];
        if (b->n == n) {
            *(void **)g = b->head;
            b->head = g;
            return;
        }
        if (!b->n && !free_bin) free_bin = b;
    }
    if (free_bin) {
        free_bin->n = n;
        *(void **)g = NULL;
        free_bin->head = g;
    }
}

/* A handed-back buffer of n floats, or NULL. */
static float *grad_take(qt_ctx *ctx, size_t n) {
    for (int i = 0; i < QT_GRAD_BINS; i++) {
        qt_grad_bin *b = &ctx->grad_bins[i];
        if (b->n == n && b->head) {
            float *g = b->head;
            b->head = *(void **)g;
            return g;
        }
    }
    return NULL;
}

size_t qt_shape_numel(int ndim, const int *shape) {
    if (ndim < 1 || ndim > QT_MAX_DIMS) qt_die("tensor with %d dims (expected 1..%d)", ndim, QT_MAX_DIMS);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0) qt_die("tensor dim %d is %d (expected > 0)", i, shape[i]);
        n *= (size_t)shape[i];
    }
    return n;
}

static void set_shape(qt_tensor *t, int ndim, const int *shape) {
    t->n = qt_shape_numel(ndim, shape);
    t->ndim = ndim;
    for (int i = 0; i < QT_MAX_DIMS; i++) t->shape[i] = i < ndim ? shape[i] : 1;
}

qt_tensor *qt_param_new(const char *name, int ndim, const int *shape) {
    qt_tensor *t = calloc(1, sizeof *t);
    if (!t) qt_die("out of memory");
    set_shape(t, ndim, shape);
    t->data = xmalloc(t->n * sizeof(float));
    t->grad = xmalloc(t->n * sizeof(float));
    memset(t->data, 0, t->n * sizeof(float));
    memset(t->grad, 0, t->n * sizeof(float));
    t->requires_grad = 1;
    t->is_param = 1;
    snprintf(t->name, sizeof t->name, "%s", name ? name : "");
    return t;
}

void qt_param_free(qt_tensor *t) {
    if (!t) return;
    free(t->data);
    free(t->grad);
    free(t);
}

qt_tensor *qt_tensor_new(qt_ctx *ctx, int ndim, const int *shape) {
    qt_tensor *t = qt_arena_alloc(&ctx->arena, sizeof *t);
    memset(t, 0, sizeof *t);
    set_shape(t, ndim, shape);
    t->data = qt_arena_alloc(&ctx->arena, t->n * sizeof(float));
    return t;
}

qt_tensor *qt_new1(qt_ctx *ctx, int d0) { int s[1] = {d0}; return qt_tensor_new(ctx, 1, s); }
qt_tensor *qt_new2(qt_ctx *ctx, int d0, int d1) { int s[2] = {d0, d1}; return qt_tensor_new(ctx, 2, s); }
qt_tensor *qt_new3(qt_ctx *ctx, int d0, int d1, int d2) { int s[3] = {d0, d1, d2}; return qt_tensor_new(ctx, 3, s); }
qt_tensor *qt_new4(qt_ctx *ctx, int d0, int d1, int d2, int d3) {
    int s[4] = {d0, d1, d2, d3};
    return qt_tensor_new(ctx, 4, s);
}
qt_tensor *qt_tensor_like(qt_ctx *ctx, const qt_tensor *t) { return qt_tensor_new(ctx, t->ndim, t->shape); }

int qt_cols(const qt_tensor *t) { return t->shape[t->ndim - 1]; }
int qt_rows(const qt_tensor *t) { return (int)(t->n / (size_t)qt_cols(t)); }

int qt_same_shape(const qt_tensor *a, const qt_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

const char *qt_shape_str(const qt_tensor *t, char *buf, size_t len) {
    size_t o = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < t->ndim && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, i ? ", %d" : "%d", t->shape[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
    return buf;
}

float *qt_grad(qt_ctx *ctx, qt_tensor *t) {
    if (!t->grad) {
        float *g = ctx->recycle_grads ? grad_take(ctx, t->n) : NULL;
        if (g) memset(g, 0, t->n * sizeof(float));
        t->grad = g ? g : qt_arena_calloc(&ctx->arena, t->n * sizeof(float));
    }
    return t->grad;
}

void qt_zero_grad(qt_tensor **params, int n) {
    for (int i = 0; i < n; i++)
        if (params[i]->grad) memset(params[i]->grad, 0, params[i]->n * sizeof(float));
}

qt_node *qt_record(qt_ctx *ctx, const char *op, qt_backward_fn bw, qt_tensor *out,
                   int n_in, qt_tensor *const *in) {
    out->requires_grad = 0;
    out->node = 0;
    if (ctx->no_grad > 0) return NULL;
    int any = 0;
    for (int i = 0; i < n_in; i++) any |= in[i] && in[i]->requires_grad;
    if (!any) return NULL;
    if (ctx->n_nodes == ctx->cap_nodes) {
        int cap = ctx->cap_nodes ? ctx->cap_nodes * 2 : 256;
        qt_node *nodes = realloc(ctx->nodes, (size_t)cap * sizeof *nodes);
        if (!nodes) qt_die("out of memory growing the tape");
        ctx->nodes = nodes;
        ctx->cap_nodes = cap;
        ctx->n_node_reallocs++;
    }
    qt_node *nd = &ctx->nodes[ctx->n_nodes++];
    memset(nd, 0, sizeof *nd);
    nd->op = op;
    nd->backward = bw;
    nd->out = out;
    nd->n_in = n_in;
    for (int i = 0; i < n_in; i++) nd->in[i] = in[i];
    out->requires_grad = 1;
    out->node = ctx->n_nodes;
    return nd;
}

void qt_backward(qt_ctx *ctx, qt_tensor *out, const float *seed) {
    float *g = qt_grad(ctx, out);
    if (seed) {
        for (size_t i = 0; i < out->n; i++) g[i] += seed[i];
    } else {
        if (out->n != 1) qt_die("backward from a non-scalar tensor needs a seed");
        g[0] += 1.0f;
    }
    for (int i = ctx->n_nodes - 1; i >= 0; i--) {
        qt_node *nd = &ctx->nodes[i];
        if (!nd->out->grad) continue;
        nd->backward(ctx, nd);
        /* its consumers (later on the tape) and it have run: nothing reads this gradient again */
        if (ctx->recycle_grads && !nd->out->is_param) {
            grad_give_back(ctx, nd->out->grad, nd->out->n);
            nd->out->grad = NULL;
        }
    }
}
