/* qatc io/checkpoint: the layout of qatc's HDF5 checkpoints, owned here and
 * nowhere else.
 *   param/<name>       every model parameter, then the quantizer state
 *                      (<weight>.scale, <weight>.offset, <weight>.act.scale)
 *   config             the effective config as JSON text
 * Stage checkpoints (train/train.c) add stage, step, opt.t, rng and the
 * AdamW moments opt.m/<name>, opt.v/<name> of the same parameters. */
#ifndef QATC_IO_CHECKPOINT_H
#define QATC_IO_CHECKPOINT_H

#include <stddef.h>

#include "nn/model.h"
#include "store/h5store.h"

/* Model parameters, then quantizer parameters (trainable ones, or all of
 * them with all = 1), in a new array (*out, caller frees). Returns the count. */
int qt_ckpt_collect(const qt_model *m, qt_tensor ***out, int all);
/* Writes params[0..n) under param/. Returns 0 or -1 (qt_h5w_error). */
int qt_ckpt_write_params(qt_h5w *w, qt_tensor *const *params, int n);
/* Reads params[0..n) from param/ with shape checks; the first n_required
 * must be present, the rest are read when present. Returns 0 or -1
 * (qt_h5r_error). */
int qt_ckpt_read_params(qt_h5r *r, qt_tensor *const *params, int n, int n_required);
/* 1 when the file holds quantizer state (a param/<...>.scale), else 0. */
int qt_ckpt_has_quant_state(const qt_h5r *r);

/* Saves the model's parameters and quantizer state as a standalone
 * checkpoint (no optimizer), atomically. Returns 0 or -1. */
int qt_model_save(const qt_model *m, const char *path, const char *config_json, char *err, size_t errlen);
/* Loads parameters (and quantizer state, when m has quantizers attached and
 * the file holds it) by name with shape checks. Returns 0 or -1. */
int qt_model_load(qt_model *m, const char *path, char *err, size_t errlen);

#endif
