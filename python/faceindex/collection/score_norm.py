"""AS-norm in a collection (issue 29): its cohort, each stored face's line, and exact searches
ranked and judged by normalised scores.

The cohort. A collection with a cohort policy of "own" (every collection made by Collections)
normalises against a random sample of COHORT_SIZE (1,000) of its own faces once it holds that
many; before that, against the cohort the user built for its pack (`faceindex cohort build`),
if there is one; with neither, its scores are cosines and every result says so. A shard of a
sharded collection has the policy "given": its cohort is set from outside, the same on every
shard (the whole collection's; distributed/sharded_collection.py).

Costs. Each stored face keeps one line (the mean and spread of its top K = 200 cosines against
the cohort as it was when the face was stored), computed in the transaction that stores it: one
[faces, 1,000] matrix product and a partial sort per call, about 1/8 of a 1M-face search per
face. A probe's line comes from the same product at search time (1,000 cosines). The lines are
not recomputed as the gallery grows: the cohort is a fixed random sample of the collection, so a
later face's line is against the same 1,000 faces. Forming the own cohort (once, at 1,000 faces)
computes every line then. A cohort face erased from the collection is erased from the cohort in
the same transaction; the next store tops the cohort up with a random face, and lines already
stored are kept (each is against a random sample of the collection, which is what the
calibration table measured).

Exactness. For a probe q and a stored face b with cosine s, z = (p_q + p_b) s - (o_q + o_b), with
p > 0 (score_norm.Lines): for each stored face, an affine map of the cosine with a positive slope,
so z is non-decreasing in s for every face. A search asks the FlatIndex for the k best cosines
and rescores them; every face not among them has a cosine s <= r, the k-th cosine, so its z is
at most (p_q r - o_q) + max_b (p_b r - o_b) = (p_q r - o_q) + E(r). E is a maximum of lines, so it
is convex, and on [r_i, r_i+1] it lies below the chord between E(r_i) and E(r_i+1): the view keeps
E at ENVELOPE_POINTS fixed cosines (updated when faces are added, as the maximum with their lines;
a deletion leaves it an upper bound until the next reload) and the chord gives an upper bound on
every unseen face's z. A face whose z is strictly above that bound is above every unseen face; a
threshold above the bound is reached by no unseen face. When the candidates do not settle the
top k that way, k grows fourfold and the search is asked again (at k = every face, nothing is
unseen). The bound adds BOUND_SLACK for rounding: z and the bound are computed in float64 from
the same float32 cosines, terms of at most ~1e3, so their rounding differs by far less.

A compressed cache (i8/f16 codes, issue 32) serves the one call into the index, the cosines at or
above a floor, through matching.best_faces: every face that could reach the floor within the codes'
proven bound is re-scored in f32, so the cosines, and with them z, are the f32 scan's to the bit.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from faceindex.collection import score_norm_store as norm_store
from faceindex.collection import store
from faceindex.collection.results import FaceMatch, UserMatch
from faceindex.errors import CollectionFileError
from faceindex.flat_index import FlatIndex
from faceindex.thresholds import cohorts as user_cohorts
from faceindex.thresholds.choice import can_normalise
from faceindex.thresholds.score_norm import COHORT_SIZE, MIN_COHORT_SIZE, Cohort, Lines, cohort_statistics, normalise
from faceindex.types import Float64Array, FloatArray, PackInfo, ScoreNormalisation

ENVELOPE_POINTS = 129
_GRID = np.linspace(-1.01, 1.01, ENVELOPE_POINTS)  # float32 cosines of unit vectors stay inside
BOUND_SLACK = 1e-9
FLOOR_MARGIN = 1e-6  # cosine
FIRST_K = 64  # candidates asked for at first: at least this, max_faces + 1, and 1/256 of the faces
FIRST_SHARE = 256
# The loneliest faces (those whose line rises highest: a low cohort mean, a small spread) would set
# the bound on every unseen face; about this share of them is scored exactly on every search instead.
OUTLIER_SHARE = 0.005
_LINE_BATCH = 16384


def own_cohort_source(size: int) -> str:
    return f"a random sample of {size:,} of this collection's faces"


# -- why a search is not normalised, in words --------------------------------------------------

NO_COHORT = (f"no cohort yet: a collection normalises against its own faces from {COHORT_SIZE:,} on, and before "
             "that against the cohort `faceindex cohort build` makes for its pack")
FIXED_THRESHOLD = "a threshold= was given: it is a cosine similarity, so the scores are cosines"
SWITCHED_OFF = "this collection was created with score_normalisation=False"


def no_table(pack: PackInfo) -> str:
    return f"pack {pack.name} {pack.version} has no calibration table of AS-norm scores"


def not_normalised(why: str) -> ScoreNormalisation:
    return ScoreNormalisation("none", why, None)


@dataclass(frozen=True)
class NormView:
    """What a normalised search needs, at one database generation."""

    cohort: Cohort
    slope: Float64Array  # by face row id; NaN where no face
    offset: Float64Array
    envelope: Float64Array  # at _GRID: at least the highest p_b r - o_b of any stored face not an outlier
    outliers: FlatIndex  # the loneliest faces (their lines rise above `cap`), scored exactly on every search
    cap: Float64Array  # at _GRID: a line above it anywhere makes its face an outlier
    outlier_vectors: FloatArray  # the outliers' stored embeddings, by outliers.ids() order

    @property
    def normalisation(self) -> ScoreNormalisation:
        return self.cohort.describe()

    def lines_of(self, rows: npt.NDArray[np.int64]) -> Lines:
        return Lines(self.slope[rows], self.offset[rows])

    def unseen_bound(self, probe: Lines, cosine: npt.ArrayLike) -> Float64Array:
        """For each probe i, a bound on the z of every stored face that is not an outlier and whose
        cosine is <= cosine[i]."""
        r = np.clip(np.asarray(cosine, dtype=np.float64), _GRID[0], _GRID[-1])
        j = np.clip(np.searchsorted(_GRID, r, side="right") - 1, 0, ENVELOPE_POINTS - 2)
        w = (r - _GRID[j]) / (_GRID[j + 1] - _GRID[j])
        chord = self.envelope[j] + w * (self.envelope[j + 1] - self.envelope[j])
        bound: Float64Array = probe.slope * r - probe.offset + chord + BOUND_SLACK
        return bound


    def cosine_reaching(self, probe: Lines, target: npt.ArrayLike) -> Float64Array:
        """For each probe i, the lowest cosine at which unseen_bound reaches target[i] (-inf: at every
        cosine; +inf: at none): only faces at or above it can still reach target."""
        t = np.broadcast_to(np.asarray(target, dtype=np.float64), probe.slope.shape)
        at = probe.slope[:, None] * _GRID[None, :] - probe.offset[:, None] + self.envelope[None, :] + BOUND_SLACK
        out = np.empty(len(t))
        for i in range(len(t)):
            j = int(np.searchsorted(at[i], t[i], side="left"))  # the bound rises with the cosine
            if j == 0:
                out[i] = -np.inf
            elif j == ENVELOPE_POINTS:
                out[i] = np.inf
            else:  # linear between the grid points
                w = (t[i] - at[i, j - 1]) / (at[i, j] - at[i, j - 1])
                out[i] = _GRID[j - 1] + w * (_GRID[j] - _GRID[j - 1])
        return out


def _at_grid(slope: Float64Array, offset: Float64Array) -> Float64Array:
    """[faces, ENVELOPE_POINTS]: each line's p r - o at the grid's cosines."""
    values: Float64Array = slope[:, None] * _GRID[None, :] - offset[:, None]
    return values


def _cap(slope: Float64Array, offset: Float64Array) -> Float64Array:
    """At each grid cosine from the faces' median cohort mean up (where searches meet the bound: a
    candidate's cosine is above most faces' strangers'), the value that all but OUTLIER_SHARE of the
    lines stay at or below; below it, no cap."""
    n = len(slope)
    above = int(OUTLIER_SHARE * n)
    cap = np.full(ENVELOPE_POINTS, np.inf)
    if above < 1:
        return cap
    first = int(np.searchsorted(_GRID, float(np.median(offset / slope))))
    for start in range(first, ENVELOPE_POINTS, 8):  # [faces, 8] at a time
        cols = slice(start, min(ENVELOPE_POINTS, start + 8))
        values = slope[:, None] * _GRID[None, cols] - offset[:, None]
        cap[cols] = np.partition(values, n - 1 - above, axis=0)[n - 1 - above]
    return cap


class ScoreNormState:
    """An open collection's NormView, brought to each search's database generation (as IndexCache
    brings the FlatIndex): new faces' lines are added to it; a deletion or a cohort change reloads it."""

    def __init__(self, pack: PackInfo) -> None:
        self.pack = pack
        self._lock = threading.Lock()
        self._view: NormView | None = None
        self._key: tuple[int, int, int, str] = (-1, -1, -1, "")  # generations, score_norm_version, policy
        self.switched_off = False
        self._max_id = 0
        self._slope = np.zeros(0)
        self._offset = np.zeros(0)
        self._cohort_cache: tuple[int, Cohort | None] | None = None  # (score_norm_version, cohort): writers'

    def view(self, conn: sqlite3.Connection) -> NormView | None:
        """The view at the snapshot of conn's read transaction; None without a cohort."""
        key = norm_store.view_key(conn)
        with self._lock:
            self.switched_off = key[3] == "off"
            if key != self._key:
                if key[1:] != self._key[1:] or key[0] < self._key[0] or self._view is None:
                    self._reload(conn)
                else:
                    self._add_lines(conn, self._view)
                self._key = key
            return self._view

    def _reload(self, conn: sqlite3.Connection) -> None:
        self._max_id, self._slope, self._offset, self._view = 0, np.zeros(0), np.zeros(0), None
        cohort = read_cohort(conn, self.pack)
        if cohort is None:
            return
        batches = list(norm_store.lines_after(conn, 0))
        ids = np.concatenate([b[0] for b in batches]) if batches else np.zeros(0, np.int64)
        lines = Lines.of(np.concatenate([b[1] for b in batches]) if batches else np.zeros(0),
                         np.concatenate([b[2] for b in batches]) if batches else np.zeros(0))
        cap = _cap(lines.slope, lines.offset)
        empty = NormView(cohort, self._slope, self._offset, np.full(ENVELOPE_POINTS, -np.inf),
                         FlatIndex(self.pack.embedding_size), cap, np.zeros((0, self.pack.embedding_size), np.float32))
        self._store_lines(conn, ids, lines, empty)

    def _add_lines(self, conn: sqlite3.Connection, view: NormView) -> None:
        for ids, mean, spread in norm_store.lines_after(conn, self._max_id):
            view = self._store_lines(conn, ids, Lines.of(mean, spread), view)

    def _store_lines(self, conn: sqlite3.Connection, ids: npt.NDArray[np.int64], lines: Lines,
                     view: NormView) -> NormView:
        """The view with these faces' lines: an outlier's embedding into a new outlier index (earlier
        views keep theirs), any other's line into the envelope."""
        if len(ids):
            top = int(ids[-1]) + 1
            if top > len(self._slope):  # grow by doubling; earlier views keep the arrays they hold
                size = max(top, 2 * len(self._slope), 1024)
                slope, offset = np.full(size, np.nan), np.full(size, np.nan)
                slope[:len(self._slope)], offset[:len(self._offset)] = self._slope, self._offset
                self._slope, self._offset = slope, offset
            self._slope[ids], self._offset[ids] = lines.slope, lines.offset
            self._max_id = max(self._max_id, int(ids[-1]))
        envelope, outliers, outlier_vectors = view.envelope.copy(), view.outliers, view.outlier_vectors
        lonely = np.zeros(len(ids), dtype=bool)
        for start in range(0, len(ids), _LINE_BATCH):
            rows = slice(start, start + _LINE_BATCH)
            values = _at_grid(lines.slope[rows], lines.offset[rows])
            lonely[rows] = (values > view.cap).any(axis=1)
            kept = values[~lonely[rows]]
            if len(kept):
                envelope = np.maximum(envelope, kept.max(axis=0))
        if lonely.any():  # a new index (earlier views keep theirs), of the embeddings as stored
            added = store.embeddings_of(conn, ids[lonely].tolist(), self.pack.embedding_size)
            outlier_vectors = np.concatenate([outlier_vectors, added])
            outliers = FlatIndex(self.pack.embedding_size)
            outliers.add(np.concatenate([view.outliers.ids(), ids[lonely].astype(np.uint64)]), outlier_vectors)
        self._view = NormView(view.cohort, self._slope, self._offset, envelope, outliers, view.cap, outlier_vectors)
        return self._view

    def cohort_in(self, conn: sqlite3.Connection) -> Cohort | None:
        """The cohort inside a write transaction (read again only when score_norm_version moved)."""
        version = norm_store.version(conn)
        if self._cohort_cache is None or self._cohort_cache[0] != version:
            self._cohort_cache = (version, read_cohort(conn, self.pack))
        return self._cohort_cache[1]


