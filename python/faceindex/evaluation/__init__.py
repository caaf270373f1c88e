"""Measuring faceindex on real faces: verification accuracy and error rates."""

from faceindex.evaluation.verification import (
    CrossValidation,
    ErrorRates,
    cross_validated_accuracy,
    error_rates,
)

__all__ = ["CrossValidation", "ErrorRates", "cross_validated_accuracy", "error_rates"]
