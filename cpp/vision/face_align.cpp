#include "faceindex/face_align.h"

#include <cmath>

#include "faceindex/parallel.h"

namespace faceindex::vision {
namespace {

// The inverse of a similarity: output pixel -> source position.
Similarity inverse(const Similarity& t) {
  const double det = t.a * t.a + t.b * t.b;
  const double ia = t.a / det, ib = -t.b / det;
  return Similarity{ia, ib, -(ia * t.tx - ib * t.ty), -(ib * t.tx + ia * t.ty)};
}

// Bilinear sample of the three channels at (sx, sy); pixels outside read as 0.
// The fast path (all four neighbours inside) covers nearly every chip pixel.
inline void sample(const uint8_t* rgb, int height, int width, float sx, float sy, float out[3]) {
  out[0] = out[1] = out[2] = 0.0f;
  if (!(sx >= -1.0f && sx < float(width) && sy >= -1.0f && sy < float(height))) return;  // also NaN
  // floor() for values >= -1 without a libm call on a baseline x86-64 build.
  const int x0 = int(sx + 1.0f) - 1, y0 = int(sy + 1.0f) - 1;
  const float wx1 = sx - float(x0), wy1 = sy - float(y0);
  if (x0 >= 0 && y0 >= 0 && x0 < width - 1 && y0 < height - 1) {
    const size_t stride = size_t(width) * 3;
    const uint8_t* p = rgb + size_t(y0) * stride + size_t(x0) * 3;
    const uint8_t* q = p + stride;
    for (int c = 0; c < 3; ++c) {
      const float top = float(p[c]) + wx1 * (float(p[c + 3]) - float(p[c]));
      const float bottom = float(q[c]) + wx1 * (float(q[c + 3]) - float(q[c]));
      out[c] = top + wy1 * (bottom - top);
    }
    return;
  }
  const float wx[2] = {1.0f - wx1, wx1}, wy[2] = {1.0f - wy1, wy1};
  for (int dy = 0; dy < 2; ++dy) {
    const int y = y0 + dy;
    if (y < 0 || y >= height) continue;
    for (int dx = 0; dx < 2; ++dx) {
      const int x = x0 + dx;
      if (x < 0 || x >= width) continue;
      const float w = wy[dy] * wx[dx];
      const uint8_t* p = rgb + (size_t(y) * size_t(width) + size_t(x)) * 3;
      out[0] += w * float(p[0]);
      out[1] += w * float(p[1]);
      out[2] += w * float(p[2]);
    }
  }
}

template <typename Store>
void warp_all(const uint8_t* rgb, int height, int width, const Similarity* transforms, size_t n, int size,
              Store store) {
  // A chip takes tens of microseconds: threads pay off only for many faces.
  const size_t threads = n >= 16 ? num_threads() : 1;
  parallel_for(n, threads, [&](size_t face, size_t) {
    const Similarity inv = inverse(transforms[face]);
    float px[3];
    for (int y = 0; y < size; ++y) {
      // Row start in double (exact for any image size), then per-pixel steps.
      const double row_x = -inv.b * y + inv.tx, row_y = inv.a * y + inv.ty;
      for (int x = 0; x < size; ++x) {
        const float sx = float(row_x + inv.a * x), sy = float(row_y + inv.b * x);
        sample(rgb, height, width, sx, sy, px);
        store(face, y, x, px);
      }
    }
  });
}

}  // namespace

void warp_chips_hwc(const uint8_t* rgb, int height, int width, const Similarity* transforms, size_t n, int size,
                    uint8_t* out) {
  const size_t chip = size_t(size) * size_t(size) * 3;
  warp_all(rgb, height, width, transforms, n, size, [&](size_t face, int y, int x, const float* px) {
    uint8_t* o = out + face * chip + (size_t(y) * size_t(size) + size_t(x)) * 3;
    for (int c = 0; c < 3; ++c) o[c] = uint8_t(std::lround(std::fmin(std::fmax(px[c], 0.0f), 255.0f)));
  });
}

namespace {

// The channel order is a template argument: no per-pixel branch.
template <bool kBgr>
void warp_nchw(const uint8_t* rgb, int height, int width, const Similarity* transforms, size_t n, int size,
               const ChannelNorm& norm, float* out) {
  constexpr int s0 = kBgr ? 2 : 0, s2 = kBgr ? 0 : 2;
  const size_t plane = size_t(size) * size_t(size);
  warp_all(rgb, height, width, transforms, n, size, [&](size_t face, int y, int x, const float* px) {
    float* o = out + face * 3 * plane + size_t(y) * size_t(size) + size_t(x);
    o[0] = (px[s0] - norm.mean[0]) * norm.inv_std[0];
    o[plane] = (px[1] - norm.mean[1]) * norm.inv_std[1];
    o[2 * plane] = (px[s2] - norm.mean[2]) * norm.inv_std[2];
  });
}

}  // namespace

void warp_chips_nchw(const uint8_t* rgb, int height, int width, const Similarity* transforms, size_t n, int size,
                     const ChannelNorm& norm, float* out) {
  if (norm.bgr)
    warp_nchw<true>(rgb, height, width, transforms, n, size, norm, out);
  else
    warp_nchw<false>(rgb, height, width, transforms, n, size, norm, out);
}

}  // namespace faceindex::vision