def read_cohort(conn: sqlite3.Connection, pack: PackInfo) -> Cohort | None:
    face_ids, vectors = norm_store.cohort(conn, pack.embedding_size)
    if len(vectors) < MIN_COHORT_SIZE:
        return None
    source = norm_store.source(conn) or own_cohort_source(len(vectors))
    return Cohort(np.ascontiguousarray(vectors), pack.ref, source)


def search_view(norm: ScoreNormState, conn: sqlite3.Connection, fixed_threshold: bool
                ) -> tuple[NormView | None, ScoreNormalisation]:
    """The view a search normalises with, or None and why not."""
    if fixed_threshold:
        return None, not_normalised(FIXED_THRESHOLD)
    if not can_normalise(norm.pack):
        return None, not_normalised(no_table(norm.pack))
    view = norm.view(conn)
    if view is None:
        return None, not_normalised(SWITCHED_OFF if norm.switched_off else NO_COHORT)
    return view, view.normalisation


# -- keeping the cohort and the lines (inside the caller's write transaction) -------------------


def on_insert(norm: ScoreNormState, conn: sqlite3.Connection, row_ids: npt.ArrayLike,
              vectors: FloatArray) -> None:
    """The new faces' lines, after forming the cohort (the collection's own at COHORT_SIZE faces, else
    the user's for the pack) or topping it up (members erased since)."""
    policy = norm_store.policy(conn)
    if policy == "off":
        return
    cohort = norm.cohort_in(conn)
    if policy == "own":
        own = norm_store.source(conn) == "" and norm_store.cohort_size(conn) > 0
        if own and cohort is None:  # erased faces left it short, and there were none to replace them
            cohort = _top_up(norm, conn, norm_store.cohort_size(conn))
        if cohort is None and store.face_count(conn) >= COHORT_SIZE:
            form_own_cohort(norm, conn)
            return
        if cohort is not None and not own and store.face_count(conn) >= COHORT_SIZE:
            form_own_cohort(norm, conn)  # the user's cohort gives way to the collection's own faces
            return
        if cohort is None:
            users = user_cohorts.cohort_for(norm.pack)
            if users is not None:
                use_cohort(norm, conn, [None] * users.size, users.embeddings, users.source)
            return
    if cohort is None:
        return
    mean, spread = cohort_statistics(vectors, cohort.embeddings, cohort.top_k)
    norm_store.insert_lines(conn, np.asarray(row_ids, dtype=np.int64), mean, spread)


