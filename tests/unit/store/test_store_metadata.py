"""Metadata: schema and migrations, transactions, unique names, leases, GC marks, and many
processes writing at once."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from capsa.errors import AlreadyExists, Conflict, InvalidArgument, NotFound, Unavailable
from capsa.oci.digest import Digest
from capsa.store.errors import InUse
from capsa.store.metadata import SCHEMA_VERSION, Metadata, ResourceKind


def d(text: str) -> str:
    return str(Digest.of(text.encode()))


@pytest.fixture
def meta(tmp_path: Path) -> Metadata:
    return Metadata(tmp_path / "capsa.db")


def chain(meta: Metadata, *names: str) -> list[str]:
    parent = None
    chain_ids = []
    for name in names:
        chain_id = d(f"chain-{name}")
        meta.put_layer(chain_id, d(f"diff-{name}"), parent, 100)
        chain_ids.append(chain_id)
        parent = chain_id
    return chain_ids


def image(meta: Metadata, name: str, layers: list[str], *names: str) -> str:
    image_id = d(f"config-{name}")
    meta.put_image(
        image_id,
        d(f"manifest-{name}"),
        size=1000,
        layers=layers,
        blobs={image_id: "config", d(f"manifest-{name}"): "manifest", d(f"blob-{name}"): "layer"},
        names=names,
    )
    return image_id


def test_wal_and_schema_version(tmp_path: Path) -> None:
    meta = Metadata(tmp_path / "capsa.db")
    assert meta.schema_version == SCHEMA_VERSION
    meta.close()
    raw = sqlite3.connect(tmp_path / "capsa.db")
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(Unavailable, match="newer"):
        Metadata(tmp_path / "capsa.db")


def test_reopen_keeps_data(tmp_path: Path) -> None:
    with Metadata(tmp_path / "capsa.db") as meta:
        image(meta, "a", chain(meta, "base"), "docker.io/library/a:latest")
    with Metadata(tmp_path / "capsa.db") as meta:
        assert meta.resolve_image("docker.io/library/a:latest").id == d("config-a")


def test_layers(meta: Metadata) -> None:
    base, top = chain(meta, "base", "top")
    record = meta.get_layer(top)
    assert (record.parent, record.snapshot_key, record.diff_id) == (base, top, d("diff-top"))
    assert meta.put_layer(top, "other", None, 1) == record  # idempotent
    with pytest.raises(NotFound, match="parent"):
        meta.put_layer(d("orphan"), d("x"), d("missing"), 1)
    with pytest.raises(NotFound):
        meta.get_layer(d("missing"))
    meta.add_layer_blob(d("diff-top"), d("gz"), 50, "application/vnd.oci.image.layer.v1.tar+gzip")
    meta.add_layer_blob(d("diff-top"), d("gz"), 50)
    assert [b.digest for b in meta.layer_blobs(diff_id=d("diff-top"))] == [d("gz")]
    assert meta.layer_blobs(digest=d("gz"))[0].diff_id == d("diff-top")


def test_images_names_and_resolution(meta: Metadata) -> None:
    layers = chain(meta, "base")
    a = image(meta, "a", layers, "docker.io/library/a:latest", "docker.io/library/a:1")
    record = meta.get_image(a)
    assert record.layers == tuple(layers) and record.top_layer == layers[0]
    assert record.names == ("docker.io/library/a:1", "docker.io/library/a:latest")
    assert meta.image_blobs(a)[a] == "config"
    assert meta.resolve_image(a).id == a
    assert meta.resolve_image(a.removeprefix("sha256:")[:12]).id == a
    assert meta.resolve_image(a.removeprefix("sha256:")).id == a
    with pytest.raises(NotFound):
        meta.resolve_image("docker.io/library/nope:latest")
    # a name is unique: tagging moves it
    b = image(meta, "b", layers, "docker.io/library/a:latest")
    assert meta.resolve_image("docker.io/library/a:latest").id == b
    assert meta.get_image(a).names == ("docker.io/library/a:1",)
    assert meta.untag("docker.io/library/a:1") == a
    assert meta.get_image(a).names == ()
    with pytest.raises(NotFound):
        meta.untag("docker.io/library/a:1")
    with pytest.raises(InvalidArgument):
        meta.tag("bad name", a)
    with pytest.raises(NotFound):
        meta.tag("x:y", d("missing"))


def test_ambiguous_prefix(meta: Metadata) -> None:
    first, second = "sha256:abc1" + "0" * 60, "sha256:abc2" + "0" * 60
    for image_id in (first, second):
        meta.put_image(image_id, d("m"), size=1, layers=[], blobs={})
    with pytest.raises(Conflict, match="ambiguous"):
        meta.resolve_image("abc")
    assert meta.resolve_image("abc1").id == first
    with pytest.raises(NotFound):
        meta.resolve_image("ab")  # too short to be an ID prefix


def test_put_image_is_one_transaction(meta: Metadata) -> None:
    with pytest.raises(NotFound, match="layer"):
        meta.put_image(
            d("config"), d("manifest"), size=1, layers=[d("missing")], blobs={}, names=["x:y"]
        )
    assert meta.images() == []
    with pytest.raises(InvalidArgument):
        meta.put_image("not-a-digest", d("m"), size=1, layers=[], blobs={})


def test_explicit_transaction_rolls_back(meta: Metadata) -> None:
    layers = chain(meta, "base")
    a = image(meta, "a", layers, "a:1")
    with pytest.raises(RuntimeError), meta.transaction():
        meta.tag("a:2", a)
        meta.untag("a:1")
        raise RuntimeError("boom")
    assert meta.get_image(a).names == ("a:1",)


def test_delete_image_refuses_while_in_use(meta: Metadata) -> None:
    layers = chain(meta, "base")
    a = image(meta, "a", layers, "a:1")
    lease = meta.create_lease("container:abc", expires_in=None)
    meta.add_lease_resource(lease, ResourceKind.IMAGE, a)
    with pytest.raises(InUse, match="container:abc"):
        meta.delete_image(a)
    with pytest.raises(Conflict, match="still used"):
        meta.delete_layers(layers)
    meta.delete_image(a, force=True)
    with pytest.raises(NotFound):
        meta.resolve_image("a:1")  # names went with it
    meta.delete_layers(layers)
    assert meta.layers() == []


def test_leases_and_marks(meta: Metadata) -> None:
    base, mid, top = chain(meta, "base", "mid", "top")
    other_base, other_top = chain(meta, "obase", "otop")
    a = image(meta, "a", [base, mid])
    marks = meta.marks()
    assert marks.layers == {base, mid}
    assert {a, d("manifest-a"), d("blob-a")} <= marks.blobs
    # a pull in progress leases what it has so far
    lease = meta.create_lease(expires_in=60)
    meta.add_lease_resource(lease, ResourceKind.BLOB, d("pulling"))
    meta.add_lease_resource(lease, ResourceKind.LAYER, other_top)
    meta.add_lease_resource(lease, ResourceKind.SNAPSHOT, "extract-1")
    meta.add_lease_resource(lease, ResourceKind.INGEST, "pull-ref")
    marks = meta.marks()
    assert marks.layers == {base, mid, other_base, other_top}  # parents of leased ones too
    assert d("pulling") in marks.blobs
    assert marks.snapshots == {"extract-1"} and marks.ingests == {"pull-ref"}
    assert top not in marks.layers
    users = meta.layer_users(mid)
    assert users.images == (a,) and users.children == (top,) and users.count == 2
    # the lease expires (its process died): what it held is no longer marked
    assert meta.expire_leases(now=2e10) == [lease]
    assert meta.marks().layers == {base, mid}
    with pytest.raises(NotFound):
        meta.add_lease_resource(lease, ResourceKind.BLOB, d("x"))
    with pytest.raises(AlreadyExists):
        meta.create_lease("container:abc")
        meta.create_lease("container:abc")


def test_lease_records(meta: Metadata) -> None:
    lease = meta.create_lease("build-1", expires_in=None, labels={"who": "build"})
    meta.add_lease_resource(lease, ResourceKind.BLOB, d("x"))
    assert meta.lease_resources(lease) == [(ResourceKind.BLOB, d("x"))]
    [record] = meta.leases()
    assert record.expires is None and record.labels == {"who": "build"}
    meta.extend_lease(lease, 10)
    assert meta.leases()[0].expires is not None
    meta.remove_lease_resource(lease, ResourceKind.BLOB, d("x"))
    assert meta.lease_resources(lease) == []
    meta.delete_lease(lease)
    assert meta.leases() == []


def _writer(path: str, worker: int) -> None:
    meta = Metadata(path, busy_timeout=0.05)
    parent = None
    for step in range(15):
        chain_id = d(f"chain-{worker}-{step}")
        meta.put_layer(chain_id, d(f"diff-{worker}-{step}"), parent, 1)
        parent = chain_id
        image_id = d(f"config-{worker}-{step}")
        meta.put_image(
            image_id, d("m"), size=1, layers=[chain_id], blobs={image_id: "config"},
            names=[f"img:{worker}-{step}", "shared:latest"],
        )  # fmt: skip
        lease = meta.create_lease()
        meta.add_lease_resource(lease, ResourceKind.BLOB, image_id)
        meta.delete_lease(lease)
    meta.close()


def test_many_processes_write_at_once(tmp_path: Path) -> None:
    path = str(tmp_path / "capsa.db")
    Metadata(path).close()
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_writer, args=(path, i)) for i in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    meta = Metadata(path)
    assert len(meta.images()) == 90
    assert len(meta.layers()) == 90
    names = [name for record in meta.images() for name in record.names]
    assert names.count("shared:latest") == 1
