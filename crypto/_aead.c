/* crypto._aead: the per-record formats of crypto/_format.py on OpenSSL's AES-256-GCM, one call each.

Private, like crypto/_format.py, whose docstring defines the bytes; this module must write exactly
the same bytes as the Python functions there (tests/crypto/test_known_answers.py and
tests/crypto/test_native.py hold it to that). It exists for speed: building an AESGCM object per
data key costs as much as the AES work itself, because OpenSSL 3 fetches the cipher and sets up a
context each time. Here the cipher is fetched once, a bucket key's contexts are keyed once (a wrap
or unwrap only sets the nonce), and the per-record data key is set on one shared context.

Keys: a SecretKey keeps its 32 bytes and its keyed contexts in C memory only (no buffer protocol,
no pickling, a repr without key bytes) and cleanses them when freed. A record's data key lives on
the C stack while it is opened, and is cleansed before return, as is plaintext that failed its
tag. On seal the data key arrives from Python (crypto/_randomness.py's pool), so it was in Python
memory already.

The GIL is held for every call: a call is a few microseconds of AES and never calls back into
Python. The shared data-key contexts and each SecretKey's contexts depend on that: no two threads
ever use one at the same time. (Single-phase init: a free-threaded build keeps the GIL on for this
module, and a subinterpreter with its own GIL refuses to load it.)

Every failure to open raises crypto.errors.DecryptError with no cause and its fixed message;
malformed arguments that are programming errors (wrong types, a record that is not a RecordRef)
raise TypeError or ValueError. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#define KEY_BYTES 32
#define KEY_ID_BYTES 16
#define NONCE_BYTES 12
#define TAG_BYTES 16
#define FORMAT_V1 1
/* Wrapped data key: version | key_id | nonce | body + tag. */
#define WRAPPED_HEADER_BYTES (1 + KEY_ID_BYTES)
#define WRAPPED_KEY_BYTES (WRAPPED_HEADER_BYTES + NONCE_BYTES + KEY_BYTES + TAG_BYTES)
/* Sealed PII: version | nonce | body + tag. */
#define PII_BODY_OFFSET (1 + NONCE_BYTES)
#define PII_MIN_BYTES (PII_BODY_OFFSET + TAG_BYTES)
/* Record ADs are at most ~2.3 kB (RecordRef's limits, 4-byte UTF-8); most are under 100 B. */
#define RECORD_AD_STACK_BYTES 1024

/* "\x01ordervault/pii\0": sizeof counts the string's terminating NUL, which is the AD's separator
   between label and record. */
static const char PII_AD_PREFIX[] = "\x01"
                                    "ordervault/pii";
#define PII_AD_PREFIX_BYTES ((int)sizeof(PII_AD_PREFIX))

static EVP_CIPHER *aes_256_gcm;
/* Re-keyed with each record's data key; shared under the GIL. */
static EVP_CIPHER_CTX *data_key_sealer;
static EVP_CIPHER_CTX *data_key_opener;
static PyObject *DecryptError;

/* --- AES-256-GCM on a context that already holds the cipher ---------------------------------- */

/* Encrypts `in` into `out` and appends the tag: `out` has in_len + TAG_BYTES bytes. A NULL key
   keeps the context's key and sets only the nonce. AD is `ad` then `record_ad`. */
static int
gcm_seal(EVP_CIPHER_CTX *ctx, const unsigned char *key, const unsigned char *nonce,
         const unsigned char *ad, int ad_len, const unsigned char *record_ad, int record_ad_len,
         const unsigned char *in, int in_len, unsigned char *out)
{
    int written;
    if (EVP_EncryptInit_ex2(ctx, NULL, key, nonce, NULL) != 1
        || EVP_EncryptUpdate(ctx, NULL, &written, ad, ad_len) != 1
        || EVP_EncryptUpdate(ctx, NULL, &written, record_ad, record_ad_len) != 1
        || (in_len > 0 && EVP_EncryptUpdate(ctx, out, &written, in, in_len) != 1)
        || EVP_EncryptFinal_ex(ctx, out + in_len, &written) != 1
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_BYTES, out + in_len) != 1) {
        ERR_clear_error();
        return 0;
    }
    return 1;
}

