#include "bench/builtin_backends.h"

#include "custom/custom_backend.h"
#if defined(MBV2_WITH_CUDNN)
#include "cudnn_ref/cudnn_backend.h"
#endif

namespace mbv2 {

BackendRegistry builtin_backends() {
  BackendRegistry registry;
  register_custom_backends(registry);
#if defined(MBV2_WITH_CUDNN)
  register_cudnn_backends(registry);
#endif
  return registry;
}

}  // namespace mbv2
