"""Near-duplicate stories: fingerprints, LSH band keys, the same-story decision.

The same wire story reaches several sites and sections with different URLs,
boilerplate and small edits (a headline word, an added sentence, a trimmed
ending); a companion story embedded in one page is often a standalone page
elsewhere. Identity by URL misses those, so a story also gets a *fingerprint*
of its wording (see ``dedupe_text``):

- ``shingles``: every run of ``SHINGLE_WORDS`` words, hashed to 32 bits (exact,
  sorted): the verification compares these sets exactly.
- ``lead`` / ``head``: the shingles of the first ``LEAD_WORDS`` and ``HEAD_WORDS``
  words: "do both stories open the same way" separates a copy from a follow-up
  that reuses a few background paragraphs under a new lead.
- ``bands``: locality-sensitive hashing keys over MinHash signatures (datasketch):
  ``BODY_BANDS`` bands of ``BODY_ROWS`` rows over the whole wording, and
  ``LEAD_BANDS`` bands of ``LEAD_ROWS`` rows over the lead, so that a short copy
  contained in a long story (a companion excerpt) is a candidate too. Two stories
  are compared only when they share a band key; the store keeps band keys in an
  indexed table, so finding candidates costs the same at any number of stories.

Pure: values in, values out; no I/O, no clock.
"""

from __future__ import annotations

import functools
import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from feedsvc.dedupe_text import significant_text, story_words

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

#: Bump when anything below changes the fingerprint: band keys of another version never meet.
FINGERPRINT_VERSION = 1
SHINGLE_WORDS = 5
LEAD_WORDS = 40
HEAD_WORDS = 120
MIN_WORDS = 25  # shorter texts are not compared at all
BODY_BANDS, BODY_ROWS = 40, 3
LEAD_BANDS, LEAD_ROWS = 12, 2
_SEED = 20190425
_SCHEME = "affine32"
_MAGIC = b"FSFP"
_HEADER = struct.Struct("<4sHIIHH")  # magic, version, words, shingle, lead and head counts

# The same-story decision (see ``same_story``).
NEAR_IDENTICAL = 0.7  # Jaccard of the wordings: a copy whatever its opening
EDITED_COPY = 0.35  # Jaccard for a copy that also opens the same way
CONTAINED = 0.8  # share of the shorter story found in the longer (excerpts, trimmed copies)
SAME_OPENING = 0.4  # share of each story's lead found in the other's head


