/* qatc config, internal: the schema table shared by the validator, the
 * effective-config writer and the docs generator (run/config.c). Not part of
 * the public API; include run/config.h instead. */
#ifndef QATC_RUN_CONFIG_SCHEMA_H
#define QATC_RUN_CONFIG_SCHEMA_H

#include <stddef.h>

#include "run/config.h"

typedef enum {
    QT_FT_INT,      /* int, integral JSON number in [min, max] */
    QT_FT_NUM,      /* double, finite JSON number in the range */
    QT_FT_BOOL,     /* int 0/1 */
    QT_FT_STR,      /* char *, non-empty */
    QT_FT_PATH,     /* char *, non-empty, names an existing file */
    QT_FT_ENUM,     /* int index into choices; -1 when unset */
    QT_FT_OBJ,      /* nested struct at off; children are "<path>.<key>" */
    QT_FT_STRLIST,  /* qt_cfg_strlist of non-empty strings */
    QT_FT_SUITES,   /* qt_cfg_strlist: each one of choices or an existing *.jsonl */
    QT_FT_OBJLIST,  /* array at off (pointer) / off_count (int); items "<path>[].<key>" */
    QT_FT_MAP       /* object of pattern -> partial object with the keys of `sub` */
} qt_cfg_ftype;

#define QT_F_REQUIRED  0x01u  /* the key must be present */
#define QT_F_MIN       0x02u  /* value >= min (> min with QT_F_MIN_OPEN) */
#define QT_F_MAX       0x04u  /* value <= max (< max with QT_F_MAX_OPEN) */
#define QT_F_MIN_OPEN  0x08u
#define QT_F_MAX_OPEN  0x10u
#define QT_F_DERIVED   0x20u  /* default computed from other keys (doc_default says how) */
#define QT_F_NONEMPTY  0x40u  /* arrays: at least one item */
#define QT_F_DIR_OK    0x80u  /* paths: a directory is accepted too (a Hugging Face checkpoint) */

typedef struct qt_cfg_field qt_cfg_field;

/* Item-level check of an OBJLIST item after its keys were filled: obj is the
 * JSON object, item the struct. Returns 0, or -1 with a message fragment. */
typedef int (*qt_cfg_item_check)(void *item, const cJSON *obj, char *msg, size_t len);

struct qt_cfg_field {
    const char *path;          /* "quant.weights.bits", "ptq[].method" */
    qt_cfg_ftype type;
    unsigned flags;            /* QT_F_* */
    size_t off;                /* offset in the struct of the parent object / item */
    double min, max;
    const char *const *choices;/* ENUM / SUITES names, NULL-terminated */
    const char *def;           /* default as JSON text; NULL = none */
    const char *doc_default;   /* docs text replacing def (derived defaults) */
    const char *meaning;       /* one line for docs/config.md */
    /* OBJLIST and MAP */
    size_t off_count;          /* int item count in the parent struct */
    size_t item_size;
    const char *sub;           /* MAP: schema path of the value object;
                                  OBJLIST: key a bare string item stands for */
    size_t off_key, off_set, off_val; /* MAP item: pattern, set mask, value struct */
    qt_cfg_item_check item_check;     /* OBJLIST */
};

/* A rule across keys, checked after every key is valid. check returns 0, or
 * -1 with a message fragment 'key "...": ...'. */
typedef struct {
    const char *doc;
    int (*check)(const qt_config *cfg, char *msg, size_t len);
} qt_cfg_rule;

extern const qt_cfg_field qt_cfg_schema[];
extern const size_t qt_cfg_schema_len;
extern const qt_cfg_rule qt_cfg_rules[];
extern const size_t qt_cfg_rules_len;

/* Fills defaults that depend on other keys (QT_F_DERIVED fields left at
 * 0/NULL). Returns 0, or -1 with a message fragment (out of memory). */
int qt_cfg_derive(qt_config *cfg, char *msg, size_t len);

#endif
