""" "Similar photos" of large libraries: the FAISS index file beside the database, loaded, extended and rebuilt."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import create_engine, delete, insert

from core.store.models import embeddings, metadata
from core.store.similarity import EmbeddingIndex, SimilarPhotosIndex

MV = "model-a"


def _rows(start: int, x: np.ndarray) -> list[dict]:
    return [
        {"photo_id": start + i, "model_version": MV, "dim": x.shape[1], "vector": v.astype(np.float16).tobytes()}
        for i, v in enumerate(x)
    ]


@pytest.fixture
def db(tmp_path):
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((40, 32))
    x = np.repeat(centres, 15, axis=0) + 0.3 * rng.standard_normal((600, 32))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    engine = create_engine(f"sqlite:///{tmp_path / 'lib.sqlite3'}")
    metadata.create_all(engine, tables=[embeddings])  # no foreign keys enforced: embeddings alone are enough here
    with engine.begin() as conn:
        conn.execute(insert(embeddings), _rows(1, x))
    return engine, x


def _exact(x: np.ndarray, pid: int, k: int) -> list[int]:
    s = x @ x[pid - 1]
    s[pid - 1] = -np.inf
    return [int(i) + 1 for i in np.argsort(-s)[:k]]


def test_the_index_file_answers_loads_extends_and_rebuilds(db, tmp_path, monkeypatch):
    engine, x = db
    path = tmp_path / "lib.sqlite3.similar.faiss"
    idx = EmbeddingIndex(ann_path=path, ann_min=100)
    with engine.connect() as conn:
        hits = idx.similar(conn, MV, 7, 10)
    assert path.is_file() and path.with_name(path.name + ".json").is_file()
    assert 7 not in [i for i, _ in hits] and len(hits) == 10
    assert len(set(i for i, _ in hits) & set(_exact(x, 7, 10))) >= 9
    assert all(a[1] >= b[1] for a, b in zip(hits, hits[1:]))
    assert hits[0][1] == pytest.approx(float(x[6] @ x[hits[0][0] - 1]), abs=0.02)

    # a new session loads the file: no rebuild
    def no_build(*a, **k):
        raise AssertionError("rebuilt")

    monkeypatch.setattr(SimilarPhotosIndex, "_build", no_build)
    fresh = EmbeddingIndex(ann_path=path, ann_min=100)
    with engine.connect() as conn:
        assert [i for i, _ in fresh.similar(conn, MV, 7, 10)] == [i for i, _ in hits]
    # new embeddings are added to it (still no rebuild) and found
    with engine.begin() as conn:
        conn.execute(insert(embeddings), _rows(1000, x[6:7] * 0.999 + 0.001))
    fresh.invalidate()
    with engine.connect() as conn:
        fresh.refresh_ann(conn, MV)
        assert fresh.similar(conn, MV, 7, 1)[0][0] == 1000
    monkeypatch.undo()
    # removals: rebuilt
    with engine.begin() as conn:
        conn.execute(delete(embeddings).where(embeddings.c.photo_id == 1000))
    fresh.invalidate()
    with engine.connect() as conn:
        assert 1000 not in [i for i, _ in fresh.similar(conn, MV, 7, 10)]


def test_small_libraries_search_exactly_without_faiss(db, tmp_path):
    engine, x = db
    path = tmp_path / "small.similar.faiss"
    idx = EmbeddingIndex(ann_path=path, ann_min=10_000)
    with engine.connect() as conn:
        hits = idx.similar(conn, MV, 7, 5)
    assert not path.exists()
    assert [i for i, _ in hits] == _exact(x, 7, 5)
