/* qatc autograd: float32 tensors, a per-step arena, a tape of nodes, backward().
 *
 * A tensor is contiguous, row-major, up to 4-D. Parameters own their memory
 * (qt_param_new); activations live in the context's arena and die at
 * qt_ctx_reset(). Each op records one node on the tape; qt_backward() walks
 * the tape in reverse (recording order is a topological order) and
 * accumulates gradients into every input that requires them. */
#ifndef QATC_AUTOGRAD_TENSOR_H
#define QATC_AUTOGRAD_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#define QT_MAX_DIMS 4

typedef struct qt_node qt_node;

typedef struct qt_tensor {
    int ndim;
    int shape[QT_MAX_DIMS];
    size_t n;            /* element count */
    float *data;
    float *grad;         /* NULL until a gradient reaches it */
    int requires_grad;
    int is_param;        /* owns data/grad (malloc), survives qt_ctx_reset */
    int node;            /* 1 + index of its creator in the tape (ctx->nodes), 0 for leaves: an
                            index, not a pointer, because the tape grows by realloc */
    char name[96];
} qt_tensor;

/* Arena: chunks that are reused in order after qt_arena_reset, so a step that
 * asks for the same sizes as the previous one allocates nothing. */
typedef struct qt_arena_chunk {
    struct qt_arena_chunk *next;
    size_t cap, used;
    char *mem;
} qt_arena_chunk;

typedef struct qt_arena {
    qt_arena_chunk *head, *cur;
    size_t chunk_size;
    size_t n_mallocs;    /* chunks ever allocated: a test reads it */
} qt_arena;

#define QT_NODE_MAX_IN 4
#define QT_NODE_MAX_SAVED 4

typedef struct qt_ctx qt_ctx;
typedef void (*qt_backward_fn)(qt_ctx *ctx, qt_node *node);

struct qt_node {
    const char *op;
    qt_backward_fn backward;
    qt_tensor *out;
    qt_tensor *in[QT_NODE_MAX_IN];
    int n_in;
    float *saved[QT_NODE_MAX_SAVED];   /* arena buffers kept for backward */
    const void *ptr;                   /* op-specific constant data (token ids, ...) */
    int iarg[8];
    float farg[4];
};

/* Gradient buffers handed back during backward (qt_ctx_recycle_grads), one
 * list per element count; the link lives in the buffer's first bytes. */
#define QT_GRAD_BINS 64
typedef struct qt_grad_bin {
    size_t n;      /* element count of the buffers in this bin (0 = unused bin) */
    void *head;
} qt_grad_bin;

struct qt_ctx {
    qt_arena arena;
    qt_node *nodes;
    int n_nodes, cap_nodes;
    int no_grad;         /* >0: ops record nothing and outputs need no grad */
    size_t n_node_reallocs;
    int recycle_grads;   /* see qt_ctx_recycle_grads */
    qt_grad_bin grad_bins[QT_GRAD_BINS];
};

/* Creates a context whose arena grows in chunks of at least chunk_bytes. */
void qt_ctx_init(qt_ctx *ctx, size_t chunk_bytes);
/* Frees the arena and the tape. */
void qt_ctx_free(qt_ctx *ctx);
/* Forgets the tape and every arena tensor; keeps the memory for the next step. */
void qt_ctx_reset(qt_ctx *ctx);
/* Enters (+1) or leaves (-1) no-grad mode; nestable. */
void qt_no_grad(qt_ctx *ctx, int delta);
/* on = 1: from now on qt_backward hands each node's output gradient back as
 * soon as that node's backward has run (nothing reads it afterwards: every
 * consumer of the output comes later on the tape and has already run), and
 * qt_grad reuses such a buffer of the same size (zeroed) before taking arena
 * memory. Activation gradients then live about one layer long instead of the
 * whole step: the step's memory peak drops by most of their size. The price:
 * after qt_backward, only leaves (parameters, inputs) still hold gradients;
 * a node output's grad is NULL. Gradients are bit-identical either way.
 * Off by default. */
void qt_ctx_recycle_grads(qt_ctx *ctx, int on);

/* Bump allocation from the arena, 64-byte aligned; never fails (aborts on OOM). */
void *qt_arena_alloc(qt_arena *a, size_t bytes);
/* Same, zero-filled. */
void *qt_arena_calloc(qt_arena *a, size_t bytes);
/* Bytes handed out since the last reset (chunks head .. cur; the tail a
 * chunk skips when the next allocation does not fit is not counted). */
size_t qt_arena_used(const qt_arena *a);

/* A new parameter (own memory, zero data, requires grad) of the given shape. */
qt_tensor *qt_param_new(const char *name, int ndim, const int *shape);
/* Frees a parameter made by qt_param_new. */
void qt_param_free(qt_tensor *t);
/* An arena tensor (uninitialised data) of the given shape; no grad. */
qt_tensor *qt_tensor_new(qt_ctx *ctx, int ndim, const int *shape);
/* Shorthands for qt_tensor_new with 1..4 dims. */
qt_tensor *qt_new1(qt_ctx *ctx, int d0);
qt_tensor *qt_new2(qt_ctx *ctx, int d0, int d1);
qt_tensor *qt_new3(qt_ctx *ctx, int d0, int d1, int d2);
qt_tensor *qt_new4(qt_ctx *ctx, int d0, int d1, int d2, int d3);
/* An arena tensor with the same shape as t. */
qt_tensor *qt_tensor_like(qt_ctx *ctx, const qt_tensor *t);

/* Number of elements of a shape; aborts on non-positive dims or >4 dims. */
size_t qt_shape_numel(int ndim, const int *shape);
/* Product of all dims but the last (rows) and the last dim (cols). */
int qt_rows(const qt_tensor *t);
int qt_cols(const qt_tensor *t);
/* 1 if shapes are equal. */
int qt_same_shape(const qt_tensor *a, const qt_tensor *b);
/* Shape as text, e.g. "[4, 16]", into buf. */
const char *qt_shape_str(const qt_tensor *t, char *buf, size_t len);

/* The gradient buffer of t, allocated (zeroed) on first use. */
float *qt_grad(qt_ctx *ctx, qt_tensor *t);
/* Zeroes the gradients of n parameters. */
void qt_zero_grad(qt_tensor **params, int n);

/* Records a node producing out from inputs; returns NULL (and records
 * nothing) when no input requires grad or in no-grad mode. Sets
 * out->requires_grad and out->node. The returned pointer is valid until the
 * next qt_record (the tape may move when it grows). */
qt_node *qt_record(qt_ctx *ctx, const char *op, qt_backward_fn bw, qt_tensor *out,
                   int n_in, qt_tensor *const *in);
/* Seeds d(out)/d(out) = 1 for a scalar (or `seed` for a general tensor when
 * non-NULL) and runs every node's backward in reverse order. */
void qt_backward(qt_ctx *ctx, qt_tensor *out, const float *seed);

/* Prints "qatc: <msg>" to stderr and exits 1. For programming errors such as
 * shape mismatches inside ops. */
void qt_die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

#endif
