"""`make demo`: index random embeddings and search them (until the face pipeline lands)."""

from __future__ import annotations

import time

import numpy as np

import faceindex


def main() -> None:
    info = faceindex.build_info()
    print(f"faceindex {info['version']} ({info['compiler']}), ISAs {', '.join(info['isas'])}")


if __name__ == "__main__":
    main()
