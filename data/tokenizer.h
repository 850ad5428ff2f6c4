/* qatc data/tokenizer: the byte tokenizer. Vocabulary 256, token = byte
 * value (0..255), so any byte string round-trips exactly and no token is
 * ever unknown. */
#ifndef QATC_DATA_TOKENIZER_H
#define QATC_DATA_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#define QD_VOCAB 256

/* Encodes n bytes into n tokens (out holds n int32). Returns n. */
size_t qd_tok_encode(const void *bytes, size_t n, int32_t *out);
/* Encodes n bytes into a new malloc'd array (*out); 0 or -1 on OOM
 * (err filled). n == 0 gives a valid 1-slot allocation. */
int qd_tok_encode_alloc(const void *bytes, size_t n, int32_t **out, char *err, size_t errlen);
/* Decodes n tokens into out (n + 1 bytes; NUL-terminated, though the bytes
 * may themselves contain NUL). Returns 0, or -1 when a token is outside
 * [0, 256) (err names its position and value). */
int qd_tok_decode(const int32_t *tok, size_t n, char *out, char *err, size_t errlen);

#endif
