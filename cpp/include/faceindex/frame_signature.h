// A frame's colour signature for shot-change detection: one normalised histogram per
// channel over a sparse grid of pixels. Two frames of one shot differ little; a cut
// changes the histograms wholesale, and tracks must not carry a box across it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace faceindex::vision {

constexpr int kSignatureBins = 16;                    // per channel
constexpr int kSignatureSize = 3 * kSignatureBins;   // R, G, B histograms, each summing to 1

// rgb: height x width x 3 uint8. out: kSignatureSize floats.
void frame_signature(const uint8_t* rgb, int height, int width, float* out);

// Half the L1 distance of two signatures, averaged over the channels: 0 (same colours) .. 1 (disjoint).
float signature_distance(const float* a, const float* b);

}  // namespace faceindex::vision