def form_own_cohort(norm: ScoreNormState, conn: sqlite3.Connection, seed: int | None = None) -> None:
    """COHORT_SIZE of the collection's faces at random become its cohort; every line is computed again."""
    rows = store.all_face_ids(conn)
    chosen = np.sort(np.random.default_rng(seed).choice(rows, min(COHORT_SIZE, len(rows)), replace=False))
    records = store.faces_by_row_ids(conn, chosen.tolist())
    vectors = store.embeddings_of(conn, chosen.tolist(), norm.pack.embedding_size)
    use_cohort(norm, conn, [records[int(r)].face_id for r in chosen], vectors, "", member_rows=chosen)


def use_cohort(norm: ScoreNormState, conn: sqlite3.Connection, face_ids: Sequence[str | None],
               vectors: FloatArray, source: str, member_rows: npt.NDArray[np.int64] | None = None) -> None:
    """Make these faces the cohort (face_ids: the collection's faces they are, or None) and compute
    every stored face's line against it; source "" means the collection's own faces."""
    norm_store.set_cohort(conn, face_ids, vectors)
    norm_store.set_source(conn, source)
    norm_store.bump_version(conn)
    cohort = norm.cohort_in(conn)
    norm_store.clear_lines(conn)
    if cohort is None:
        return
    if member_rows is None:  # faces of this collection among the cohort (a given cohort) by their ids
        found = store.faces_by_face_ids(conn, [f for f in face_ids if f is not None])
        member_rows = np.array([found[f][0] if f in found else -1 for f in face_ids], dtype=np.int64)
    slot_of = {int(r): i for i, r in enumerate(member_rows) if r >= 0}
    for ids, batch in store.embeddings_after(conn, 0, norm.pack.embedding_size):
        own = np.array([slot_of.get(int(i), -1) for i in ids], dtype=np.int64)
        mean, spread = cohort_statistics(batch, cohort.embeddings, cohort.top_k, own)
        norm_store.insert_lines(conn, ids.astype(np.int64), mean, spread)


