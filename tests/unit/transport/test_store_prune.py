"""rmi, image prune and system df on a store: what a name reaches, dangling images,
filters (until, label), images in use kept, the space reclaimed and the usage figures."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from transport_images import layer_tar, multi_platform

from capsa.errors import InvalidArgument
from capsa.oci.image_config import ContainerConfig
from capsa.store import images as ops_images
from capsa.store.errors import InUse
from capsa.store.fsops import RecordingFsOps
from capsa.store.images import (
    PruneFilters,
    images_usage,
    parse_go_duration,
    parse_timestamp,
    prune_images,
    remove_image,
    remove_name,
)
from capsa.store.store import Store
from capsa.transport.copy import copy_image
from capsa.transport.store.build import commit_layer_image
from capsa.transport.store.dest import StoreDestination


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    fake = RecordingFsOps()
    with Store(tmp_path / "storage", driver="vfs", ops=fake, gc_grace=0) as opened:
        yield opened
    fake.close()


def make(
    store: Store,
    name: str | None,
    files: dict[str, bytes],
    *,
    created: str = "2024-01-01T00:00:00Z",
    labels: dict[str, str] | None = None,
) -> str:
    record = commit_layer_image(
        store,
        io.BytesIO(layer_tar(files)),
        config=ContainerConfig(labels=labels or {}),
        created=created,
        created_by="test",
        name=name,
    )
    return record.id


def ids(store: Store) -> set[str]:
    return {r.id for r in store.metadata.images()}


def test_remove_a_name_keeps_an_image_another_name_reaches(store: Store) -> None:
    image = make(store, "docker.io/library/a:1", {"f": b"1"})
    store.metadata.tag("docker.io/library/b:1", image)
    removal = remove_name(store.metadata, "docker.io/library/a:1")
    assert (removal.untagged, removal.deleted) == (["docker.io/library/a:1"], [])
    removal = remove_name(store.metadata, "docker.io/library/b:1")
    assert removal.deleted == [image]
    assert ids(store) == set()


def test_remove_an_image_in_use_is_refused(store: Store) -> None:
    image = make(store, "docker.io/library/a:1", {"f": b"1"})
    with pytest.raises(InUse, match="in use by a container"):
        remove_image(store.metadata, image, in_use={image})
    with pytest.raises(InUse):
        remove_name(store.metadata, "docker.io/library/a:1", in_use={image})
    assert ids(store) == {image}  # the refused removal untagged nothing
    assert store.metadata.get_image(image).names == ("docker.io/library/a:1",)
    assert remove_image(store.metadata, image, in_use={image}, force=True).deleted == [image]


def load_multi(store: Store, name: str) -> set[str]:
    src, _ = multi_platform()
    destination = StoreDestination(store)
    copy_image(src, destination, name=name, available_platforms=True)
    destination.close()
    assert destination.committed_index is not None
    return {m.image_id for m in destination.committed_index.members}


def test_removing_the_name_of_an_index_removes_every_platform(store: Store) -> None:
    members = load_multi(store, "docker.io/library/multi:1")
    assert len(members) == 3
    removal = remove_name(store.metadata, "docker.io/library/multi:1")
    assert set(removal.deleted) == members
    assert store.metadata.indexes() == []
    report = store.gc()
    assert report.blobs and report.layers


def test_a_tag_of_an_index_name_names_the_index(store: Store) -> None:
    members = load_multi(store, "docker.io/library/multi:1")
    index = store.metadata.get_name("docker.io/library/multi:1").index_digest
    default = store.metadata.get_name("docker.io/library/multi:1").image_id
    store.metadata.tag("docker.io/library/copy:1", default, index)
    assert remove_name(store.metadata, "docker.io/library/multi:1").deleted == []
    assert ids(store) == members


def test_prune_dangling_only_by_default(store: Store) -> None:
    named = make(store, "docker.io/library/a:1", {"f": b"1"})
    dangling = make(store, None, {"g": b"2" * 5000})
    members = load_multi(store, "docker.io/library/multi:1")
    report = prune_images(store)
    assert report.deleted == [dangling]
    assert report.untagged == []
    assert report.reclaimed > 5000  # its blobs and its unpacked layer
    assert ids(store) == {named} | members


def test_prune_all_keeps_what_containers_use(store: Store) -> None:
    kept = make(store, "docker.io/library/a:1", {"f": b"1"})
    gone = make(store, "docker.io/library/b:1", {"g": b"2"})
    members = load_multi(store, "docker.io/library/multi:1")
    in_use = {kept, sorted(members)[0]}  # one platform of the index is in use: keep it all
    report = prune_images(store, in_use=in_use, all_images=True)
    assert report.deleted == [gone]
    assert report.untagged == ["docker.io/library/b:1"]
    assert ids(store) == {kept} | members
    report = prune_images(store, all_images=True)
    assert set(report.deleted) == {kept} | members
    assert ids(store) == set()
    assert store.metadata.names() == []
    assert list(store.content.list()) == []


def test_prune_images_a_lease_holds_are_kept(store: Store) -> None:
    image = make(store, None, {"f": b"1"})
    lease = store.lease()
    lease.add_image(image)
    assert prune_images(store).deleted == []
    lease.release()
    assert prune_images(store).deleted == [image]


def test_prune_filters(store: Store) -> None:
    old = make(store, None, {"a": b"1"}, created="2020-01-01T00:00:00Z", labels={"k": "v"})
    new = make(store, None, {"b": b"2"}, created="2030-01-01T00:00:00Z", labels={"k": "w"})
    plain = make(store, None, {"c": b"3"}, created="2020-06-01T00:00:00Z")
    now = 1_800_000_000.0  # 2027
    filters = PruneFilters.parse(["until=2021-01-01T00:00:00Z", "label=k"], now=now)
    assert prune_images(store, filters=filters).deleted == [old]
    filters = PruneFilters.parse(["label!=k"], now=now)
    assert prune_images(store, filters=filters).deleted == [plain]
    filters = PruneFilters.parse(["label=k=v"], now=now)
    assert prune_images(store, filters=filters).deleted == []
    filters = PruneFilters.parse(["until=24h"], now=now)  # created before a day ago
    assert prune_images(store, filters=filters).deleted == []  # 2030 is after
    assert prune_images(store, filters=PruneFilters.parse(["label=k=w"])).deleted == [new]


@pytest.mark.parametrize("bad", ["nope=1", "until", "until=yesterday", "label="])
def test_bad_prune_filters(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        PruneFilters.parse([bad])


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10s", 10),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("300ms", 0.3),
        ("-2m", -120),
        ("2d", None),
        ("", None),
        ("h", None),
    ],
)
def test_go_durations(text: str, seconds: float | None) -> None:
    assert parse_go_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


def test_timestamps() -> None:
    assert parse_timestamp("1700000000") == 1700000000
    assert parse_timestamp("2h", now=10000) == 10000 - 7200
    assert parse_timestamp("2023-11-14T22:13:20Z") == 1700000000
    assert parse_timestamp("2023-11-14T22:13:20.123456789Z") == pytest.approx(1700000000.123456)


def test_usage_counts_shared_layers_once(store: Store) -> None:
    first = make(store, "docker.io/library/a:1", {"f": b"x" * 3000})
    second = make(store, "docker.io/library/b:1", {"g": b"y" * 3000})
    store.metadata.tag("docker.io/library/c:1", first)
    usage = images_usage(store)
    sizes = {layer.chain_id: layer.size for layer in store.metadata.layers()}
    assert (usage.total, usage.active) == (2, 0)
    assert usage.size == sum(sizes.values())
    assert usage.reclaimable == usage.size
    used = images_usage(store, {first: 2})
    assert used.active == 1
    first_size = store.metadata.get_image(first).size
    assert used.reclaimable == usage.size - first_size
    by_id = {u.record.id: u for u in used.images}
    assert by_id[first].containers == 2
    assert by_id[second].unique_size == store.metadata.get_image(second).size
    assert by_id[second].shared_size == 0


def test_dangling_images_are_those_no_name_reaches(store: Store) -> None:
    members = load_multi(store, "docker.io/library/multi:1")
    loose = make(store, None, {"f": b"1"})
    assert [r.id for r in ops_images.dangling_images(store.metadata)] == [loose]
    assert loose not in members


def test_prune_frees_the_blobs_of_what_it_removed_at_once(tmp_path: Path) -> None:
    fake = RecordingFsOps()
    with Store(tmp_path / "graced", driver="vfs", ops=fake) as graced:  # 10 minutes grace
        kept = make(graced, None, {"f": b"1"})
        lease = graced.lease()
        lease.add_image(kept)
        gone = make(graced, None, {"g": b"2"})
        stray = graced.write_blob([b"unreferenced"], lease=graced.lease())
        report = prune_images(graced)
        lease.release()
        assert report.deleted == [gone]
        left = {str(b.digest) for b in graced.content.list()}
        assert not set(graced.metadata.image_blobs(kept)) - left  # kept image whole
        assert str(stray.digest) in left  # young and unknown: the grace period holds it
        assert gone not in left
    fake.close()
