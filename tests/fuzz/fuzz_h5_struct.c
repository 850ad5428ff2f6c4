/* libFuzzer target: the HDF5 checkpoint reader (store/h5store.c) and the token
 * cache reader (qd_tokens_load_h5) on well-formed HDF5 files of hostile
 * content. The input is a little program that builds the file through the
 * HDF5 API: the root "format"/"version" attributes (any type, any shape, or
 * absent) and datasets with fuzzer-chosen names (any bytes, '/' making
 * groups, escapes like "%2F"), types (float32/64 both byte orders, int8..64
 * signed and unsigned, fixed and variable strings), dataspaces (scalar,
 * null, 1..10-D, dims up to 2^40 with no data stored), chunking and
 * Fletcher-32, values straight from the input (NaN/Inf included) and
 * attributes on "tokens". The file gets qatc's integrity header (sealed
 * after the build, store/h5image.h), then the checks of h5_checks.h run on
 * it, and qd_tokens_load_h5. This reaches the reader's own logic (names,
 * kinds, shapes, attributes, NaN checks, size limits) past the integrity
 * check, with well-formed HDF5 metadata. */
#include "data/dataset.h"
#include "h5_checks.h"
#include "store/h5image.h"

typedef struct {
    const uint8_t *p;
    size_t n;
} rd;

static unsigned u8(rd *r) {
    if (!r->n) return 0;
    r->n--;
    return *r->p++;
}

static hid_t pick_type(unsigned k, int *is_vlen) {
    *is_vlen = 0;
    switch (k % 14) {
    case 0: return H5Tcopy(H5T_IEEE_F32LE);
    case 1: return H5Tcopy(H5T_IEEE_F32BE);
    case 2: return H5Tcopy(H5T_IEEE_F64LE);
    case 3: return H5Tcopy(H5T_STD_I32LE);
    case 4: return H5Tcopy(H5T_STD_I64LE);
    case 5: return H5Tcopy(H5T_STD_U64LE);
    case 6: return H5Tcopy(H5T_STD_U32LE);
    case 7: return H5Tcopy(H5T_STD_I8LE);
    case 8: return H5Tcopy(H5T_STD_U8LE);
    case 9: return H5Tcopy(H5T_STD_I16BE);
    case 10: return H5Tcopy(H5T_STD_I64BE);
    case 11: {
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, 1 + k / 14 % 40);
        return t;
    }
    case 12: {
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, H5T_VARIABLE);
        *is_vlen = 1;
        return t;
    }
    default: return H5Tcopy(H5T_IEEE_F32LE);
    }
}

/* A dataspace from the input: scalar, null or simple with small or huge dims. */
static hid_t pick_space(rd *r, hsize_t *npoints, int *huge) {
    unsigned k = u8(r);
    *huge = 0;
    if (k % 8 == 0) {
        *npoints = 1;
        return H5Screate(H5S_SCALAR);
    }
    if (k % 8 == 1) {
        *npoints = 0;
        return H5Screate(H5S_NULL);
    }
    int nd = 1 + (int)(k / 8 % 10);
    hsize_t dims[10], n = 1;
    for (int i = 0; i < nd; i++) {
        unsigned b = u8(r);
        if (b == 255) {
            dims[i] = (hsize_t)1 << (20 + u8(r) % 21); /* up to 2^40, never written */
            *huge = 1;
        } else {
            dims[i] = b % 9;
        }
        n *= dims[i];
    }
    if (!*huge && n > 4096) { /* keep written data small */
        for (int i = 0; i < nd; i++) dims[i] = dims[i] ? 1 : 0;
        n = 1;
        for (int i = 0; i < nd; i++) n *= dims[i];
    }
    *npoints = n;
    return H5Screate_simple(nd, dims, NULL);
}

static void make_attr(hid_t obj, const char *name, rd *r) {
    int vl;
    hid_t t = pick_type(u8(r), &vl);
    hsize_t np;
    int huge;
    hid_t s = pick_space(r, &np, &huge);
    if (huge) {
        H5Sclose(s);
        s = H5Screate(H5S_SCALAR);
        np = 1;
    }
    hid_t a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0 && np > 0) {
        size_t sz = vl ? sizeof(char *) : H5Tget_size(t);
        char *buf = calloc((size_t)np, sz + 1);
        if (buf) {
            if (vl) {
                for (hsize_t i = 0; i < np; i++) ((const char **)buf)[i] = u8(r) & 1 ? "qatc-ckpt" : "other";
            } else if (H5Tget_class(t) == H5T_STRING && u8(r) % 2 == 0) {
                for (hsize_t i = 0; i < np; i++) strncpy(buf + i * sz, QT_H5_FORMAT, sz);
            } else {
                for (size_t i = 0; i < (size_t)np * sz; i++) buf[i] = (char)u8(r);
            }
            H5Awrite(a, t, buf);
            free(buf);
        }
    }
    if (a >= 0) H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
}

