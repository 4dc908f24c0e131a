// Typed wrappers over cudnnBackendSetAttribute / GetAttribute / Finalize. Each throws
// CudnnFailure naming the attribute, so graph building reads as a list of facts and a
// rejected graph or engine surfaces as one catchable error.
#pragma once

#include <cudnn.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cudnn_ref/cudnn_raii.h"

namespace mbv2::cudnn {

/// Raw set with a status check; `count` elements of `type` at `values`.
void set_attr(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name,
              cudnnBackendAttributeType_t type, int64_t count, const void* values);

inline void set_int64(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name, int64_t v) {
  set_attr(d, name, CUDNN_TYPE_INT64, 1, &v);
}
inline void set_int64s(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name,
                       const std::vector<int64_t>& v) {
  set_attr(d, name, CUDNN_TYPE_INT64, int64_t(v.size()), v.data());
}
inline void set_data_type(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name,
                          cudnnDataType_t v) {
  set_attr(d, name, CUDNN_TYPE_DATA_TYPE, 1, &v);
}
inline void set_bool(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name, bool v) {
  set_attr(d, name, CUDNN_TYPE_BOOLEAN, 1, &v);
}
inline void set_double(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name, double v) {
  set_attr(d, name, CUDNN_TYPE_DOUBLE, 1, &v);
}
inline void set_float(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name, float v) {
  set_attr(d, name, CUDNN_TYPE_FLOAT, 1, &v);
}
inline void set_desc(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name,
                     cudnnBackendDescriptor_t v) {
  set_attr(d, name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &v);
}
inline void set_descs(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name,
                      const std::vector<cudnnBackendDescriptor_t>& v) {
  set_attr(d, name, CUDNN_TYPE_BACKEND_DESCRIPTOR, int64_t(v.size()), v.data());
}
inline void set_handle(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name,
                       cudnnHandle_t v) {
  set_attr(d, name, CUDNN_TYPE_HANDLE, 1, &v);
}

/// Finalizes `d`; throws CudnnFailure naming `what` when cuDNN rejects it.
void finalize(cudnnBackendDescriptor_t d, const char* what);
/// Finalizes `d` and returns the status instead of throwing (engines, plans: rejection is normal).
cudnnStatus_t try_finalize(cudnnBackendDescriptor_t d);

/// One INT64 attribute.
int64_t get_int64(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name);

}  // namespace mbv2::cudnn
