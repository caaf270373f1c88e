"""The default decision threshold of a recognizer, and an honest account of where it comes from."""

from __future__ import annotations

from faceindex.packs.onnx.known_models import Identity

# Used only where faceindex has measured nothing: a common starting point for
# ArcFace-style cosine similarity, not a measurement.
UNMEASURED_THRESHOLD = 0.35


def default_threshold(recognizer: Identity) -> tuple[float, str]:
    m = recognizer.measurement
    if m is not None and m.threshold is not None:
        return m.threshold, m.threshold_source
    return UNMEASURED_THRESHOLD, (
        f"NOT MEASURED: faceindex has never measured {recognizer.path.name} (sha256 {recognizer.sha256}); "
        f"{UNMEASURED_THRESHOLD} is an unmeasured placeholder for ArcFace-style cosine similarity. Measure its "
        "false-match and false-non-match rates on your own data (faceindex.evaluation) and pass threshold= "
        "before relying on its decisions."
    )
