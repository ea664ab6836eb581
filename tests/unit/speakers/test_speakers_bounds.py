"""The speaker-count bounds: merging and folding clusters of window embeddings while the
bounds allow, and what a result says when it could not keep to them."""

from __future__ import annotations

import numpy as np

from dropscribe.speakers.bounds import bound_problem, folded, merged

#: Three clusters of windows: two close together (cosine 0.99), one apart.
EMBEDDINGS = np.array(
    [[1.0, 0.0], [1.0, 0.01], [0.99, 0.14], [0.99, 0.15], [0.0, 1.0], [0.01, 1.0]]
)
LABELS = np.array([0, 0, 1, 1, 2, 2])


def test_merged_close_clusters_merged_down_to_the_least_only() -> None:
    assert len(set(merged(LABELS, EMBEDDINGS, 3, 0.875))) == 3
    assert len(set(merged(LABELS, EMBEDDINGS, 2, 0.875))) == 2
    assert len(set(merged(LABELS, EMBEDDINGS, 1, 0.875))) == 2  # the far one stays apart


def test_merged_to_the_most_whatever_the_distance() -> None:
    labels = merged(LABELS, EMBEDDINGS, 1, 0.875, most=1)
    assert set(labels) == {0}


def test_folded_small_clusters_kept_while_fewer_than_the_least_are_large() -> None:
    labels = np.array([0, 0, 0, 0, 1, 1])
    assert set(folded(labels, EMBEDDINGS, 4, 1)) == {0}
    assert list(folded(labels, EMBEDDINGS, 4, 2)) == list(labels)


def test_bound_problem_none_within_the_bounds() -> None:
    assert bound_problem(2, 2, 3, [(0.0, 10.0)]) is None
    assert bound_problem(1, None, None, [(0.0, 10.0)]) is None


def test_bound_problem_long_recording_clustered_without_a_count() -> None:
    problem = bound_problem(1, 2, None, [(0.0, 10.0), (1300.0, 1310.0)])
    assert problem is not None
    assert problem.startswith("min_speakers is 2, but 1 speaker found: a recording with speech")
    assert "UMAP + HDBSCAN" in problem


def test_bound_problem_too_little_speech() -> None:
    problem = bound_problem(1, 4, None, [(0.0, 2.5)])
    assert problem == (
        "min_speakers is 4, but 1 speaker found: 2.5 s of speech is too little to tell 4 voices"
        " apart"
    )


def test_bound_problem_no_speech() -> None:
    assert (
        bound_problem(0, 2, None, [])
        == "min_speakers is 2, but 0 speakers found: no speech was heard"
    )
