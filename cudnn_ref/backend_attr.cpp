#include "cudnn_ref/backend_attr.h"

namespace mbv2::cudnn {

void set_attr(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name,
              cudnnBackendAttributeType_t type, int64_t count, const void* values) {
  const cudnnStatus_t st = cudnnBackendSetAttribute(d, name, type, count, values);
  if (st != CUDNN_STATUS_SUCCESS)
    expect_success(st, "cudnnBackendSetAttribute(attribute " + std::to_string(int(name)) + ")");
}

void finalize(cudnnBackendDescriptor_t d, const char* what) {
  const cudnnStatus_t st = cudnnBackendFinalize(d);
  if (st != CUDNN_STATUS_SUCCESS) expect_success(st, std::string("finalize ") + what);
}

cudnnStatus_t try_finalize(cudnnBackendDescriptor_t d) { return cudnnBackendFinalize(d); }

int64_t get_int64(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name) {
  int64_t value = 0, count = 0;
  expect_success(cudnnBackendGetAttribute(d, name, CUDNN_TYPE_INT64, 1, &count, &value),
                 "cudnnBackendGetAttribute(attribute " + std::to_string(int(name)) + ")");
  return value;
}

}  // namespace mbv2::cudnn