/* Decrypts `in` (in_len bytes, tag not included) into `out`; 1 only if the tag verifies. On 0,
   `out` may hold unauthenticated plaintext: the caller cleanses it. */
static int
gcm_open(EVP_CIPHER_CTX *ctx, const unsigned char *key, const unsigned char *nonce,
         const unsigned char *ad, int ad_len, const unsigned char *record_ad, int record_ad_len,
         const unsigned char *in, int in_len, const unsigned char *tag, unsigned char *out)
{
    int written;
    if (EVP_DecryptInit_ex2(ctx, NULL, key, nonce, NULL) != 1
        || EVP_DecryptUpdate(ctx, NULL, &written, ad, ad_len) != 1
        || EVP_DecryptUpdate(ctx, NULL, &written, record_ad, record_ad_len) != 1
        || (in_len > 0 && EVP_DecryptUpdate(ctx, out, &written, in, in_len) != 1)
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_BYTES, (void *)tag) != 1
        || EVP_DecryptFinal_ex(ctx, out + in_len, &written) != 1) {
        ERR_clear_error();
        return 0;
    }
    return 1;
}

static EVP_CIPHER_CTX *
new_context(int encrypt, const unsigned char *key)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        return NULL;
    }
    int ok = encrypt ? EVP_EncryptInit_ex2(ctx, aes_256_gcm, key, NULL, NULL)
                     : EVP_DecryptInit_ex2(ctx, aes_256_gcm, key, NULL, NULL);
    if (ok != 1) {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* Re-keys a shared data-key context with zeros, so the key schedule of the record just opened
   does not stay in memory until the next record replaces it. Not done after a seal: that data
   key came from Python's memory (the randomness pool) and stays there until the pool is freed. */
static void
forget_data_key(EVP_CIPHER_CTX *ctx, int encrypt)
{
    static const unsigned char zeros[KEY_BYTES];
    int ok = encrypt ? EVP_EncryptInit_ex2(ctx, NULL, zeros, NULL, NULL)
                     : EVP_DecryptInit_ex2(ctx, NULL, zeros, NULL, NULL);
    if (ok != 1) {
        ERR_clear_error();
    }
}

/* --- SecretKey -------------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    unsigned char raw[KEY_BYTES];
    EVP_CIPHER_CTX *sealer; /* keyed: a wrap sets only the nonce */
    EVP_CIPHER_CTX *opener;
} SecretKey;

static PyTypeObject SecretKey_Type;

static PyObject *
secret_key_from_raw(const unsigned char *raw)
{
    SecretKey *self = PyObject_New(SecretKey, &SecretKey_Type);
    if (self == NULL) {
        return NULL;
    }
    memcpy(self->raw, raw, KEY_BYTES);
    self->sealer = new_context(1, raw);
    self->opener = self->sealer == NULL ? NULL : new_context(0, raw);
    if (self->opener == NULL) {
        ERR_clear_error();
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    return (PyObject *)self;
}

static PyObject *
SecretKey_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    Py_buffer raw;
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0) {
        PyErr_SetString(PyExc_TypeError, "SecretKey takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "y*:SecretKey", &raw)) {
        return NULL;
    }
    PyObject *self = NULL;
    if (raw.len == KEY_BYTES) {
        self = secret_key_from_raw(raw.buf);
    }
    else {
        PyErr_Format(PyExc_ValueError, "a SecretKey is %d bytes", KEY_BYTES);
    }
    PyBuffer_Release(&raw);
    return self;
}

static void
SecretKey_dealloc(SecretKey *self)
{
    OPENSSL_cleanse(self->raw, KEY_BYTES);
    /* Frees the provider context with OPENSSL_clear_free: the key schedule is cleansed too. */
    EVP_CIPHER_CTX_free(self->sealer);
    EVP_CIPHER_CTX_free(self->opener);
    PyObject_Free(self);
}

