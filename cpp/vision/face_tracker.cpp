#include "faceindex/face_tracker.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "faceindex/assignment.h"
#include "faceindex/errors.h"

namespace faceindex::vision {
namespace {

// Noise in units of the face's size, so that one filter suits faces of 20 and 500 pixels:
// a detector's box jitters by up to a tenth of the face (dlib's by its pyramid's steps); a face accelerates by about one
// face size per second squared (a head turning, a camera panning or zooming).
constexpr double kMeasurementNoise = 0.1;
constexpr double kAcceleration = 2.0;
constexpr double kInitialSpeed = 1.0;  // face sizes per second, before any motion is seen

// Distance-IoU: IoU less the squared distance of the centres over the squared diagonal of
// the box enclosing both (-1..1). Unlike IoU it still ranks boxes that stopped overlapping,
// which a face does between frames sampled 200 ms apart when the head moves fast.
double diou(const std::array<float, 4>& a, const float* b) {
  const double iw = std::min<double>(a[2], b[2]) - std::max<double>(a[0], b[0]);
  const double ih = std::min<double>(a[3], b[3]) - std::max<double>(a[1], b[1]);
  const double inter = (iw > 0 && ih > 0) ? iw * ih : 0.0;
  const double area_a = double(a[2] - a[0]) * double(a[3] - a[1]);
  const double area_b = double(b[2] - b[0]) * double(b[3] - b[1]);
  const double uni = area_a + area_b - inter;
  const double iou = uni > 0 ? inter / uni : 0.0;
  const double dx = 0.5 * ((double(a[0]) + a[2]) - (double(b[0]) + b[2]));
  const double dy = 0.5 * ((double(a[1]) + a[3]) - (double(b[1]) + b[3]));
  const double cw = std::max<double>(a[2], b[2]) - std::min<double>(a[0], b[0]);
  const double ch = std::max<double>(a[3], b[3]) - std::min<double>(a[1], b[1]);
  const double diagonal = cw * cw + ch * ch;
  return iou - (diagonal > 0 ? (dx * dx + dy * dy) / diagonal : 0.0);
}

}  // namespace

FaceTracker::FaceTracker(const TrackerConfig& config) : config_(config) {
  if (!(config.low_score <= config.high_score)) throw InvalidArgument("low_score must not exceed high_score");
  if (!(config.min_diou >= -1 && config.min_diou <= 1)) throw InvalidArgument("min_diou must be in [-1, 1]");
  if (!(config.max_lost_seconds >= 0) || !std::isfinite(config.max_lost_seconds))
    throw InvalidArgument("max_lost_seconds must be a finite number >= 0");
  if (!std::isfinite(config.reid_similarity)) throw InvalidArgument("reid_similarity must be finite");
}

std::array<float, 4> FaceTracker::box_of(const Track& track) {
  const double cx = track.axes[0].x, cy = track.axes[1].x;
  const double w = std::max(1.0, track.axes[2].x), h = std::max(1.0, track.axes[3].x);
  return {float(cx - w / 2), float(cy - h / 2), float(cx + w / 2), float(cy + h / 2)};
}

void FaceTracker::predict(Track& track, double t) const {
  // A lost track's velocity is trusted for at most max_lost_seconds: it is not extrapolated beyond.
  const double dt = std::min(t - track.time, std::max(config_.max_lost_seconds, 0.0));
  track.time = t;
  if (dt <= 0) return;
  const double size = std::max(1.0, 0.5 * (track.axes[2].x + track.axes[3].x));
  const double q = std::pow(kAcceleration * size, 2);
  for (Axis& a : track.axes) {
    a.x += a.v * dt;
    // P <- F P F' + Q for F = [1 dt; 0 1] and white-noise acceleration.
    a.pxx += dt * (2 * a.pxv + dt * a.pvv) + q * dt * dt * dt / 3;
    a.pxv += dt * a.pvv + q * dt * dt / 2;
    a.pvv += q * dt;
  }
}

void FaceTracker::update(Track& track, const float* box, double t) const {
  const double z[4] = {0.5 * (box[0] + box[2]), 0.5 * (box[1] + box[3]), double(box[2] - box[0]),
                       double(box[3] - box[1])};
  const double size = std::max(1.0, 0.5 * (z[2] + z[3]));
  const double r = std::pow(kMeasurementNoise * size, 2);
  for (int i = 0; i < 4; ++i) {
    Axis& a = track.axes[size_t(i)];
    const double s = a.pxx + r;
    const double kx = a.pxx / s, kv = a.pxv / s;
    const double innovation = z[i] - a.x;
    a.x += kx * innovation;
    a.v += kv * innovation;
    const double pxx = a.pxx, pxv = a.pxv;
    a.pxx = (1 - kx) * pxx;
    a.pxv = (1 - kx) * pxv;
    a.pvv -= kv * pxv;
  }
  track.last_seen = t;
  track.hits += 1;
  track.lost = false;
  track.motion_valid = true;
}

std::array<FaceTracker::Axis, 4> FaceTracker::initial_axes(const float* box) {
  const double z[4] = {0.5 * (box[0] + box[2]), 0.5 * (box[1] + box[3]), double(box[2] - box[0]),
                       double(box[3] - box[1])};
  const double size = std::max(1.0, 0.5 * (z[2] + z[3]));
  std::array<Axis, 4> axes{};
  for (int i = 0; i < 4; ++i)
    axes[size_t(i)] = Axis{z[i], 0.0, std::pow(2 * kMeasurementNoise * size, 2), 0.0, std::pow(kInitialSpeed * size, 2)};
  return axes;
}

FaceTracker::Track FaceTracker::start(const float* box, double t) {
  Track track{};
  track.id = next_id_++;
  track.axes = initial_axes(box);
  track.time = track.first_seen = track.last_seen = t;
  track.hits = 1;
  track.lost = false;
  track.motion_valid = true;
  return track;
}

void FaceTracker::associate(double t, const float* boxes, const float* scores, size_t n, int64_t* out) {
  if (!std::isfinite(t)) throw InvalidArgument("the frame time must be finite");
  if (t < now_) throw InvalidArgument("frame times must not go backwards");
  now_ = t;
  last_boxes_.assign(boxes, boxes + 4 * n);

  // Tracks lost too long end here, before they could take a face.
  std::vector<Track> kept;
  kept.reserve(tracks_.size());
  for (Track& track : tracks_) {
    if (track.lost && t - track.last_seen > config_.max_lost_seconds) ended_.push_back(track.id);
    else kept.push_back(std::move(track));
  }
  tracks_ = std::move(kept);

  std::vector<size_t> candidates;  // tracks whose box can continue by motion
  std::vector<std::array<float, 4>> predicted;
  for (size_t k = 0; k < tracks_.size(); ++k) {
    predict(tracks_[k], t);
    if (tracks_[k].motion_valid) {
      candidates.push_back(k);
      predicted.push_back(box_of(tracks_[k]));
    }
  }
  for (size_t i = 0; i < n; ++i) out[i] = scores[i] >= config_.high_score ? kUnmatched : kIgnored;
  std::vector<char> taken(candidates.size(), 0);
  const double forbidden = 1.0 - config_.min_diou + 1e-12;

  // Stage 1 (confident faces) then stage 2 (weak faces, tracks seen in the previous frame only).
  for (int stage = 0; stage < 2; ++stage) {
    std::vector<size_t> faces, rows;
    for (size_t i = 0; i < n; ++i) {
      const bool confident = scores[i] >= config_.high_score;
      if (stage == 0 ? confident : (!confident && scores[i] >= config_.low_score)) faces.push_back(i);
    }
    for (size_t r = 0; r < candidates.size(); ++r)
      if (!taken[r] && (stage == 0 || !tracks_[candidates[r]].lost)) rows.push_back(r);
    if (faces.empty() || rows.empty()) continue;
    std::vector<double> cost(rows.size() * faces.size());
    for (size_t a = 0; a < rows.size(); ++a)
      for (size_t b = 0; b < faces.size(); ++b)
        cost[a * faces.size() + b] = 1.0 - diou(predicted[rows[a]], boxes + 4 * faces[b]);
    const std::vector<int> match = assign_min_cost(cost, rows.size(), faces.size(), forbidden);
    for (size_t a = 0; a < rows.size(); ++a) {
      if (match[a] < 0) continue;
      const size_t face = faces[size_t(match[a])];
      Track& track = tracks_[candidates[rows[a]]];
      update(track, boxes + 4 * face, t);
      taken[rows[a]] = 1;
      out[face] = track.id;
    }
  }
  for (size_t r = 0; r < candidates.size(); ++r)
    if (!taken[r]) tracks_[candidates[r]].lost = true;
}

void FaceTracker::admit(const int64_t* faces, size_t n, const float* embeddings, size_t dim, int64_t* out) {
  const size_t faces_seen = last_boxes_.size() / 4;
  for (size_t i = 0; i < n; ++i)
    if (faces[i] < 0 || size_t(faces[i]) >= faces_seen)
      throw InvalidArgument("admit: face index " + std::to_string(faces[i]) + " is not one of the " +
                            std::to_string(faces_seen) + " faces of the latest frame");
  std::vector<int> match(n, -1);
  std::vector<size_t> lost;
  if (dim > 0) {
    for (size_t k = 0; k < tracks_.size(); ++k)
      if (tracks_[k].lost && tracks_[k].appearance.size() == dim) lost.push_back(k);
    if (!lost.empty()) {
      std::vector<double> cost(n * lost.size());
      for (size_t i = 0; i < n; ++i)
        for (size_t b = 0; b < lost.size(); ++b) {
          double dot = 0;
          const float* e = embeddings + i * dim;
          const float* a = tracks_[lost[b]].appearance.data();
          for (size_t d = 0; d < dim; ++d) dot += double(e[d]) * double(a[d]);
          cost[i * lost.size() + b] = -dot;
        }
      match = assign_min_cost(cost, n, lost.size(), -config_.reid_similarity + 1e-12);
    }
  }
  for (size_t i = 0; i < n; ++i) {
    const float* box = last_boxes_.data() + 4 * size_t(faces[i]);
    if (match[i] >= 0) {
      Track& track = tracks_[lost[size_t(match[i])]];
      // Its old motion says nothing about where it came back: the filter restarts at the face.
      track.axes = initial_axes(box);
      track.time = track.last_seen = now_;
      track.hits += 1;
      track.lost = false;
      track.motion_valid = true;
      out[i] = track.id;
    } else {
      tracks_.push_back(start(box, now_));
      out[i] = tracks_.back().id;
    }
  }
}

void FaceTracker::set_appearance(int64_t id, const float* embedding, size_t dim) {
  for (Track& track : tracks_)
    if (track.id == id) {
      track.appearance.assign(embedding, embedding + dim);
      return;
    }
  throw InvalidArgument("set_appearance: no track " + std::to_string(id));
}

void FaceTracker::shot_change() {
  for (Track& track : tracks_) {
    track.lost = true;
    track.motion_valid = false;
  }
}

std::vector<int64_t> FaceTracker::take_ended() {
  std::vector<int64_t> ended;
  ended.swap(ended_);
  return ended;
}

std::vector<int64_t> FaceTracker::end_all() {
  std::vector<int64_t> ended = take_ended();
  for (const Track& track : tracks_) ended.push_back(track.id);
  tracks_.clear();
  return ended;
}

std::vector<TrackView> FaceTracker::tracks() const {
  std::vector<TrackView> views;
  views.reserve(tracks_.size());
  for (const Track& track : tracks_)
    views.push_back(TrackView{track.id, box_of(track), track.first_seen, track.last_seen, track.hits, track.lost});
  return views;
}

}  // namespace faceindex::vision
