// Exceptions the core throws. The bindings map them to Python:
// InvalidArgument -> ValueError, WrongType -> TypeError, FileFormatError ->
// faceindex.errors.IndexFileError (a ValueError), FileSystemError -> OSError,
// Interrupted -> KeyboardInterrupt,
// std::bad_alloc -> MemoryError.
#pragma once

#include <stdexcept>
#include <string>

namespace faceindex {

struct InvalidArgument : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

struct WrongType : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

struct FileFormatError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A file could not be created, written or renamed -> OSError.
struct FileSystemError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Thrown when the interrupt poll of a long loop reports a pending signal
// (Ctrl-C); the Python error the poll raised stays set.
struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted") {}
};

}  // namespace faceindex
