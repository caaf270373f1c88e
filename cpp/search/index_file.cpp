#include "index_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "checksum.h"
#include "faceindex/errors.h"
#include "faceindex/parallel.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the index file format is little-endian");

namespace faceindex::search {
namespace {

constexpr char kMagic[8] = {'F', 'I', 'D', 'X', 'F', 'L', 'A', 'T'};
constexpr size_t kHeaderBytes = 64;

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t header_bytes;
  uint32_t dim;
  uint32_t metric;
  uint32_t dtype;
  uint32_t panel_width;
  uint64_t count;
  uint64_t file_size;
  uint8_t reserved[16];
};
static_assert(sizeof(Header) == kHeaderBytes, "header layout");

size_t align64(size_t x) { return (x + 63) / 64 * 64; }

std::string os_error(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

// Feeds the checksum in 1 MiB blocks while writing them out.
class ChecksummedWriter {
 public:
  explicit ChecksummedWriter(int fd) : fd_(fd), buffer_(kChecksumBlock) {}

  void write(const void* data, size_t size) {
    const uint8_t* p = static_cast<const uint8_t*>(data);
    while (size > 0) {
      const size_t n = std::min(size, kChecksumBlock - used_);
      std::memcpy(buffer_.data() + used_, p, n);
      used_ += n;
      p += n;
      size -= n;
      if (used_ == kChecksumBlock) flush_block();
    }
  }

  void zeros(size_t size) {
    static const uint8_t zero[64] = {};
    while (size > 0) {
      const size_t n = std::min<size_t>(size, sizeof(zero));
      write(zero, n);
      size -= n;
    }
  }

  // Writes the checksum of everything so far after it.
  void finish() {
    if (used_ > 0) flush_block();
    digests_.push_back(total_);
    const uint64_t sum = xxh64(digests_.data(), digests_.size() * sizeof(uint64_t), 0x66616365696478ull);
    write_all(&sum, sizeof(sum));
  }

 private:
  void flush_block() {
    digests_.push_back(xxh64(buffer_.data(), used_, digests_.size()));
    write_all(buffer_.data(), used_);
    total_ += used_;
    used_ = 0;
  }

  void write_all(const void* data, size_t size) {
    const uint8_t* p = static_cast<const uint8_t*>(data);
    while (size > 0) {
      const ssize_t n = ::write(fd_, p, size);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw FileSystemError(std::string("cannot write index file: ") + std::strerror(errno));
      }
      p += n;
      size -= size_t(n);
    }
  }

  int fd_;
  std::vector<uint8_t> buffer_;
  size_t used_ = 0;
  uint64_t total_ = 0;
  std::vector<uint64_t> digests_;
};

class MappedImage : public FileImage {
 public:
  MappedImage(void* data, size_t size) : data_(static_cast<uint8_t*>(data)), size_(size) {}
  ~MappedImage() override { munmap(data_, size_); }
  const uint8_t* data() const override { return data_; }
  size_t size() const override { return size_; }
  bool mapped() const override { return true; }

 private:
  uint8_t* data_;
  size_t size_;
};

class OwnedImage : public FileImage {
 public:
  OwnedImage(AlignedBytes bytes, size_t size) : bytes_(std::move(bytes)), size_(size) {}
  const uint8_t* data() const override { return bytes_.get(); }
  size_t size() const override { return size_; }
  bool mapped() const override { return false; }

 private:
  AlignedBytes bytes_;
  size_t size_;
};

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::shared_ptr<const FileImage> read_image(const std::string& path, bool mmap) {
  Fd file;
  file.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (file.fd < 0) {
    if (errno == ENOENT) throw FileFormatError("index file not found: " + path);
    throw FileFormatError(os_error("cannot open index file", path));
  }
  struct stat st;
  if (fstat(file.fd, &st) != 0) throw FileFormatError(os_error("cannot stat index file", path));
  if (!S_ISREG(st.st_mode)) throw FileFormatError("not a regular file: " + path);
  const size_t size = size_t(st.st_size);
  if (size < kHeaderBytes + sizeof(uint64_t))
    throw FileFormatError("not a faceindex FlatIndex file (too short: " + std::to_string(size) + " bytes): " + path);
  if (mmap) {
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, file.fd, 0);
    if (p == MAP_FAILED) throw FileFormatError(os_error("cannot map index file", path));
    return std::make_shared<MappedImage>(p, size);
  }
  AlignedBytes bytes = allocate_aligned(size);
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(file.fd, bytes.get() + done, size - done, off_t(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw FileFormatError(os_error("cannot read index file", path));
    if (n == 0) throw FileFormatError("index file shrank while being read: " + path);
    done += size_t(n);
  }
  return std::make_shared<OwnedImage>(std::move(bytes), size);
}

}  // namespace