static PyObject *
SecretKey_repr(PyObject *self)
{
    return PyUnicode_FromString("<SecretKey AES-256-GCM, redacted>");
}

static PyObject *
SecretKey_reduce(PyObject *self, PyObject *unused)
{
    PyErr_SetString(PyExc_TypeError, "a SecretKey cannot be pickled or copied");
    return NULL;
}

static PyMethodDef SecretKey_methods[] = {
    {"__reduce__", SecretKey_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject SecretKey_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "crypto._aead.SecretKey",
    .tp_doc = PyDoc_STR("SecretKey(raw: bytes): a 256-bit AES-GCM key held in C memory only."),
    .tp_basicsize = sizeof(SecretKey),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = SecretKey_new,
    .tp_dealloc = (destructor)SecretKey_dealloc,
    .tp_repr = SecretKey_repr,
    .tp_methods = SecretKey_methods,
};

/* --- arguments -------------------------------------------------------------------------------- */

/* client NUL marketplace NUL record_id NUL schema_version, UTF-8: _format._record_ad. */
typedef struct {
    unsigned char *bytes;
    int len;
    unsigned char stack[RECORD_AD_STACK_BYTES];
} RecordAd;

static int
record_ad_build(RecordAd *ad, PyObject *record)
{
    const char *fields[3];
    Py_ssize_t field_lens[3];
    char digits[24];
    ad->bytes = ad->stack;
    ad->len = 0;
    if (!PyTuple_Check(record) || PyTuple_GET_SIZE(record) != 4
        || !PyLong_CheckExact(PyTuple_GET_ITEM(record, 3))) {
        PyErr_SetString(PyExc_TypeError, "record must be a RecordRef");
        return -1;
    }
    Py_ssize_t total = 3;
    for (int i = 0; i < 3; i++) {
        PyObject *field = PyTuple_GET_ITEM(record, i);
        if (!PyUnicode_Check(field)) {
            PyErr_SetString(PyExc_TypeError, "record must be a RecordRef");
            return -1;
        }
        fields[i] = PyUnicode_AsUTF8AndSize(field, &field_lens[i]);
        if (fields[i] == NULL) {
            return -1;
        }
        if (field_lens[i] > INT_MAX / 4) {
            PyErr_SetString(PyExc_OverflowError, "record field too long");
            return -1;
        }
        total += field_lens[i];
    }
    /* Non-negative and below 2**31 in a RecordRef; snprintf cost a quarter of this function. */
    long schema_version = PyLong_AsLong(PyTuple_GET_ITEM(record, 3));
    if (schema_version == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (schema_version < 0) {
        PyErr_SetString(PyExc_ValueError, "schema_version must not be negative");
        return -1;
    }
    char *version = digits + sizeof(digits);
    do {
        *--version = (char)('0' + schema_version % 10);
        schema_version /= 10;
    } while (schema_version > 0);
    int version_len = (int)(digits + sizeof(digits) - version);
    total += version_len;
    if (total > RECORD_AD_STACK_BYTES) {
        ad->bytes = PyMem_Malloc(total);
        if (ad->bytes == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    unsigned char *at = ad->bytes;
    for (int i = 0; i < 3; i++) {
        memcpy(at, fields[i], field_lens[i]);
        at += field_lens[i];
        *at++ = '\0';
    }
    memcpy(at, version, version_len);
    ad->len = (int)total;
    return 0;
}

static void
record_ad_free(RecordAd *ad)
{
    if (ad->bytes != ad->stack) {
        PyMem_Free(ad->bytes);
    }
}

static SecretKey *
secret_key_arg(PyObject *arg)
{
    if (!Py_IS_TYPE(arg, &SecretKey_Type)) {
        PyErr_SetString(PyExc_TypeError, "the key must be a SecretKey");
        return NULL;
    }
    return (SecretKey *)arg;
}

/* The bucket's AD (_format.bucket_ad): starts with the wrapped key's header, fits an int. */
static int
bucket_ad_arg(PyObject *arg)
{
    if (!PyBytes_CheckExact(arg) || PyBytes_GET_SIZE(arg) < WRAPPED_HEADER_BYTES
        || PyBytes_GET_SIZE(arg) > INT_MAX / 2) {
        PyErr_SetString(PyExc_TypeError, "bucket_ad must be the bucket's AD bytes");
        return -1;
    }
    return 0;
}

static int
is_bytes_of(PyObject *arg, Py_ssize_t size)
{
    return PyBytes_CheckExact(arg) && PyBytes_GET_SIZE(arg) == size;
}

/* (key_id, nonce, body + tag) from _format.split_wrapped_key, naming the bucket of `bucket_ad`. */
static int
wrapped_key_parts(PyObject *parts, PyObject *bucket_ad, const unsigned char **nonce,
                  const unsigned char **body)
{
    if (!PyTuple_CheckExact(parts) || PyTuple_GET_SIZE(parts) != 3) {
        return -1;
    }
    PyObject *key_id = PyTuple_GET_ITEM(parts, 0);
    PyObject *nonce_bytes = PyTuple_GET_ITEM(parts, 1);
    PyObject *body_bytes = PyTuple_GET_ITEM(parts, 2);
    if (!is_bytes_of(key_id, KEY_ID_BYTES) || !is_bytes_of(nonce_bytes, NONCE_BYTES)
        || !is_bytes_of(body_bytes, KEY_BYTES + TAG_BYTES)
        || memcmp(PyBytes_AS_STRING(key_id), PyBytes_AS_STRING(bucket_ad) + 1, KEY_ID_BYTES) != 0) {
        return -1;
    }
    *nonce = (const unsigned char *)PyBytes_AS_STRING(nonce_bytes);
    *body = (const unsigned char *)PyBytes_AS_STRING(body_bytes);
    return 0;
}

static int
positional_args(const char *function, Py_ssize_t nargs, Py_ssize_t expected)
{
    if (nargs != expected) {
        PyErr_Format(PyExc_TypeError, "%s takes %zd positional arguments (%zd given)", function,
                     expected, nargs);
        return 0;
    }
    return 1;
}

static PyObject *
decrypt_error(void)
{
    PyErr_SetNone(DecryptError);
    return NULL;
}

/* What every entry point starts with: its argument count, then (bucket key, bucket AD) in
   args[0] and args[1]. 0, or -1 with TypeError set. */
static int
bucket_args(const char *function, PyObject *const *args, Py_ssize_t nargs, Py_ssize_t expected,
            SecretKey **bucket_key)
{
    if (!positional_args(function, nargs, expected)) {
        return -1;
    }
    *bucket_key = secret_key_arg(args[0]);
    if (*bucket_key == NULL || bucket_ad_arg(args[1]) < 0) {
        return -1;
    }
    return 0;
}

/* bucket_args, then args[2] as the parts of a key wrapped under that bucket. 0, or -1 with
   TypeError set (the caller's mistake) or DecryptError (parts of no key of this bucket). */
static int
wrapped_key_args(const char *function, PyObject *const *args, Py_ssize_t nargs,
                 Py_ssize_t expected, SecretKey **bucket_key, const unsigned char **key_nonce,
                 const unsigned char **key_body)
{
    if (bucket_args(function, args, nargs, expected, bucket_key) < 0) {
        return -1;
    }
    if (wrapped_key_parts(args[2], args[1], key_nonce, key_body) < 0) {
        decrypt_error();
        return -1;
    }
    return 0;
}

/* --- a data key under a bucket key: wrapped key = header (from the bucket AD) | nonce | body --- */

/* Writes the wrapped form of `data_key` (WRAPPED_KEY_BYTES) at `wrapped_at`. */
static int
wrap_into(SecretKey *bucket_key, PyObject *bucket_ad, const unsigned char *nonce,
          const unsigned char *data_key, const RecordAd *record_ad, unsigned char *wrapped_at)
{
    const unsigned char *ad = (const unsigned char *)PyBytes_AS_STRING(bucket_ad);
    memcpy(wrapped_at, ad, WRAPPED_HEADER_BYTES);
    memcpy(wrapped_at + WRAPPED_HEADER_BYTES, nonce, NONCE_BYTES);
    return gcm_seal(bucket_key->sealer, NULL, nonce, ad, (int)PyBytes_GET_SIZE(bucket_ad),
                    record_ad->bytes, record_ad->len, data_key, KEY_BYTES,
                    wrapped_at + WRAPPED_HEADER_BYTES + NONCE_BYTES);
}

/* The data key of a wrapped key's (nonce, body) into `data_key`; 1 only if its tag verifies.
   On 0 `data_key` may hold unauthenticated bytes: the caller cleanses it either way. */
static int
unwrap_into(SecretKey *bucket_key, PyObject *bucket_ad, const unsigned char *key_nonce,
            const unsigned char *key_body, const RecordAd *record_ad, unsigned char *data_key)
{
    return gcm_open(bucket_key->opener, NULL, key_nonce,
                    (const unsigned char *)PyBytes_AS_STRING(bucket_ad),
                    (int)PyBytes_GET_SIZE(bucket_ad), record_ad->bytes, record_ad->len, key_body,
                    KEY_BYTES, key_body + KEY_BYTES, data_key);
}

/* --- the formats ------------------------------------------------------------------------------ */

PyDoc_STRVAR(seal_record_doc,
             "seal_record(bucket_key, bucket_ad, randomness, pii, record) -> (sealed, wrapped)\n\n"
             "_format.seal_record with a SecretKey; randomness is (data key, PII nonce, key "
             "nonce).");

static PyObject *
seal_record(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    SecretKey *bucket_key;
    if (bucket_args("seal_record", args, nargs, 5, &bucket_key) < 0) {
        return NULL;
    }
    PyObject *bucket_ad = args[1], *randomness = args[2];
    if (!PyTuple_CheckExact(randomness) || PyTuple_GET_SIZE(randomness) != 3
        || !is_bytes_of(PyTuple_GET_ITEM(randomness, 0), KEY_BYTES)
        || !is_bytes_of(PyTuple_GET_ITEM(randomness, 1), NONCE_BYTES)
        || !is_bytes_of(PyTuple_GET_ITEM(randomness, 2), NONCE_BYTES)) {
        PyErr_SetString(PyExc_ValueError, "randomness must be (32, 12, 12) random bytes");
        return NULL;
    }
    const unsigned char *data_key = (unsigned char *)PyBytes_AS_STRING(PyTuple_GET_ITEM(randomness, 0));
    const unsigned char *pii_nonce = (unsigned char *)PyBytes_AS_STRING(PyTuple_GET_ITEM(randomness, 1));
    const unsigned char *key_nonce = (unsigned char *)PyBytes_AS_STRING(PyTuple_GET_ITEM(randomness, 2));

    Py_buffer pii;
    if (PyObject_GetBuffer(args[3], &pii, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    PyObject *sealed = NULL, *wrapped = NULL, *result = NULL;
    RecordAd record_ad;
    if (record_ad_build(&record_ad, args[4]) < 0) {
        goto done;
    }
    if (pii.len > INT_MAX - PII_MIN_BYTES) {
        PyErr_SetString(PyExc_OverflowError, "PII too long: at most 2**31 - 30 bytes");
        goto done;
    }
    int pii_len = (int)pii.len;
    sealed = PyBytes_FromStringAndSize(NULL, PII_MIN_BYTES + pii_len);
    wrapped = PyBytes_FromStringAndSize(NULL, WRAPPED_KEY_BYTES);
    if (sealed == NULL || wrapped == NULL) {
        goto done;
    }
    unsigned char *sealed_at = (unsigned char *)PyBytes_AS_STRING(sealed);
    sealed_at[0] = FORMAT_V1;
    memcpy(sealed_at + 1, pii_nonce, NONCE_BYTES);
    if (!gcm_seal(data_key_sealer, data_key, pii_nonce, (const unsigned char *)PII_AD_PREFIX,
                  PII_AD_PREFIX_BYTES, record_ad.bytes, record_ad.len, pii.buf, pii_len,
                  sealed_at + PII_BODY_OFFSET)
        || !wrap_into(bucket_key, bucket_ad, key_nonce, data_key, &record_ad,
                      (unsigned char *)PyBytes_AS_STRING(wrapped))) {
        PyErr_SetString(PyExc_RuntimeError, "OpenSSL AES-256-GCM encryption failed");
        goto done;
    }
    result = PyTuple_Pack(2, sealed, wrapped);
done:
    Py_XDECREF(sealed);
    Py_XDECREF(wrapped);
    record_ad_free(&record_ad);
    PyBuffer_Release(&pii);
    return result;
}

PyDoc_STRVAR(open_record_doc,
             "open_record(bucket_key, bucket_ad, wrapped_key_parts, sealed, record) -> bytes\n\n"
             "_format.open_record with a SecretKey; DecryptError on any failure.");

static PyObject *
open_record(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    SecretKey *bucket_key;
    const unsigned char *key_nonce, *key_body;
    if (wrapped_key_args("open_record", args, nargs, 5, &bucket_key, &key_nonce, &key_body) < 0) {
        return NULL;
    }
    PyObject *bucket_ad = args[1];
    Py_buffer sealed;
    if (PyObject_GetBuffer(args[3], &sealed, PyBUF_SIMPLE) < 0) {
        PyErr_Clear();
        return decrypt_error();
    }
    const unsigned char *sealed_at = sealed.buf;
    if (sealed.len < PII_MIN_BYTES || sealed.len > INT_MAX || sealed_at[0] != FORMAT_V1) {
        PyBuffer_Release(&sealed);
        return decrypt_error();
    }
    RecordAd record_ad;
    if (record_ad_build(&record_ad, args[4]) < 0) {
        record_ad_free(&record_ad);
        PyBuffer_Release(&sealed);
        return NULL;
    }
    int pii_len = (int)sealed.len - PII_MIN_BYTES;
    unsigned char data_key[KEY_BYTES];
    PyObject *pii = NULL;
    int opened = unwrap_into(bucket_key, bucket_ad, key_nonce, key_body, &record_ad, data_key);
    if (opened) {
        pii = PyBytes_FromStringAndSize(NULL, pii_len);
        if (pii != NULL) {
            unsigned char *pii_at = (unsigned char *)PyBytes_AS_STRING(pii);
            opened = gcm_open(data_key_opener, data_key, sealed_at + 1,
                              (const unsigned char *)PII_AD_PREFIX, PII_AD_PREFIX_BYTES,
                              record_ad.bytes, record_ad.len, sealed_at + PII_BODY_OFFSET,
                              pii_len, sealed_at + PII_BODY_OFFSET + pii_len, pii_at);
            if (!opened) {
                OPENSSL_cleanse(pii_at, pii_len);
                Py_CLEAR(pii);
            }
        }
    }
    OPENSSL_cleanse(data_key, KEY_BYTES);
    forget_data_key(data_key_opener, 0);
    record_ad_free(&record_ad);
    PyBuffer_Release(&sealed);
    if (!opened) {
        return decrypt_error();
    }
    return pii; /* NULL with MemoryError set if the allocation failed */
}

PyDoc_STRVAR(unwrap_data_key_doc,
             "unwrap_data_key(bucket_key, bucket_ad, wrapped_key_parts, record) -> SecretKey\n\n"
             "_format.unwrap_data_key with SecretKeys; DecryptError on any failure.");

static PyObject *
unwrap_data_key(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    SecretKey *bucket_key;
    const unsigned char *key_nonce, *key_body;
    if (wrapped_key_args("unwrap_data_key", args, nargs, 4, &bucket_key, &key_nonce, &key_body)
        < 0) {
        return NULL;
    }
    PyObject *bucket_ad = args[1];
    RecordAd record_ad;
    if (record_ad_build(&record_ad, args[3]) < 0) {
        record_ad_free(&record_ad);
        return NULL;
    }
    unsigned char data_key[KEY_BYTES];
    int opened = unwrap_into(bucket_key, bucket_ad, key_nonce, key_body, &record_ad, data_key);
    record_ad_free(&record_ad);
    PyObject *result = opened ? secret_key_from_raw(data_key) : decrypt_error();
    OPENSSL_cleanse(data_key, KEY_BYTES);
    return result;
}

PyDoc_STRVAR(wrap_data_key_doc,
             "wrap_data_key(bucket_key, bucket_ad, nonce, data_key, record) -> bytes\n\n"
             "_format.wrap_data_key with SecretKeys.");

static PyObject *
wrap_data_key(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    SecretKey *bucket_key;
    if (bucket_args("wrap_data_key", args, nargs, 5, &bucket_key) < 0) {
        return NULL;
    }
    PyObject *bucket_ad = args[1], *nonce = args[2];
    SecretKey *data_key = secret_key_arg(args[3]);
    if (data_key == NULL) {
        return NULL;
    }
    if (!is_bytes_of(nonce, NONCE_BYTES)) {
        PyErr_SetString(PyExc_ValueError, "the nonce must be 12 random bytes");
        return NULL;
    }
    RecordAd record_ad;
    if (record_ad_build(&record_ad, args[4]) < 0) {
        record_ad_free(&record_ad);
        return NULL;
    }
    PyObject *wrapped = PyBytes_FromStringAndSize(NULL, WRAPPED_KEY_BYTES);
    if (wrapped != NULL) {
        if (!wrap_into(bucket_key, bucket_ad, (const unsigned char *)PyBytes_AS_STRING(nonce),
                       data_key->raw, &record_ad, (unsigned char *)PyBytes_AS_STRING(wrapped))) {
            PyErr_SetString(PyExc_RuntimeError, "OpenSSL AES-256-GCM encryption failed");
            Py_CLEAR(wrapped);
        }
    }
    record_ad_free(&record_ad);
    return wrapped;
}

/* --- module ----------------------------------------------------------------------------------- */

static PyMethodDef module_methods[] = {
    {"seal_record", (PyCFunction)(void (*)(void))seal_record, METH_FASTCALL, seal_record_doc},
    {"open_record", (PyCFunction)(void (*)(void))open_record, METH_FASTCALL, open_record_doc},
    {"unwrap_data_key", (PyCFunction)(void (*)(void))unwrap_data_key, METH_FASTCALL,
     unwrap_data_key_doc},
    {"wrap_data_key", (PyCFunction)(void (*)(void))wrap_data_key, METH_FASTCALL,
     wrap_data_key_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef aead_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "crypto._aead",
    .m_doc = "crypto/_format.py's per-record formats on OpenSSL's AES-256-GCM. Private.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__aead(void)
{
    PyObject *errors = PyImport_ImportModule("crypto.errors");
    if (errors == NULL) {
        return NULL;
    }
    DecryptError = PyObject_GetAttrString(errors, "DecryptError");
    Py_DECREF(errors);
    if (DecryptError == NULL) {
        return NULL;
    }
    aes_256_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    data_key_sealer = aes_256_gcm == NULL ? NULL : new_context(1, NULL);
    data_key_opener = data_key_sealer == NULL ? NULL : new_context(0, NULL);
    if (data_key_opener == NULL) {
        ERR_clear_error();
        /* ImportError: crypto/_format.py then falls back to the pure-Python path. */
        PyErr_SetString(PyExc_ImportError, "OpenSSL has no usable AES-256-GCM");
        return NULL;
    }
    if (PyType_Ready(&SecretKey_Type) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&aead_module);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "SecretKey", (PyObject *)&SecretKey_Type) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
