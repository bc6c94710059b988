// The HDF5 C API (Debian: libhdf5-dev, serial flavour).
//
// Several HDF5 "constants" are macros Swift cannot import: the native type ids expand to
// `(H5OPEN H5T_NATIVE_UINT8_g)` (a call to H5open() followed by a global that is only valid after
// it), and H5P_DEFAULT / H5S_ALL / H5E_DEFAULT / H5F_ACC_* are casts or H5open-wrapped literals.
// The static inline helpers below re-export them as functions so Swift code can use them directly;
// each evaluates the original macro, so H5open() is always run first.
#include <hdf5.h>

static inline hid_t chdf5_native_int8(void)    { return H5T_NATIVE_INT8; }
static inline hid_t chdf5_native_uint8(void)   { return H5T_NATIVE_UINT8; }
static inline hid_t chdf5_native_int16(void)   { return H5T_NATIVE_INT16; }
static inline hid_t chdf5_native_uint16(void)  { return H5T_NATIVE_UINT16; }
static inline hid_t chdf5_native_int32(void)   { return H5T_NATIVE_INT32; }
static inline hid_t chdf5_native_uint32(void)  { return H5T_NATIVE_UINT32; }
static inline hid_t chdf5_native_int64(void)   { return H5T_NATIVE_INT64; }
static inline hid_t chdf5_native_uint64(void)  { return H5T_NATIVE_UINT64; }
static inline hid_t chdf5_native_float(void)   { return H5T_NATIVE_FLOAT; }
static inline hid_t chdf5_native_double(void)  { return H5T_NATIVE_DOUBLE; }
/// Little-endian standard types, for files written by `HDF5Writer` (what h5py writes on x86).
static inline hid_t chdf5_std_u8le(void)       { return H5T_STD_U8LE; }
static inline hid_t chdf5_std_i64le(void)      { return H5T_STD_I64LE; }

static inline hid_t chdf5_p_default(void)      { return H5P_DEFAULT; }
static inline hid_t chdf5_s_all(void)          { return H5S_ALL; }
static inline hid_t chdf5_e_default(void)      { return H5E_DEFAULT; }
static inline unsigned chdf5_f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned chdf5_f_acc_trunc(void)  { return H5F_ACC_TRUNC; }
/// Strings (attributes such as Keras' `model_config`, `layer_names`, `weight_names`).
static inline hid_t chdf5_c_s1(void)           { return H5T_C_S1; }
static inline size_t chdf5_variable(void)      { return H5T_VARIABLE; }
/// Property list classes: link creation (intermediate groups), dataset creation.
static inline hid_t chdf5_p_link_create(void)  { return H5P_LINK_CREATE; }
static inline hid_t chdf5_p_file_create(void)  { return H5P_FILE_CREATE; }
static inline hid_t chdf5_p_group_create(void) { return H5P_GROUP_CREATE; }
static inline hid_t chdf5_p_dataset_create(void) { return H5P_DATASET_CREATE; }

/// Turns off HDF5's automatic printing of its error stack to stderr (errors are reported as Swift
/// errors instead). Returns a negative value on failure.
static inline herr_t chdf5_silence_errors(void) {
    if (H5open() < 0) return -1;
    return H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}