IndexFileLayout index_file_layout(int dim, DType dtype, size_t count) {
  IndexFileLayout l{};
  l.count_padded = (count + 15) / 16 * 16;
  l.ids_offset = kHeaderBytes;
  l.scale_offset = align64(l.ids_offset + l.count_padded * 8);
  l.sqnorm_offset = align64(l.scale_offset + l.count_padded * 4);
  l.panels_offset = align64(l.sqnorm_offset + l.count_padded * 4);
  l.checksum_offset = align64(l.panels_offset + l.count_padded / 16 * panel_bytes_for(dim, dtype));
  l.file_size = l.checksum_offset + sizeof(uint64_t);
  return l;
}

void write_index_image(int fd, Metric metric, const VectorStore& store) {
  const IndexFileLayout l = index_file_layout(store.dim(), store.dtype(), store.count());
  Header h{};
  std::memcpy(h.magic, kMagic, 8);
  h.version = kFormatVersion;
  h.header_bytes = kHeaderBytes;
  h.dim = uint32_t(store.dim());
  h.metric = uint32_t(metric);
  h.dtype = uint32_t(store.dtype());
  h.panel_width = kPanel;
  h.count = store.count();
  h.file_size = l.file_size;

  ChecksummedWriter out(fd);
  const size_t padded = l.count_padded;
  out.write(&h, sizeof(h));
  // Rows past count are zero in memory too; writing count_padded keeps the
  // file identical to what a reader maps.
  out.write(store.ids(), store.count() * 8);
  out.zeros((padded - store.count()) * 8 + (l.scale_offset - l.ids_offset - padded * 8));
  out.write(store.scale(), store.count() * 4);
  out.zeros((padded - store.count()) * 4 + (l.sqnorm_offset - l.scale_offset - padded * 4));
  out.write(store.sqnorm(), store.count() * 4);
  out.zeros((padded - store.count()) * 4 + (l.panels_offset - l.sqnorm_offset - padded * 4));
  const size_t panel_bytes = padded / 16 * store.panel_bytes();
  out.write(store.panels(), panel_bytes);
  out.zeros(l.checksum_offset - l.panels_offset - panel_bytes);
  out.finish();
}

void write_index_file(const std::string& path, Metric metric, const VectorStore& store) {
  std::random_device rd;
  const std::string tmp = path + ".tmp-" + std::to_string(getpid()) + "-" + std::to_string(rd());
  Fd file;
  // Owner-only (embeddings are biometric data), whatever the umask: the rename keeps the mode.
  file.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (file.fd < 0) throw FileSystemError(os_error("cannot create", tmp));
  if (::fchmod(file.fd, 0600) != 0) {
    const std::string message = os_error("cannot set the mode of", tmp);
    ::unlink(tmp.c_str());
    throw FileSystemError(message);
  }
  try {
    write_index_image(file.fd, metric, store);
    if (::fsync(file.fd) != 0) throw FileSystemError(os_error("cannot flush", tmp));
    ::close(file.fd);
    file.fd = -1;
    if (::rename(tmp.c_str(), path.c_str()) != 0) throw FileSystemError(os_error("cannot rename onto", path));
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  // Make the rename itself durable.
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  Fd d;
  d.fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d.fd >= 0) ::fsync(d.fd);
}

