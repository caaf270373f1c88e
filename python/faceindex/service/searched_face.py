"""The face a search by image searches with: the largest in the image, as on Rekognition, held
to the request's QualityFilter before anything is searched (so a refused face is never logged)."""

from __future__ import annotations

from dataclasses import dataclass

from faceindex.collection.quality_filter import quality_reasons, resolve_quality_filter
from faceindex.detections import Detections
from faceindex.engine import FaceEngine
from faceindex.service.errors import invalid_parameter
from faceindex.service.image_input import DecodedImage
from faceindex.types import Face, FloatArray


@dataclass(frozen=True)
class SearchedFace:
    face: Face  # the largest face in the image
    embedding: FloatArray  # its embedding, from the engine's pack
    others: list[Face]  # the image's other faces, largest first: not searched


def searched_face(engine: FaceEngine, image: DecodedImage, quality_filter: str) -> SearchedFace:
    """The image's largest face and its embedding; InvalidParameterException, as on AWS, when the
    image holds no face or its largest face fails the QualityFilter (NONE, AUTO, LOW, MEDIUM, HIGH)."""
    faces = engine.detect(image.rgb)
    if not faces:
        raise invalid_parameter("There are no faces in the image. Should be at least 1.")
    largest = faces[0]
    reasons = quality_reasons(Detections.from_faces([largest]), resolve_quality_filter(quality_filter.lower()))[0]
    if reasons:
        raise invalid_parameter(f"the largest face in the image does not pass QualityFilter {quality_filter}: "
                                f"{', '.join(reasons)}")
    embedding = engine.embed(image.rgb, [largest])[0]
    return SearchedFace(largest, embedding, faces[1:])