def _top_up(norm: ScoreNormState, conn: sqlite3.Connection, size: int) -> Cohort | None:
    """Random faces of the collection replace the cohort faces erased since (stored lines are kept:
    each is against a random sample of the collection, which is what the calibration measured)."""
    members = store.faces_by_face_ids(conn, sorted(norm_store.cohort_face_ids(conn)))
    taken = np.array(sorted(row for row, _ in members.values()), dtype=np.int64)
    free = np.setdiff1d(store.all_face_ids(conn), taken, assume_unique=True)
    need = min(COHORT_SIZE - size, len(free))
    if need > 0:
        chosen = np.sort(np.random.default_rng().choice(free, need, replace=False))
        records = store.faces_by_row_ids(conn, chosen.tolist())
        norm_store.add_to_cohort(conn, [records[int(r)].face_id for r in chosen],
                                 store.embeddings_of(conn, chosen.tolist(), norm.pack.embedding_size))
        norm_store.bump_version(conn)
    return norm.cohort_in(conn)


def forget_faces(norm: ScoreNormState, conn: sqlite3.Connection, face_ids: Sequence[str]) -> int:
    """Erased faces leave the cohort in the erasing transaction (their lines go by ON DELETE CASCADE),
    and random faces of the collection take their places (own cohort); how many were in it."""
    gone = norm_store.forget_cohort_faces(conn, face_ids)
    if gone:
        norm_store.bump_version(conn)
        if norm_store.policy(conn) == "own" and norm_store.source(conn) == "":
            _top_up(norm, conn, norm_store.cohort_size(conn))
    return gone


