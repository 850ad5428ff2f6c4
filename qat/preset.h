/* qatc llama.cpp presets: the per-tensor ggml types that `llama-quantize`
 * chooses for a file type ("Q4_K_M" ...), so that a QAT run trains each
 * Linear on the grid llama.cpp would write there.
 *
 * The rules follow llama.cpp's src/llama-quant.cpp (llama_tensor_get_type_impl
 * and tensor_type_fallback, ggml-org/llama.cpp at 007dbbf; unchanged in the
 * build users of node-llama-cpp 3.22.1 run, its llama/gitRelease.bundle at
 * de3ff81: llama-quant.cpp lines 372-426 and 428-680, where the layer i of
 * attn_v / ffn_down is the counter i_attention_wv / i_ffn_down over tensors in
 * the loader's order, sorted by block number, and n the count of those
 * tensors), for dense models (no experts, not Falcon, not LLM_TYPE_70B);
 * tests/cli/llamacpp_presets.sh checks every preset against that build's
 * llama_model_quantize, tensor by tensor:
 *   output (and a tied token_embd): Q6_K unless the base type is Q8_0; Q8_0
 *       when its row is not a multiple of the base type's block;
 *   attn_v (layer i of n): Q2_K → n_gqa >= 4 ? Q4_K : Q3_K; Q3_K_M → i < 2 ?
 *       Q5_K : Q4_K; Q4_K_M, Q5_K_M → Q6_K when use_more_bits(i, n);
 *       Q4_K_S → Q5_K for i < 4;
 *   ffn_down (layer i of n): Q2_K → Q3_K; Q3_K_M → i < n/16 ? Q5_K : Q4_K;
 *       Q4_K_M, Q5_K_M → Q6_K when use_more_bits(i, n); Q4_K_S → Q5_K for
 *       i < n/8; Q4_0 with an importance matrix → Q4_1 for i < n/8;
 *   attn_output: Q2_K → Q3_K; Q3_K_M → Q4_K;
 *   everything else: the base type (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_0, Q4_0);
 * use_more_bits(i, n) = i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2.
 * Then the fallback when a row is not a multiple of the type's block:
 * Q2_K, Q3_K → Q4_0; Q4_K → Q5_0; Q5_K → Q5_1; Q6_K → Q8_0 (F16 when even
 * that block does not divide the row). An untied token_embd, which llama.cpp
 * quantizes at the base type, stays float in qatc (it is not a Linear); a tied
 * one is the output (llama.cpp assumes tied embeddings when the file has no
 * output.weight, so token_embd takes the output rule). */
#ifndef QATC_QAT_PRESET_H
#define QATC_QAT_PRESET_H

/* Presets, in the order of quant.preset's choices. */
typedef enum {
    QT_PRESET_NONE = 0, QT_PRESET_Q2_K, QT_PRESET_Q3_K_M, QT_PRESET_Q4_K_S, QT_PRESET_Q4_K_M, QT_PRESET_Q5_K_M,
    QT_PRESET_Q6_K, QT_PRESET_Q8_0, QT_PRESET_Q4_0, QT_N_PRESETS
} qt_preset;

/* Where a Linear sits, as the preset rules see it. */
typedef struct qt_preset_tensor {
    const char *name;  /* qatc parameter name ("layers.3.attention.wv.weight", "output.weight", ...) */
    int cols;          /* row length (input size) */
    int n_layers;      /* decoder blocks of the model */
    int n_gqa;         /* heads / kv_heads */
    int tied;          /* the output Linear is the token embedding */
} qt_preset_tensor;

/* Name of a preset ("Q4_K_M"), or NULL. */
const char *qt_preset_name(qt_preset p);
/* The ggml type llama.cpp writes for tensor t under preset p (see the top;
 * imatrix: whether an importance matrix is given), or -1 for QT_PRESET_NONE. */
int qt_preset_type(qt_preset p, const qt_preset_tensor *t, int imatrix);
/* The ggml type of the tensors no rule changes (Q4_K for Q4_K_M), or -1. */
int qt_preset_base_type(qt_preset p);
/* llama.cpp's general.file_type (LLAMA_FTYPE_MOSTLY_*) of a preset. */
int qt_preset_file_type(qt_preset p);

#endif
