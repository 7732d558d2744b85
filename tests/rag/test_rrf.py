"""Reciprocal-rank fusion and the query terms the stores search for."""

from __future__ import annotations

import pytest

from agentdeck.rag.stores.base import RRF_K, query_terms, rrf


def test_rrf_sums_reciprocal_ranks_and_breaks_ties_by_the_first_ranking() -> None:
    fused = rrf([[1, 2, 5], [3, 2, 4]])
    assert [i for i, _ in fused] == [2, 1, 3, 5, 4]
    assert dict(fused)[2] == pytest.approx(2 / (RRF_K + 2))
    assert dict(fused)[1] == dict(fused)[3] == pytest.approx(1 / (RRF_K + 1))
    assert rrf([]) == [] and rrf([[], [7]]) == [(7, pytest.approx(1 / (RRF_K + 1)))]


def test_query_terms_drop_stop_words_and_repeats() -> None:
    assert query_terms("What is the Knight's move? knight MOVE!") == ["knight", "s", "move"]
    assert query_terms("the of and") == []
    assert len(query_terms(" ".join(f"w{i}" for i in range(100)))) == 32
