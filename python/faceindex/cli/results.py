"""Results as lines for people: the threshold a decision was judged against and how it was
chosen, search matches, a collection's description. Shared by the command groups."""

from __future__ import annotations

from typing import Any

from faceindex.cli.common import box


def threshold_line(result: Any) -> str:
    """The threshold, how it was chosen, and the false-match rates estimated there."""
    c = result.threshold_choice
    how = {"fixed": "given", "fmr": f"max FMR {c.requested:g}" if c.requested else "FMR",
           "fpir": f"max FPIR {c.requested:g} at {c.gallery_size:,} faces" if c.requested else "FPIR",
           "uncalibrated default": "the pack's uncalibrated default"}[c.chosen_by]
    rates = [f"FMR {c.fmr}"] if c.fmr is not None else ["error rates not measured for this pack"]
    if c.fpir is not None:
        rates.append(f"FPIR {c.fpir}")
    scale = "AS-norm score " if c.score == "as-norm" else ""
    return f"threshold {scale}{result.threshold:.4f} ({how}; {', '.join(rates)}; pack {result.pack})"


def normalisation_line(result: Any) -> str:
    """Whether the scores were normalised (AS-norm), against which cohort, or why not."""
    n = result.normalisation
    if not n.applied:
        return f"scores: cosine similarities ({n.cohort})"
    return (f"scores: AS-norm, top {n.top_k} of {n.cohort_size:,} cohort faces ({n.cohort}; cohort {n.cohort_id})")


def match_lines(result: Any) -> list[str]:
    lines = [threshold_line(result), normalisation_line(result)]
    if result.searched_face is not None:
        lines[0] = f"searched face {box(result.searched_face.bbox)}, " + lines[0]
    if not result.face_matches:
        lines.append("  no match")
    for m in result.face_matches:
        score = f"  z {m.score:.2f}" if m.score is not None else ""
        lines.append(f"  {m.similarity:.3f}{score}  {m.face.face_id}  {m.face.external_image_id or '-'}"
                     + (f"  user {m.face.user_id}" if m.face.user_id else ""))
    return lines


def description_lines(d: Any, shards: int | None = None) -> list[str]:
    """`collection describe` for people; shards: how many, for a sharded collection (sizes summed)."""
    return [
        f"collection  {d.collection_id}" + (f" (sharded over {shards} Ray actors)" if shards else ""),
        f"pack        {d.pack} ({d.embedding_size}-d, default threshold {d.default_threshold:.3f})",
        f"faces       {d.face_count}",
        f"users       {d.user_count}",
        f"created     {d.created_at.isoformat(timespec='seconds')}",
        f"path        {d.path}",
        f"size        database{'s' if shards else ''} {d.database_bytes:,} B, "
        f"index cache{'s' if shards else ''} {d.cache_bytes:,} B",
        f"encrypted   {'yes (SQLCipher database, AES-256-GCM index cache)' if d.encrypted else 'no'}",
    ]
