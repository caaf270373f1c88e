// FaceTracker: joins the faces of successive video frames into tracks, in the style of
// ByteTrack with appearance. Motion first: a Kalman filter per track predicts its box at
// the frame's time (seconds, so variable frame rates and sampling need no frame counts),
// confident faces are assigned to the predictions by distance-IoU, then weak faces to the tracks
// still unmatched. Appearance second: a face no track took can take over a lost track
// (missed for a while, occluded, or cut away from) when its embedding is close to that
// track's, before it starts a track of its own.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace faceindex::vision {

struct TrackerConfig {
  double high_score = 0.5;         // faces at or above: assigned first, and may start tracks
  double low_score = 0.1;          // faces between low and high only continue tracks; below: ignored
  double min_diou = -0.1;          // least distance-IoU of a face with a track's predicted box
  double max_lost_seconds = 2.0;   // a track missed this long ends
  double reid_similarity = 1.01;   // embedding cosine for a face to take over a lost track (> 1: never)
};

constexpr int64_t kUnmatched = -1;  // a confident face no track took: admit() it
constexpr int64_t kIgnored = -2;    // a weak face no track took: dropped

struct TrackView {
  int64_t id;
  std::array<float, 4> box;  // x1, y1, x2, y2 where the filter has it now
  double first_seen, last_seen;
  int64_t hits;              // faces joined to it
  bool lost;                 // not seen in the latest frame
};

class FaceTracker {
 public:
  explicit FaceTracker(const TrackerConfig& config);

  // Frame at time t (not before the previous one): boxes n x 4 (x1, y1, x2, y2), scores n.
  // out[i]: the id of the track face i joined, kUnmatched or kIgnored.
  void associate(double t, const float* boxes, const float* scores, size_t n, int64_t* out);

  // Faces of the latest associate() that came back kUnmatched (their indices there), each
  // with a unit embedding (dim floats each; dim 0: none): a lost track takes a face whose
  // cosine to its appearance reaches reid_similarity, the others start tracks. out: the ids.
  void admit(const int64_t* faces, size_t n, const float* embeddings, size_t dim, int64_t* out);

  // The appearance a track is recognised by: a unit embedding of one of its best faces.
  void set_appearance(int64_t id, const float* embedding, size_t dim);

  // A shot change: no track's box continues into the next frame; tracks can come back by appearance only.
  void shot_change();

  // Ids of the tracks that ended (lost longer than max_lost_seconds) since the last call.
  std::vector<int64_t> take_ended();
  // Every track's id, ended or not, at the end of the video (then the tracker is empty).
  std::vector<int64_t> end_all();

  std::vector<TrackView> tracks() const;
  const TrackerConfig& config() const { return config_; }

 private:
  struct Axis {  // one coordinate's constant-velocity filter
    double x, v, pxx, pxv, pvv;
  };
  struct Track {
    int64_t id;
    std::array<Axis, 4> axes;  // centre x, centre y, width, height
    double time, first_seen, last_seen;
    int64_t hits;
    bool lost, motion_valid;
    std::vector<float> appearance;
  };

  void predict(Track& track, double t) const;
  void update(Track& track, const float* box, double t) const;
  Track start(const float* box, double t);
  static std::array<Axis, 4> initial_axes(const float* box);
  static std::array<float, 4> box_of(const Track& track);

  TrackerConfig config_;
  std::vector<Track> tracks_;
  std::vector<int64_t> ended_;
  int64_t next_id_ = 0;
  double now_ = -1e300;
  std::vector<float> last_boxes_;
};

}  // namespace faceindex::vision
