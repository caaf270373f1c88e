// The kernel interface every instruction-set file implements.
//
// Included by files compiled with different -m flags, so it declares only
// plain structs and functions: an inline function here would be emitted by
// several ISA files and the linker could keep the AVX-512 copy for everyone.
#pragma once

#include <cstddef>
#include <cstdint>

namespace faceindex::search {

constexpr int kPanel = 16;  // vectors per panel: one AVX-512 register of f32 lanes

// Called for a (query, row) whose score reached thresholds[query]; the sink
// keeps the best results and may raise thresholds[query].
using CandidateSink = void (*)(void* ctx, int query, size_t row, float score);

// A run of whole panels. Lanes at or after n_rows are padding and never reported.
struct PanelRange {
  const uint8_t* panels;
  size_t panel_bytes;
  size_t n_panels;
  size_t first_row;      // row of lane 0 of the first panel
  size_t n_rows;         // rows present in the range
  const float* scale;    // per row, from first_row: i8 code scale
  const float* sqnorm;   // per row, from first_row: squared norm of the stored vector
};

// Queries prepared for one store. score = q.x - bias_factor * |x|^2, so that
// every metric is "higher is better" (l2 ranks by q.x - |x|^2 / 2).
struct QueryBlock {
  int n;                   // queries in the block
  int dim;
  float bias_factor;       // 0.5 for l2, else 0
  const float* q_f32;      // n x dim (f32 and f16 stores)
  const uint32_t* q_i16x2; // n x dim_even / 2 (i8 store): query codes, two int16 a word (low: even dim)
  const float* q_scale;    // n (i8 store): query code scale
  const uint32_t* q_bf16;  // n x dim_even / 2: bf16 pairs (screened search)
  const float* q_margin;   // n: |bf16 score - f32 score| <= q_margin * |x| + q_margin_abs
  const float* q_margin_abs;
  const uint32_t* q_u8x4;  // n x quads (screened i8 search): query codes / 256 + 128, four bytes a word
  const float* q_u8_error; // n: max over dims of |int16 code - 256 * (u8 code - 128)|
  float* thresholds;       // n
};

using ScanFn = void (*)(const PanelRange&, const QueryBlock&, CandidateSink, void* ctx);
// Screened scan: scores in bf16 (f32, f16 stores) or with 8-bit query codes (i8 store) first,
// then the exact score of each survivor. `scratch` holds at least screen_scratch_bytes(dim) bytes.
using ScreenFn = void (*)(const PanelRange&, const QueryBlock&, void* scratch, CandidateSink, void* ctx);

struct Kernels {
  const char* level;        // "scalar", "avx2", "avx512"
  const char* features;     // what this table uses, e.g. "avx512+vnni+bf16"
  ScanFn scan_f32;
  ScanFn scan_f16;
  ScanFn scan_i8;
  ScreenFn screen_f32;      // nullptr where the CPU has no bf16 dot product
  ScreenFn screen_f16;
  ScreenFn screen_i8;       // nullptr where the CPU has no u8 x s8 dot product (VNNI)
  void (*f32_to_f16)(const float* in, uint16_t* out, size_t n);  // round to nearest even
  void (*f16_to_f32)(const uint16_t* in, float* out, size_t n);
};

// Bytes of scratch a screened scan needs per panel of dimension dim.
size_t screen_scratch_bytes(int dim);

// One table per instruction set; each lives in its own file.
const Kernels& kernels_scalar();
const Kernels& kernels_avx2();
Kernels kernels_avx512(bool vnni, bool bf16);

// Pieces of the AVX-512 table compiled with extra extensions.
void scan_i8_avx512vnni(const PanelRange&, const QueryBlock&, CandidateSink, void*);
void screen_i8_avx512vnni(const PanelRange&, const QueryBlock&, void*, CandidateSink, void*);
void screen_f32_avx512bf16(const PanelRange&, const QueryBlock&, void*, CandidateSink, void*);
void screen_f16_avx512bf16(const PanelRange&, const QueryBlock&, void*, CandidateSink, void*);

}  // namespace faceindex::search
