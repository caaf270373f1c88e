"""Results as lines for people: the threshold a decision was judged against and how it was
chosen, search matches, a collection's description. Shared by the command groups."""

from __future__ import annotations

from typing import Any

from faceindex.cli.common import box, plural
from faceindex.thresholds import DEFAULT_MAX_FMR, DEFAULT_MAX_FPIR
from faceindex.types import ThresholdChoice


def how_chosen(c: Any, asked: bool = True) -> str:
    """How a threshold was chosen, in words: given, the rate asked for, or the default (and its floor).
    c: a ThresholdChoice, or anything with its chosen_by, requested and gallery_size (an audit entry)."""
    if c.chosen_by == "fixed":
        return "given"
    if c.chosen_by == "uncalibrated default":
        return "the pack's uncalibrated default"
    default = "" if asked else "default: "
    if c.chosen_by == "fpir":
        return f"{default}FPIR at most {c.requested:g} at {plural(c.gallery_size or 0, 'face')}"
    if c.gallery_size is not None and not asked:  # a search's default held at the per-comparison floor
        return (f"default: FMR at most {c.requested:g} per comparison, the floor of small collections, where "
                f"FPIR {DEFAULT_MAX_FPIR:g} at {plural(c.gallery_size, 'face')} would be looser")
    return f"{default}FMR at most {c.requested:g} per comparison"


def rates(c: ThresholdChoice) -> str:
    """The error rates estimated at a threshold, with their 95% intervals."""
    if c.fmr is None:
        return "error rates not measured for this pack: faceindex calibrate measures them on your own photos"
    return f"estimated FMR {c.fmr}" + (f", FPIR {c.fpir}" if c.fpir is not None else "")


def _looser_than_default(c: ThresholdChoice, value: float, default: ThresholdChoice | None) -> str | None:
    """Why a rate asked for gives a looser threshold than the default, when it asked for a rate no
    looser than the default's own (a stricter FPIR on a small collection, whose default also holds
    FMR 1e-4 per comparison; a per-comparison FMR on a large one, whose default holds FPIR 1%)."""
    if default is None or c.requested is None or value >= default.value or c.score != default.score:
        return None
    stricter = (c.requested <= DEFAULT_MAX_FPIR) if c.chosen_by == "fpir" else (c.requested <= DEFAULT_MAX_FMR)
    if c.chosen_by not in ("fmr", "fpir") or not stricter:
        return None
    if default.chosen_by == "fpir":
        held = f"FPIR at most {default.requested:g} at {plural(default.gallery_size or 0, 'face')}"
    else:
        held = f"FMR at most {default.requested:g} per comparison"
    return f"looser than the default threshold {default.value:.4f}, which holds {held}"


def threshold_line(result: Any, asked: bool = True, default: ThresholdChoice | None = None) -> str:
    """The threshold, how it was chosen, the false-match rates estimated there and the pack.

    asked: the caller gave --threshold, --max-fmr or --max-fpir (else the threshold is the
    default); default: the threshold the defaults would have chosen, to say when a rate asked
    for gives a looser threshold than the default."""
    c: ThresholdChoice = result.threshold_choice
    parts = [how_chosen(c, asked)]
    looser = _looser_than_default(c, result.threshold, default) if asked else None
    if looser:
        parts.append(looser)
    parts.append(rates(c))
    scale = "AS-norm score " if getattr(c, "score", "cosine") == "as-norm" else ""
    return f"threshold {scale}{result.threshold:.4f} ({'; '.join(parts)}; pack {result.pack})"


def normalisation_line(result: Any) -> str:
    """Whether the scores were normalised (AS-norm), against which cohort, or why not."""
    n = result.normalisation
    if not n.applied:
        return f"scores: cosine similarities ({n.cohort})"
    return (f"scores: AS-norm, top {n.top_k} of {n.cohort_size:,} cohort faces ({n.cohort}; cohort {n.cohort_id})")


def normalised_lines(result: Any) -> list[str]:
    """normalisation_line where the scores were normalised (cosines, the usual case, go unsaid)."""
    n = getattr(result, "normalisation", None)
    return [normalisation_line(result)] if n is not None and n.applied else []


def nearest_words(nearest: Any, threshold: float) -> str:
    """A near miss: the most similar stored face, below the threshold (not a match)."""
    return f"best: {nearest.face.external_image_id or nearest.face.face_id} {nearest.similarity:.3f}, " \
           f"below {threshold:.4f}"


def match_lines(result: Any, asked: bool = True, default: ThresholdChoice | None = None) -> list[str]:
    lines = [threshold_line(result, asked, default), *normalised_lines(result)]
    if result.searched_face is not None:
        lines[0] = f"searched face {box(result.searched_face.bbox)}, " + lines[0]
    nearest = getattr(result, "nearest", None)
    if not result.face_matches:
        lines.append("  no match" + (f" ({nearest_words(nearest, result.threshold)})" if nearest else ""))
    for m in result.face_matches:
        score = f"  z {m.score:.2f}" if m.score is not None else ""
        lines.append(f"  {m.similarity:.3f}{score}  {m.face.face_id}  {m.face.external_image_id or '-'}"
                     + (f"  user {m.face.user_id}" if m.face.user_id else ""))
    return lines


def description_lines(d: Any, shards: int | None = None) -> list[str]:
    """`collection describe` for people; shards: how many, for a sharded collection (sizes summed)."""
    lines = [
        f"collection  {d.collection_id}" + (f" (sharded over {shards} Ray actors)" if shards else ""),
        f"pack        {d.pack} ({d.embedding_size}-d)",
        f"faces       {d.face_count:,}",
        f"users       {d.user_count:,}",
    ]
    for name, choice in (("compare", d.compare_threshold), ("search", d.search_threshold)):
        if choice is not None:
            lines.append(f"{name:<11} threshold {choice.value:.4f} ({how_chosen(choice, asked=False)}; "
                         f"{rates(choice)})")
    return lines + [
        f"created     {d.created_at.isoformat(timespec='seconds')}",
        f"path        {d.path}",
        f"size        database{'s' if shards else ''} {d.database_bytes:,} B, "
        f"index cache{'s' if shards else ''} {d.cache_bytes:,} B",
        f"encrypted   {'yes (SQLCipher database, AES-256-GCM index cache)' if d.encrypted else 'no'}",
    ]
