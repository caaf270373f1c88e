// Names shared by the search core and its bindings.
#pragma once

#include <cstdint>
#include <string>

namespace faceindex::search {

enum class Metric : uint32_t { IP = 0, Cosine = 1, L2 = 2 };
enum class DType : uint32_t { F32 = 0, F16 = 1, I8 = 2 };

constexpr int kMaxDim = 1 << 16;
// Ids are returned as int64 with -1 for "no result", so stored ids stay below 2**63.
constexpr uint64_t kMaxId = (uint64_t(1) << 63) - 1;

Metric parse_metric(const std::string& name);
DType parse_dtype(const std::string& name);
const char* metric_name(Metric m);
const char* dtype_name(DType d);

}  // namespace faceindex::search