@dataclass(frozen=True)
class Fingerprint:
    """The wording of one story, for finding and checking its copies.

    Hash sets are sorted distinct little-endian uint32 values; ``bands`` are signed
    64-bit LSH keys (empty when the text is too short to compare).
    """

    version: int
    words: int
    shingles: bytes
    lead: bytes
    head: bytes
    bands: tuple[int, ...]

    @property
    def comparable(self) -> bool:
        return bool(self.bands)

    def to_bytes(self) -> bytes:
        """The stored form (``from_bytes`` reads it back); band keys are stored apart."""
        counts = (len(self.shingles) // 4, len(self.lead) // 4, len(self.head) // 4)
        return _HEADER.pack(_MAGIC, self.version, self.words, *counts) + self.shingles + self.lead + self.head

    @classmethod
    def from_bytes(cls, data: bytes, bands: tuple[int, ...] = ()) -> Fingerprint | None:
        """The fingerprint stored as ``data``; None when it is not one (another format)."""
        if len(data) < _HEADER.size:
            return None
        magic, version, words, n_shingles, n_lead, n_head = _HEADER.unpack_from(data)
        if magic != _MAGIC or len(data) != _HEADER.size + 4 * (n_shingles + n_lead + n_head):
            return None
        start = _HEADER.size
        cuts = (start, start + 4 * n_shingles, start + 4 * (n_shingles + n_lead), len(data))
        return cls(version, words, data[cuts[0] : cuts[1]], data[cuts[1] : cuts[2]], data[cuts[2] : cuts[3]], bands)


@dataclass(frozen=True)
class Similarity:
    jaccard: float  # |A & B| / |A | B| over all shingles
    containment: float  # |A & B| / min(|A|, |B|)
    opening: float  # the smaller of: A's lead found in B's head, B's lead found in A's head


# ------------------------------------------------------------------ fingerprints


def fingerprint(body_html: str) -> Fingerprint:
    """The fingerprint of a story body (cleaned HTML)."""
    tokens = story_words(body_html)
    hashes = _shingles(tokens)  # in text order: the first ones are the lead's and the head's
    every, lead, head = set(hashes), set(hashes[: _count(len(tokens), LEAD_WORDS)]), set(hashes[: _count(len(tokens), HEAD_WORDS)])
    bands: tuple[int, ...] = ()
    if len(tokens) >= MIN_WORDS:
        bands = _band_keys(every, BODY_BANDS, BODY_ROWS, 0) + _band_keys(lead, LEAD_BANDS, LEAD_ROWS, BODY_BANDS)
    return Fingerprint(FINGERPRINT_VERSION, len(tokens), _pack(every), _pack(lead), _pack(head), bands)


def _shingles(tokens: Sequence[str]) -> list[int]:
    """The 32-bit hash of every run of ``SHINGLE_WORDS`` words (one run for a shorter text), in order."""
    if not tokens:
        return []
    width = min(SHINGLE_WORDS, len(tokens))
    return [
        int.from_bytes(hashlib.blake2b(" ".join(tokens[i : i + width]).encode("utf-8"), digest_size=4).digest(), "little")
        for i in range(len(tokens) - width + 1)
    ]


def _count(tokens: int, first_words: int) -> int:
    """How many shingles lie within the first ``first_words`` of ``tokens`` words."""
    width = min(SHINGLE_WORDS, tokens)
    return max(1, min(tokens, first_words) - width + 1) if tokens else 0


@functools.cache
def _permutations(perms: int, seed: int) -> tuple[NDArray[np.uint32], NDArray[np.uint32]]:
    """datasketch's permutations for ``seed``, made once (they are constants, read-only)."""
    from datasketch import MinHash  # see _band_keys

    a, b = MinHash(num_perm=perms, seed=seed, scheme=_SCHEME).permutations
    for array in (a, b):
        array.flags.writeable = False
    return a, b


_PERMUTATION_ARGS = {
    0: (BODY_BANDS * BODY_ROWS, _SEED),
    BODY_BANDS: (LEAD_BANDS * LEAD_ROWS, _SEED + BODY_BANDS),
}


def _band_keys(hashes: set[int], bands: int, rows: int, first_band: int) -> tuple[int, ...]:
    # Imported here, not with the module: datasketch imports scipy and numpy (~70 MB resident,
    # ~1 s), which only the CPU pool's workers need (fingerprints are made there); the process
    # that serves feeds imports this module for ``judge`` and ``compare`` alone.
    import numpy as np
    from datasketch import MinHash

    if not hashes:
        return ()
    sketch = MinHash(
        num_perm=bands * rows, seed=_SEED + first_band, hashfunc=int, scheme=_SCHEME,
        permutations=_permutations(*_PERMUTATION_ARGS[first_band]),
    )
    sketch.update_batch(sorted(hashes))
    values = np.asarray(sketch.hashvalues, dtype="<u4")
    keys = []
    for band in range(bands):
        label = struct.pack("<HH", FINGERPRINT_VERSION, first_band + band)
        digest = hashlib.blake2b(label + values[band * rows : (band + 1) * rows].tobytes(), digest_size=8).digest()
        keys.append(int.from_bytes(digest, "little", signed=True))
    return tuple(keys)


def _pack(hashes: set[int]) -> bytes:
    return struct.pack(f"<{len(hashes)}I", *sorted(hashes))


def _unpack(packed: bytes) -> frozenset[int]:
    return frozenset(struct.unpack(f"<{len(packed) // 4}I", packed))


# ------------------------------------------------------------------ comparing


def compare(a: Fingerprint, b: Fingerprint) -> Similarity:
    """Exact overlap of two fingerprints' shingle sets."""
    sa, sb = _unpack(a.shingles), _unpack(b.shingles)
    common = len(sa & sb)
    union = len(sa) + len(sb) - common
    smaller = min(len(sa), len(sb))
    opening = min(_covered(a.lead, b.head), _covered(b.lead, a.head))
    return Similarity(
        jaccard=common / union if union else 0.0,
        containment=common / smaller if smaller else 0.0,
        opening=opening,
    )


def _covered(part: bytes, whole: bytes) -> float:
    wanted = _unpack(part)
    if not wanted:
        return 0.0
    return len(wanted & _unpack(whole)) / len(wanted)


def same_story(similarity: Similarity) -> bool:
    """The decision: are two compared stories copies of one story?

    - near-identical wording (whatever the opening: a rewritten lead), or
    - an edited copy: much shared wording and both open the same way (a changed
      word, an added or dropped sentence or paragraph), or
    - one is contained in the other and both open the same way (a companion
      excerpt, a copy trimmed at the end).

    A follow-up that reuses background paragraphs or quotes the first story opens
    with its own new lead, so it fails the opening test; two reports of one event
    share names and quotes but little wording.
    """
    if similarity.jaccard >= NEAR_IDENTICAL:
        return True
    if similarity.opening < SAME_OPENING:
        return False
    return similarity.jaccard >= EDITED_COPY or similarity.containment >= CONTAINED


def shares_band(a: Fingerprint, b: Fingerprint) -> bool:
    """True when an LSH lookup for one finds the other as a candidate."""
    return a.version == b.version and not set(a.bands).isdisjoint(b.bands)


def duplicates(a: Fingerprint, b: Fingerprint) -> bool:
    """What the store decides for two stories: a candidate by band key, then the same story."""
    return a.comparable and b.comparable and shares_band(a, b) and same_story(compare(a, b))


def judge(new: Fingerprint, stored: bytes) -> float | None:
    """A score for a stored candidate (from ``to_bytes``) that is the same story as ``new``, else None.

    The higher the score the closer the copy: Jaccard first, containment breaking ties.
    """
    candidate = Fingerprint.from_bytes(stored, new.bands)
    if candidate is None or candidate.version != new.version or not new.comparable:
        return None
    similarity = compare(new, candidate)
    if not same_story(similarity):
        return None
    return similarity.jaccard + similarity.containment / 1000.0


# ------------------------------------------------------------------ corrections




def is_correction(old_title: str, old_html: str, new_title: str, new_html: str) -> bool:
    """True when the new version changes the story, not only its cosmetics.

    Whitespace, paragraph breaks, typography, an ad label or a counter line
    (``Viewed 1,234 times``) do not count; any other changed word does.
    """
    return significant_text(old_title, old_html) != significant_text(new_title, new_html)


def revises(new_title: str, new_html: str, old_title: str, old_html: str) -> bool:
    """``is_correction`` with the new version first (bind it with ``functools.partial``)."""
    return is_correction(old_title, old_html, new_title, new_html)