def association_view(norm: ScoreNormState, conn: sqlite3.Connection) -> tuple[Cohort | None, ScoreNormalisation]:
    """The cohort a 1:1 decision inside a write transaction normalises against, or None and why not."""
    if norm_store.policy(conn) == "off":
        return None, not_normalised(SWITCHED_OFF)
    if not can_normalise(norm.pack):
        return None, not_normalised(no_table(norm.pack))
    cohort = norm.cohort_in(conn)
    if cohort is None:
        return None, not_normalised(NO_COHORT)
    return cohort, cohort.describe()


def pair_scores(norm: ScoreNormState, conn: sqlite3.Connection, row: int, others: Sequence[int],
                cosines: npt.ArrayLike) -> Float64Array:
    """z of stored face `row` against each of the stored faces `others`, from their cosines."""
    found = norm_store.lines_of(conn, [row, *others])
    if len(found) != len({int(row), *(int(r) for r in others)}):
        raise CollectionFileError("damaged collection database: a stored face has no AS-norm line")
    mine = Lines.of([found[int(row)][0]], [found[int(row)][1]])
    theirs = Lines.of([found[int(r)][0] for r in others], [found[int(r)][1] for r in others])
    return normalise(cosines, mine, theirs)


# -- exact searches on normalised scores ------------------------------------------------------------


