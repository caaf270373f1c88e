"""Decision thresholds at run time: a pack's calibration table, the threshold a false-match
(FMR) or false-positive-identification (FPIR) rate asks for, the rates estimated at a threshold
with their intervals, Rekognition's 0-100 Similarity, and the precision verification records.

A low room: the engine, collections, video and the service read it; it imports no engine.
Building tables from photos is evaluation/'s job (the room above the engine).
"""

from faceindex.thresholds.calibration_table import CalibrationTable
from faceindex.thresholds.choice import (
    DEFAULT_MAX_FMR,
    DEFAULT_MAX_FPIR,
    can_normalise,
    fmr_for_fpir,
    for_comparison,
    for_search,
    fpir_for_fmr,
)
from faceindex.thresholds.similarity import (
    SIMILARITY_TABLE,
    fmr_of_similarity,
    rekognition_similarity,
    similarity_of_fmr,
    threshold_for_similarity,
)
from faceindex.thresholds.tables import forget_loaded_tables, table_file_name, table_for, user_dir

__all__ = [
    "DEFAULT_MAX_FMR",
    "DEFAULT_MAX_FPIR",
    "SIMILARITY_TABLE",
    "CalibrationTable",
    "can_normalise",
    "fmr_for_fpir",
    "fmr_of_similarity",
    "for_comparison",
    "for_search",
    "forget_loaded_tables",
    "fpir_for_fmr",
    "rekognition_similarity",
    "similarity_of_fmr",
    "table_file_name",
    "table_for",
    "threshold_for_similarity",
    "user_dir",
]
