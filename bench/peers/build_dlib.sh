#!/usr/bin/env bash
# Builds dlib from source with OpenBLAS (and AVX where the CPU has it) into its own
# virtualenv, .peers/dlib-src, for bench/bench_dlib.py's optional peer. About 12 minutes
# on 2 cores. Needs root for apt-get (libopenblas-dev, cmake, a C++ compiler).
set -euo pipefail
cd "$(dirname "$0")/../.."
PEER=.peers/dlib-src
if ! dpkg -s libopenblas-dev >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq libopenblas-dev liblapack-dev cmake g++
fi
python3 -m venv "$PEER"
"$PEER/bin/pip" install --quiet --upgrade pip
"$PEER/bin/pip" install --quiet numpy pillow cmake
# No wheel cache, no binary: the sdist, compiled here against the system OpenBLAS.
"$PEER/bin/pip" install --no-binary dlib --no-cache-dir -v dlib 2>&1 | grep -Ei "BLAS|AVX|SSE4|Successfully" || true
mkdir -p .peers/models
MODELS=$(.venv/bin/python -c "from faceindex.packs.dlib.model_files import models_dir; print(models_dir())")
cp "$MODELS"/mmod_human_face_detector.dat "$MODELS"/shape_predictor_5_face_landmarks.dat \
   "$MODELS"/dlib_face_recognition_resnet_model_v1.dat .peers/models/
"$PEER/bin/python" -c "import dlib; print('dlib', dlib.__version__, 'AVX', dlib.USE_AVX_INSTRUCTIONS, 'BLAS', dlib.DLIB_USE_BLAS)"