def _best_cosines(index: FlatIndex, conn: sqlite3.Connection, queries: FloatArray, k: int, floor: Float64Array
                  ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Each query's k best cosines at or above its floor (ids -1 and -inf past the last). The one call
    into the index: matching.best_faces, exact from any cache (a compressed one prunes by the lowest
    floor, then re-scores); each query's own floor drops what is below it."""
    from faceindex.collection.matching import best_faces

    lowest = float(np.min(floor)) if len(floor) else -np.inf
    if lowest == np.inf:  # no face can reach any query's target
        return np.full((len(queries), k), -1, np.int64), np.full((len(queries), k), -np.inf, np.float32)
    ids, cosine = best_faces(index, conn, queries, k, lowest)
    below = ~(cosine.astype(np.float64) >= floor[:, None])
    ids[below], cosine[below] = -1, -np.inf
    return ids, cosine


def _candidates(index: FlatIndex, conn: sqlite3.Connection, queries: FloatArray, probe: Lines, view: NormView, k: int,
                floor: Float64Array) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], Float64Array, Float64Array]:
    """The k best cosines of each query at or above its floor and every outlier face, their z (-inf
    where no face), and a bound on the z of every face not among them (-inf when none is left out).

    floor[i]: no face below it can reach what query i needs (NormView.cosine_reaching), so a query
    that gets fewer than k faces has seen every face that can; its bound is the bound at its floor."""
    ids, cosine = _best_cosines(index, conn, queries, k, floor)
    full = ids[:, k - 1] >= 0  # k faces at or above the floor: faces beyond the k-th may be unseen
    if len(view.outliers):
        more_ids, more = view.outliers.search(queries, len(view.outliers))
        more_ids = np.where(np.array([np.isin(m, i) for m, i in zip(more_ids, ids)]), -1, more_ids)  # seen twice
        ids, cosine = np.concatenate([ids, more_ids], axis=1), np.concatenate([cosine, more], axis=1)
    valid = ids >= 0
    rows = np.where(valid, ids, 0)
    z = normalise(cosine, Lines(probe.slope[:, None], probe.offset[:, None]), view.lines_of(rows))
    if np.isnan(z[valid]).any():
        raise CollectionFileError("damaged collection database: a stored face has no AS-norm line")
    z = np.where(valid, z, -np.inf)
    if k >= len(index):
        bound = np.full(len(queries), -np.inf)
    else:
        unseen_below = np.where(full, cosine[:, k - 1].astype(np.float64), floor)
        bound = np.where(np.isneginf(unseen_below), -np.inf, view.unseen_bound(probe, unseen_below))
    return ids, cosine, z, bound


def _how_many(view: NormView, probe: Lines, target: npt.ArrayLike, n: int, wanted: int, asked: int) -> int:
    """Candidates to ask the FlatIndex for next: enough to hold every face whose cosine could still
    reach target, as many as the pack's cosine table expects above that cosine (twice, for margin),
    and at least fourfold the last ask. Only speed depends on it: the bound decides exactness."""
    from faceindex.thresholds import table_for

    lowest = float(np.min(view.cosine_reaching(probe, target)))
    table = table_for(view.cohort.pack)
    if lowest == np.inf or table is None:
        expected = 0.0
    elif lowest == -np.inf:
        expected = float(n)
    else:
        expected = 1.5 * n * table.fmr_at(lowest).value
    k = max(FIRST_K, wanted, int(expected) + wanted + FIRST_K, 4 * asked if asked else 0)
    return min(n, k)


def _floor(view: NormView, probe: Lines, threshold: float) -> Float64Array:
    """Per query, a cosine below which no face outside the outliers can reach the threshold (a little
    under the one the bound gives, so that the bound there is below the threshold despite rounding;
    _candidates computes that bound rather than assume it)."""
    return view.cosine_reaching(probe, threshold) - FLOOR_MARGIN