static void build(rd *r, const char *path) {
    hid_t fcpl = qt_h5image_fcpl(); /* qatc's user block: sealed after closing */
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    H5Pclose(fcpl);
    if (f < 0) return;
    unsigned hdr = u8(r);
    if (hdr % 4 == 0) { /* the real header */
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, sizeof QT_H5_FORMAT);
        hid_t s = H5Screate(H5S_SCALAR);
        hid_t a = H5Acreate2(f, "format", t, s, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(a, t, QT_H5_FORMAT);
        H5Aclose(a);
        H5Tclose(t);
        int64_t v = hdr / 4 % 3; /* 0, 1 or 2 */
        a = H5Acreate2(f, "version", H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(a, H5T_NATIVE_INT64, &v);
        H5Aclose(a);
        H5Sclose(s);
    } else if (hdr % 4 == 1) { /* fuzzed header */
        make_attr(f, "format", r);
        make_attr(f, "version", r);
    } else if (hdr % 4 == 2) {
        make_attr(f, "format", r);
    }
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    for (int e = 0; e < 24 && r->n > 0; e++) {
        /* name: a few fixed ones the reader looks for, or input bytes */
        static const char *const known[] = {"param%2Fw", "param%2Fb", "param%2Flayers.0.attention.wq.weight",
                                            "tokens", "step", "config", "rng", "param/w", "%2E", "%ZZ"};
        char name[72];
        unsigned nk = u8(r);
        if (nk < 128) {
            snprintf(name, sizeof name, "%s", known[nk % 10]);
        } else {
            size_t len = 1 + nk % 64, k = 0;
            for (size_t i = 0; i < len; i++) {
                char c = (char)u8(r);
                if (c) name[k++] = c;
            }
            name[k] = 0;
            if (!k) strcpy(name, "x");
        }
        int vl;
        hid_t t = pick_type(u8(r), &vl);
        hsize_t np;
        int huge;
        hid_t s = pick_space(r, &np, &huge);
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        unsigned opt = u8(r);
        int nd = H5Sget_simple_extent_ndims(s);
        if ((huge || opt & 1) && nd > 0 && !vl) {
            hsize_t ch[10];
            for (int i = 0; i < nd; i++) ch[i] = 1;
            H5Pset_chunk(dcpl, nd, ch);
            if (opt & 2) H5Pset_fletcher32(dcpl);
        }
        hid_t d = H5Dcreate2(f, name, t, s, lcpl, dcpl, H5P_DEFAULT);
        if (d >= 0 && !huge && np > 0) {
            size_t sz = vl ? sizeof(char *) : H5Tget_size(t);
            char *buf = calloc((size_t)np, sz + 1);
            if (buf) {
                if (vl)
                    for (hsize_t i = 0; i < np; i++) ((const char **)buf)[i] = "{\"v\": 1}";
                else
                    for (size_t i = 0; i < (size_t)np * sz; i++) buf[i] = (char)u8(r);
                H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
                free(buf);
            }
        }
        if (d >= 0 && !strcmp(name, "tokens") && (opt & 4)) {
            static const char *const an[] = {"part", "source_size", "source_hash", "val_fraction", "split_seed"};
            make_attr(d, an[opt / 8 % 5], r);
        }
        if (d >= 0) H5Dclose(d);
        H5Pclose(dcpl);
        H5Sclose(s);
        H5Tclose(t);
    }
    H5Pclose(lcpl);
    H5Fclose(f);
    /* the integrity header, so the readers get past it to the content */
    char err[512];
    if (qt_h5image_seal_file(path, err, sizeof err)) {
        fprintf(stderr, "cannot seal the built file: %s\n", err);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[4096];
    if (fuzz_write_tmp((const uint8_t *)"", 0, ".struct.h5", path, sizeof path)) return 0;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    rd r = {data, size};
    build(&r, path);
    fuzz_check_h5_closed("the builder");
    char cerr[1024];
    check_ckpt_file(path, cerr, sizeof cerr);
    qd_tokens t;
    qd_token_meta meta;
    char err[256];
    if (qd_tokens_load_h5(path, &t, &meta, err, sizeof err) == 0) {
        for (size_t i = 0; i < t.n; i++)
            if (t.tok[i] < 0 || t.tok[i] > 255) abort();
    } else {
        fuzz_check_msg(err, sizeof err);
    }
    qd_tokens_free(&t);
    fuzz_check_h5_closed("qd_tokens_load_h5");
    unlink(path);
    return 0;
}
