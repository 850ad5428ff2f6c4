/* qat_export: writes a qatc checkpoint's learned integers to a deployment format.
 * usage: qat_export CHECKPOINT.h5 --format gguf|awq|hdf5|hf|gptq|compressed-tensors -o OUT
 *                   [--type F32|F16|Q8_0|Q4_0|Q4_1] [--checkpoint-format gptq|gptq_v2]
 *                   [--config CONFIG.json] [--f16] [--requantize] [--name NAME] [--quant | --no-quant]
 * The model and its quantizers come from the checkpoint (the config stored in it,
 * or --config); the exporter never recomputes scales: a spec the type cannot hold
 * exactly is refused unless --requantize. A checkpoint without quantizer state
 * (base.h5) is exported as the float model unless --quant (RTN by the config's
 * policy); --no-quant exports the float master weights of a QAT checkpoint.
 * Exit 0 ok, 1 error (one line on stderr). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"
#include "io/export.h"
#include "qat/policy.h"
#include "run/artifacts.h"
#include "run/config.h"

static int usage(const char *msg) {
    fprintf(stderr, "qat_export: %s (usage: qat_export CHECKPOINT.h5 --format gguf|awq|hdf5|hf|gptq|compressed-tensors "
            "-o OUT [--type T] [--checkpoint-format gptq|gptq_v2] [--config CONFIG.json] [--f16] [--requantize] "
            "[--name NAME] [--quant | --no-quant])\n", msg);
    return 1;
}

int main(int argc, char **argv) {
    /* a file-size limit (ulimit -f) becomes a write error with a message, not a kill */
    signal(SIGXFSZ, SIG_IGN);
    const char *ckpt = NULL, *format = NULL, *out = NULL, *config = NULL;
    qt_export_opts o = {0};
    o.name = "qatc";
    int quant = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: qat_export CHECKPOINT.h5 --format gguf|awq|hdf5|hf|gptq|compressed-tensors -o OUT\n"
                   "                  [--type F32|F16|BF16|Q8_0|Q4_0|Q4_1] [--checkpoint-format gptq|gptq_v2]\n"
                   "                  [--config CONFIG.json] [--f16] [--requantize] [--name NAME] [--quant | --no-quant]\n"
                   "  --f16: unquantized 2-D tensors as F16; --requantize: re-quantize specs the type cannot hold\n"
                   "  --quant / --no-quant: attach the config's quantizers (RTN for a float checkpoint) / export\n"
                   "  the float weights (default: quantized when the checkpoint holds quantizer state)\n"
                   "  gguf: llama.cpp file (type derived from the quant spec when absent)\n"
                   "  awq:  AutoAWQ GEMM directory (model.safetensors + config.json)\n"
                   "  hdf5: qatc checkpoint of weights and quantizer state\n"
                   "  hf:   Hugging Face directory of the family (F32/F16/BF16, default BF16; config.json, tokenizer)\n"
                   "  gptq: GPTQ directory (--checkpoint-format gptq = v1, the default, or gptq_v2)\n"
                   "  compressed-tensors: llm-compressor pack-quantized directory (vLLM)\n");
            return 0;
        } else if (!strcmp(a, "--format") && has) format = argv[++i];
        else if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && has) out = argv[++i];
        else if (!strcmp(a, "--type") && has) o.type = argv[++i];
        else if (!strcmp(a, "--checkpoint-format") && has) o.checkpoint_format = argv[++i];
        else if (!strcmp(a, "--config") && has) config = argv[++i];
        else if (!strcmp(a, "--name") && has) o.name = argv[++i];
        else if (!strcmp(a, "--f16")) o.float_f16 = 1;
        else if (!strcmp(a, "--requantize")) o.requantize = 1;
        else if (!strcmp(a, "--quant")) quant = 1;
        else if (!strcmp(a, "--no-quant")) quant = 0;
        else if (a[0] == '-' || ckpt) {
            char m[300];
            snprintf(m, sizeof m, "unexpected argument \"%s\"", a);
            return usage(m);
        } else ckpt = a;
    }
    if (!ckpt) return usage("missing CHECKPOINT.h5");
    if (!format) return usage("missing --format");
    if (!out) return usage("missing -o OUT");
    if (!strcmp(format, "imatrix"))
        return usage("--format imatrix needs the run's calibration data: add {\"format\": \"imatrix\", \"path\": ...} "
                     "to the config's export list (qat_train)");
    if (strcmp(format, "gguf") && strcmp(format, "awq") && strcmp(format, "hdf5") && strcmp(format, "hf") &&
        strcmp(format, "gptq") && strcmp(format, "compressed-tensors")) {
        char m[300];
        snprintf(m, sizeof m, "--format \"%s\": expected gguf, awq, hdf5, hf, gptq or compressed-tensors", format);
        return usage(m);
    }
    qt_config cfg;
    char err[2048];
    qt_model *m = qt_load_qat(ckpt, config, quant, &cfg, err, sizeof err);
    if (!m) {
        fprintf(stderr, "qat_export: %s\n", err);
        return 1;
    }
    int rc;
    qd_tokenizer *tok = NULL;
    if (strcmp(format, "hdf5")) {
        tok = qt_run_tokenizer(&cfg, err, sizeof err);
        o.tokenizer = tok;
        rc = !tok                           ? -1
             : !strcmp(format, "gguf")      ? qt_export_gguf(m, &o, out, err, sizeof err)
             : !strcmp(format, "hf")        ? qt_export_hf(m, &o, out, err, sizeof err)
             : !strcmp(format, "awq")       ? qt_export_awq(m, &o, out, err, sizeof err)
             : !strcmp(format, "gptq")      ? qt_export_gptq(m, &o, out, err, sizeof err)
                                            : qt_export_ct(m, &o, out, err, sizeof err);
    } else {
        char *json = qt_config_to_json(&cfg);
        rc = qt_model_save(m, out, json, err, sizeof err);
        free(json);
    }
    if (rc) fprintf(stderr, "qat_export: %s\n", err);
    else fprintf(stderr, "qat_export: wrote %s\n", out);
    qd_tokenizer_free(tok);
    qt_policy_detach(m);
    qt_model_free(m);
    qt_config_free(&cfg);
    return rc ? 1 : 0;
}