def _first_ask(view: NormView, probe: Lines, threshold: float, n: int, wanted: int) -> int:
    """The first ask: what the threshold needs (one scan settles a search that finds fewer than
    `wanted` faces), unless that is much of the collection: then a small one, and the next from what it found."""
    needed = _how_many(view, probe, threshold, n, wanted, 0)
    return needed if needed <= max(n // 16, 4096) else min(n, max(FIRST_K, wanted, n // FIRST_SHARE))


def face_matches(index: FlatIndex, conn: sqlite3.Connection, view: NormView, queries: FloatArray, max_faces: int,
                 threshold: float, exclude: Sequence[int | None]) -> list[tuple[list[FaceMatch], FaceMatch | None]]:
    """matching.face_matches on z: each query's best faces with z >= threshold, best first (ties: lower
    row id), exact (the module's docstring proves it), and its nearest face by z whatever the threshold."""
    matches = _z_matches(index, conn, view, queries, max_faces, threshold, exclude)
    return [(found, found[0] if found else _near_miss(index, conn, view, queries[i:i + 1], exclude[i]))
            for i, found in enumerate(matches)]


def _z_matches(index: FlatIndex, conn: sqlite3.Connection, view: NormView, queries: FloatArray, max_faces: int,
               threshold: float, exclude: Sequence[int | None]) -> list[list[FaceMatch]]:
    from faceindex.collection.matching import similarity

    n = len(index)
    if n == 0:
        return [[] for _ in queries]
    probe = view.cohort.lines(queries)
    wanted = max_faces + 1
    k = _first_ask(view, probe, threshold, n, wanted)
    floor = _floor(view, probe, threshold)
    while True:
        ids, cosine, z, bound = _candidates(index, conn, queries, probe, view, k, floor)
        chosen, settled, target = [], True, np.full(len(queries), float(threshold))
        for i in range(len(queries)):
            ok = (ids[i] >= 0) & (z[i] >= threshold)
            if exclude[i] is not None:
                ok &= ids[i] != exclude[i]
            at = np.flatnonzero(ok)
            order = at[np.lexsort((ids[i][at], -z[i][at]))][:max_faces]
            if bound[i] >= threshold and (len(order) < max_faces or z[i][order[-1]] <= bound[i]):
                settled = False  # a face not among the candidates could still belong here
            if len(order) == max_faces:
                target[i] = max(threshold, float(z[i][order[-1]]))
            chosen.append(order)
        if settled or k >= n:
            break
        k = _how_many(view, probe, target, n, wanted, k)
    records = store.faces_by_row_ids(conn, [int(ids[i][j]) for i, order in enumerate(chosen) for j in order])
    return [[FaceMatch(similarity(cosine[i][j]), records[int(ids[i][j])], score=float(z[i][j])) for j in order]
            for i, order in enumerate(chosen)]


def _near_miss(index: FlatIndex, conn: sqlite3.Connection, view: NormView, query: FloatArray,
               exclude: int | None) -> FaceMatch | None:
    """The face of highest z for a query none of whose faces reached the threshold: the z of its two
    best cosines (one may be the face searched with) is a threshold the best z reaches, so an exact
    search there for one face finds it, scanning no deeper than that threshold needs. (A hair lower:
    z of one face may round differently in another batch.)"""
    probe = view.cohort.lines(query)
    ids, _, z, _ = _candidates(index, conn, query, probe, view, min(2, len(index)), np.full(1, -np.inf))
    seen = (ids[0] >= 0) & (ids[0] != (-1 if exclude is None else exclude))
    if not seen.any():
        return None
    reached = float(np.max(z[0][seen]))
    found, = _z_matches(index, conn, view, query, 1, reached - 1e-6 * (1.0 + abs(reached)), [exclude])
    return found[0] if found else None


def user_matches(index: FlatIndex, conn: sqlite3.Connection, view: NormView, queries: FloatArray, max_users: int,
                 threshold: float, exclude_user: str | None = None, exclude_row: int | None = None) -> list[UserMatch]:
    """matching.user_matches on z: users ranked by their best face's z against any query face, exact
    (deepened until every ranked user's z is above the bound on the faces not searched)."""
    from faceindex.collection.matching import similarity

    n = len(index)
    if n == 0:
        return []
    probe = view.cohort.lines(queries)
    wanted = max(FIRST_K, 8 * max_users)
    k = _first_ask(view, probe, threshold, n, wanted)
    floor = _floor(view, probe, threshold)
    while True:
        ids, cosine, z, bound = _candidates(index, conn, queries, probe, view, k, floor)
        valid = (ids >= 0) & (z >= threshold)
        if exclude_row is not None:
            valid &= ids != exclude_row
        owners = store.user_of_rows(conn, np.unique(ids[valid]).tolist())
        best: dict[str, tuple[float, int, float]] = {}  # user -> (z, row, cosine)
        for row, score, cos in zip(ids[valid].tolist(), z[valid].tolist(), cosine[valid].tolist()):
            user = owners.get(row)
            if user is None or user == exclude_user:
                continue
            if user not in best or (score, -row) > (best[user][0], -best[user][1]):
                best[user] = (score, row, cos)
        unseen = float(np.max(bound))
        ranked = sorted(best.items(), key=lambda item: (-item[1][0], item[1][1]))
        confirmed = [item for item in ranked if item[1][0] > unseen]
        if len(confirmed) >= max_users or k >= n or unseen < threshold:
            top = confirmed[:max_users]
            break
        target = max(threshold, ranked[max_users - 1][1][0]) if len(ranked) >= max_users else threshold
        k = _how_many(view, probe, target, n, wanted, k)
    users = store.users_by_id(conn, [user for user, _ in top])
    records = store.faces_by_row_ids(conn, [row for _, (_, row, _) in top])
    return [UserMatch(similarity(cos), users[user], records[row], score=score) for user, (score, row, cos) in top]


# -- a cohort set from outside: the shards of a sharded collection -----------------------------------


def make_given(norm: ScoreNormState, conn: sqlite3.Connection) -> None:
    """The collection's cohort will be set from outside (a shard of a sharded collection): a cohort it
    formed of its own faces, if any, is dropped with its lines."""
    with store.write_transaction(conn):
        if norm_store.policy(conn) == "own":
            norm_store.set_policy(conn, "given")
            norm_store.set_cohort(conn, [], np.zeros((0, norm.pack.embedding_size), np.float32))
            norm_store.set_source(conn, "")
            norm_store.clear_lines(conn)
            norm_store.bump_version(conn)


def set_given_cohort(norm: ScoreNormState, conn: sqlite3.Connection, face_ids: Sequence[str | None],
                     vectors: FloatArray, source: str) -> str | None:
    """Make these faces the collection's cohort (policy "given") and compute every line against it;
    the cohort's digest."""
    with store.write_transaction(conn):
        norm_store.set_policy(conn, "given")
        use_cohort(norm, conn, face_ids, np.ascontiguousarray(vectors, dtype=np.float32), source)
        cohort = norm.cohort_in(conn)
    return cohort.digest if cohort is not None else None


def add_given_faces(norm: ScoreNormState, conn: sqlite3.Connection, face_ids: Sequence[str],
                    vectors: FloatArray) -> str | None:
    """More faces join a given cohort (replacing erased ones); stored lines are kept."""
    with store.write_transaction(conn):
        norm_store.add_to_cohort(conn, face_ids, np.ascontiguousarray(vectors, dtype=np.float32))
        norm_store.bump_version(conn)
        cohort = norm.cohort_in(conn)
    return cohort.digest if cohort is not None else None


def cohort_status(norm: ScoreNormState, conn: sqlite3.Connection) -> tuple[int, str | None, int, list[str]]:
    """Faces stored, the cohort's digest (None: no cohort) and size, and the collection's faces in it."""
    with store.read_transaction(conn):
        cohort = read_cohort(conn, norm.pack)
        return (store.face_count(conn), cohort.digest if cohort is not None else None, norm_store.cohort_size(conn),
                sorted(norm_store.cohort_face_ids(conn)))


def sample_faces(norm: ScoreNormState, conn: sqlite3.Connection, k: int, leave_out: Sequence[str],
                 seed: int | None = None) -> tuple[list[str], FloatArray]:
    """k of the stored faces at random (fewer if there are not so many), none of leave_out: ids, embeddings."""
    with store.read_transaction(conn):
        rows = store.all_face_ids(conn)
        taken = store.faces_by_face_ids(conn, list(leave_out))
        rows = np.setdiff1d(rows, np.array([r for r, _ in taken.values()], dtype=np.int64), assume_unique=True)
        chosen = np.sort(np.random.default_rng(seed).choice(rows, min(k, len(rows)), replace=False))
        records = store.faces_by_row_ids(conn, chosen.tolist())
        vectors = store.embeddings_of(conn, chosen.tolist(), norm.pack.embedding_size)
    return [records[int(r)].face_id for r in chosen], np.array(vectors)
