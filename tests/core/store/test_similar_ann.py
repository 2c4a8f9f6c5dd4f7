""" "Similar photos" of large libraries: the FAISS index file beside the database, loaded, extended and rebuilt."""

from __future__ import annotations

import threading

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
        idx.refresh_ann(conn, MV)  # the tagging job's step
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
        fresh.refresh_ann(conn, MV)
        assert fresh._ann is not None and fresh._ann._index.ntotal == 600
        assert 1000 not in [i for i, _ in fresh.similar(conn, MV, 7, 10)]


def test_small_libraries_search_exactly_without_faiss(db, tmp_path):
    engine, x = db
    path = tmp_path / "small.similar.faiss"
    idx = EmbeddingIndex(ann_path=path, ann_min=10_000)
    with engine.connect() as conn:
        hits = idx.similar(conn, MV, 7, 5)
    assert not path.exists()
    assert [i for i, _ in hits] == _exact(x, 7, 5)


def _clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """Unit vectors like photo embeddings: clusters of 20 (a landmark's photos), landmarks in families of 10, a mix
    of nuisance directions shared by all (sky, crowds …) and per-photo noise (bench/bench_gallery_scale.py's model)."""
    rng = np.random.default_rng(seed)
    n_cls = n // 20
    fam = rng.standard_normal((n_cls // 10 + 1, dim))
    fam /= np.linalg.norm(fam, axis=1, keepdims=True)
    own = rng.standard_normal((n_cls, dim))
    own /= np.linalg.norm(own, axis=1, keepdims=True)
    c = fam[np.arange(n_cls) // 10] + 0.6 * own
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    nuisance = rng.standard_normal((64, dim)) / np.sqrt(dim)
    mix = (nuisance[rng.integers(0, 64, (n, 3))] * rng.standard_normal((n, 3, 1))).sum(axis=1) / np.sqrt(3)
    x = c[np.arange(n) // 20] + 0.9 * mix + 0.15 * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """25 000 clustered 64-d embeddings in a library database (above ``ANN_MIN_PHOTOS``)."""
    x = _clustered(25_000, 64)
    tmp = tmp_path_factory.mktemp("big")
    engine = create_engine(f"sqlite:///{tmp / 'lib.sqlite3'}")
    metadata.create_all(engine, tables=[embeddings])
    with engine.begin() as conn:
        conn.execute(insert(embeddings), _rows(1, x))
    return engine, x.astype(np.float16).astype(np.float32), tmp


def test_the_index_finds_the_exact_neighbours_of_many_photos(big):
    engine, x, tmp = big
    path = tmp / "recall.similar.faiss"
    ann, exact = EmbeddingIndex(ann_path=path), EmbeddingIndex()
    queries = np.random.default_rng(1).choice(len(x), 200, replace=False) + 1
    with engine.connect() as conn:
        ann.refresh_ann(conn, MV)
        assert path.is_file()
        rec_true, rec_path = [], []
        for pid in queries:
            got = {i for i, _ in ann.similar(conn, MV, int(pid), 20)}
            assert len(got) == 20
            rec_true.append(len(got & set(_exact(x, int(pid), 20))) / 20)
            rec_path.append(len(got & {i for i, _ in exact.similar(conn, MV, int(pid), 20)}) / 20)
    # the 20th neighbour has cosine ≈ 0.43, the 50th ≈ 0.39: the IVF-SQ8 index this replaced (nlist 632, nprobe 32)
    # found 0.83 of them, this one 0.99
    assert np.mean(rec_true) >= 0.95, np.mean(rec_true)
    assert np.mean(rec_path) >= 0.95, np.mean(rec_path)


def test_a_query_never_builds_the_index(big, monkeypatch):
    """No file (or one behind the embeddings): the query is answered exactly and at once; the index is built in a
    background thread with its own connection, never in the caller's."""
    engine, x, tmp = big
    path = tmp / "lazy.similar.faiss"
    callers: list[int] = []
    real_build = SimilarPhotosIndex._build

    def recording_build(self, conn, model_version):
        callers.append(threading.get_ident())
        return real_build(self, conn, model_version)

    monkeypatch.setattr(SimilarPhotosIndex, "_build", recording_build)
    idx = EmbeddingIndex(ann_path=path, ann_connect=engine.connect)
    exact = EmbeddingIndex()
    with engine.connect() as conn:
        hits = idx.similar(conn, MV, 5, 10)
        assert hits == exact.similar(conn, MV, 5, 10)  # the exact path answered
        assert idx._ann is not None and idx._ann._thread is not None
        idx._ann._thread.join(120)
        assert callers and threading.get_ident() not in callers
        assert path.is_file()
        assert idx._ann._current(conn, MV) is not None  # now the index answers
        assert len(idx.similar(conn, MV, 5, 10)) == 10
    # a photo added by another program: the file is behind; the query answers exactly, the thread extends it
    with engine.begin() as conn:
        conn.execute(insert(embeddings), _rows(30_000, x[4:5]))
    idx.invalidate()
    with engine.connect() as conn:
        assert idx._ann._current(conn, MV) is None
        first = idx.similar(conn, MV, 5, 1)[0][0]
        assert first == 30_000  # the exact search sees the new photo
        idx._ann._thread.join(120)
        assert len(callers) == 1  # extended, not rebuilt
        assert idx.similar(conn, MV, 5, 1)[0][0] == 30_000
    idx.close()