LoadedIndex read_index_file(const std::string& path, bool mmap) {
  std::shared_ptr<const FileImage> image = read_image(path, mmap);
  const uint8_t* data = image->data();
  const size_t size = image->size();
  auto fail = [&](const std::string& why) { throw FileFormatError(why + ": " + path); };

  Header h;
  std::memcpy(&h, data, sizeof(h));
  if (std::memcmp(h.magic, kMagic, 8) != 0) fail("not a faceindex FlatIndex file (bad magic)");
  if (h.version != kFormatVersion)
    fail("unsupported FlatIndex format version " + std::to_string(h.version) + " (this build reads version " +
         std::to_string(kFormatVersion) + ")");
  if (h.header_bytes != kHeaderBytes) fail("corrupt header (header size)");
  if (h.dim < 1 || h.dim > uint32_t(kMaxDim)) fail("corrupt header (dim " + std::to_string(h.dim) + ")");
  if (h.metric > uint32_t(Metric::L2)) fail("corrupt header (metric " + std::to_string(h.metric) + ")");
  if (h.dtype > uint32_t(DType::I8)) fail("corrupt header (dtype " + std::to_string(h.dtype) + ")");
  if (h.panel_width != uint32_t(kPanel)) fail("corrupt header (panel width)");
  for (uint8_t b : h.reserved)
    if (b) fail("corrupt header (reserved bytes)");
  const DType dtype = DType(h.dtype);
  // Bound count before computing sizes with it, so nothing overflows.
  if (h.count > size / 8) fail("corrupt header (count " + std::to_string(h.count) + " cannot fit the file)");
  const IndexFileLayout l = index_file_layout(int(h.dim), dtype, size_t(h.count));
  if (h.file_size != l.file_size) fail("corrupt header (file size field does not match dim, dtype and count)");
  if (size < l.file_size)
    fail("truncated file (" + std::to_string(size) + " bytes, expected " + std::to_string(l.file_size) + ")");
  if (size > l.file_size)
    fail("file has " + std::to_string(size - l.file_size) + " unexpected trailing bytes");

  uint64_t stored_sum;
  std::memcpy(&stored_sum, data + l.checksum_offset, 8);
  if (file_checksum(data, l.checksum_offset, num_threads()) != stored_sum)
    fail("checksum mismatch: the file is corrupted");

  const auto* ids = reinterpret_cast<const uint64_t*>(data + l.ids_offset);
  const auto* scale = reinterpret_cast<const float*>(data + l.scale_offset);
  const auto* sqnorm = reinterpret_cast<const float*>(data + l.sqnorm_offset);
  for (size_t i = 0; i < h.count; ++i) {
    if (ids[i] > kMaxId) fail("corrupt data (id " + std::to_string(ids[i]) + " out of range)");
    if (!(std::isfinite(scale[i]) && scale[i] >= 0) || !(std::isfinite(sqnorm[i]) && sqnorm[i] >= 0))
      fail("corrupt data (row " + std::to_string(i) + " has an invalid scale or norm)");
  }
  // Rows past count are zero when written: anything else means the count is wrong.
  for (size_t i = h.count; i < l.count_padded; ++i)
    if (ids[i] != 0 || scale[i] != 0 || sqnorm[i] != 0) fail("corrupt data (padding rows are not empty)");
  if (h.count % kPanel != 0) {
    const size_t elem = dtype == DType::F32 ? 4 : dtype == DType::F16 ? 2 : 1;
    const size_t lanes_used = h.count % kPanel;
    const uint8_t* last = data + l.panels_offset + (l.count_padded / kPanel - 1) * panel_bytes_for(int(h.dim), dtype);
    // Every layout stores a run of 16 lanes per dimension (i8: per pair of dimensions).
    const size_t lane_bytes = dtype == DType::I8 ? 2 : elem;
    const size_t rows = panel_bytes_for(int(h.dim), dtype) / (kPanel * lane_bytes);
    for (size_t r = 0; r < rows; ++r)
      for (size_t b = lanes_used * lane_bytes; b < kPanel * lane_bytes; ++b)
        if (last[r * kPanel * lane_bytes + b] != 0) fail("corrupt data (padding lanes are not empty)");
  }
  LoadedIndex out{Metric(h.metric), nullptr};
  out.store = VectorStore::borrow(int(h.dim), dtype, size_t(h.count), image, ids, scale, sqnorm,
                                  data + l.panels_offset);
  return out;
}

}  // namespace faceindex::search
