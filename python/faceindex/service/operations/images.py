"""DetectFaces, CompareFaces: images only, no collection (the service's default pack)."""

from __future__ import annotations

from typing import Any

import numpy as np

from faceindex import rekognition_shapes as shapes
from faceindex.collection.quality_filter import quality_reasons, resolve_quality_filter
from faceindex.collection.search import searched_faces
from faceindex.service import accountability
from faceindex.service.context import RequestContext
from faceindex.service.errors import invalid_parameter
from faceindex.service.image_input import decode
from faceindex.service.operations.registry import operation

MAX_TARGET_FACES = 100  # CompareFaces compares the source face with the 100 largest in the target, as AWS


@operation("DetectFaces")
def detect_faces(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    engine = ctx.default_engine()
    image = decode(ctx.config, params["Image"], max_pixels=engine.max_pixels)
    # Attributes DEFAULT and ALL (or any list) give the same FaceDetail: faceindex estimates
    # no age, gender, emotion, glasses, beard, smile, eyes or mouth state, and invents none.
    return {"FaceDetails": [shapes.face_detail_of(face, engine.pack, image.width, image.height)
                            for face in engine.detect(image.rgb)]}


@operation("CompareFaces")
def compare_faces(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    engine = ctx.default_engine()
    pack = engine.pack
    wanted = accountability.requested(pack, params.get("SimilarityThreshold"))
    choice = accountability.comparison_choice(pack, wanted)
    level = params.get("QualityFilter", "NONE")
    source_image = decode(ctx.config, params["SourceImage"], "SourceImage", max_pixels=engine.max_pixels)
    target_image = decode(ctx.config, params["TargetImage"], "TargetImage", max_pixels=engine.max_pixels)
    # The source's largest face, held to the QualityFilter (NoFaceError / FaceQualityError: InvalidParameter).
    source = searched_faces(engine, source_image.rgb, quality_filter=level.lower())
    found = engine.find(target_image.rgb)
    candidates = found.detections.take(slice(0, MAX_TARGET_FACES))
    # Faces below the quality bar are left out of both lists.
    reasons = quality_reasons(candidates, resolve_quality_filter(level.lower()))
    passing = candidates.take([i for i, failed in enumerate(reasons) if not failed])
    if not len(passing):
        raise invalid_parameter("There are no faces in the target image that pass QualityFilter "
                                f"{level}. Should be at least 1.")
    targets = passing.faces()
    embeddings = engine.embed(found.rgb, passing)
    cosines = embeddings.astype(np.float64) @ source.embeddings[0].astype(np.float64)
    w, h = target_image.width, target_image.height
    order = sorted(range(len(targets)), key=lambda i: -cosines[i])
    matches = [{"Similarity": shapes.similarity(pack, float(cosines[i])),
                "Face": shapes.compared_face(targets[i], pack, w, h)} for i in order if cosines[i] >= choice.value]
    unmatched = [shapes.compared_face(targets[i], pack, w, h) for i in range(len(targets))
                 if cosines[i] < choice.value]
    ctx.response_headers.update(accountability.headers(pack, choice, wanted))
    return {"SourceImageFace": {
                "BoundingBox": shapes.bounding_box(source.faces[0].bbox, source_image.width, source_image.height),
                "Confidence": shapes.percent(source.faces[0].score * 100.0)},
            "FaceMatches": matches, "UnmatchedFaces": unmatched}
