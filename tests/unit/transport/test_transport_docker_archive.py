"""docker-archive: the layouts Docker, skopeo and capsa write; several images per file."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from transport_images import BuiltImage, build_image, image_source, layer_tar, simple_image

from capsa.errors import InvalidArgument, NotFound
from capsa.oci import media_types as mt
from capsa.oci.canonical import canonical_bytes
from capsa.oci.descriptor import Descriptor
from capsa.oci.digest import Digest
from capsa.oci.manifest import Index, Manifest, parse_manifest_or_index
from capsa.oci.media_types import Compression
from capsa.transport.copy import copy_image
from capsa.transport.docker_archive.source import DockerArchiveSource
from capsa.transport.open import open_destination, open_source


def write_tar(path: Path, members: dict[str, bytes | tuple[str, str]], prefix: str = "") -> None:
    with tarfile.open(path, "w") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(prefix + name)
            if isinstance(content, tuple):
                info.type = tarfile.SYMTYPE
                info.linkname = content[1]
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))


def read_top(text: str) -> tuple[Manifest, dict[Digest, bytes]]:
    src = open_source(text)
    try:
        data, media_type = src.top_manifest()
        assert media_type == mt.DOCKER_MANIFEST
        manifest = parse_manifest_or_index(data, media_type)
        assert isinstance(manifest, Manifest)
        blobs = {}
        for descriptor in (manifest.config, *manifest.layers):
            stream = src.get_blob(descriptor)
            blobs[descriptor.digest] = stream.read()
            stream.close()
        return manifest, blobs
    finally:
        src.close()


def plain_image() -> BuiltImage:
    return build_image(
        [
            ({"bin/a": b"a" * 3000}, Compression.NONE),
            ({"bin/b": b"b" * 100}, Compression.NONE),
        ],
        docker=True,
    )


def test_reads_the_layout_of_docker_before_25(tmp_path: Path) -> None:
    image = plain_image()
    ids = ["1" * 64, "2" * 64]
    layers = [image.blobs[layer.digest] for layer in image.parsed.layers]
    config_name = f"{image.parsed.config.digest.encoded}.json"
    members: dict[str, bytes | tuple[str, str]] = {
        config_name: image.config,
        f"{ids[0]}/VERSION": b"1.0",
        f"{ids[0]}/json": b'{"id":"' + ids[0].encode() + b'"}',
        f"{ids[0]}/layer.tar": layers[0],
        f"{ids[1]}/VERSION": b"1.0",
        f"{ids[1]}/json": b"{}",
        f"{ids[1]}/layer.tar": layers[1],
        "manifest.json": json.dumps(
            [
                {
                    "Config": config_name,
                    "RepoTags": ["busybox:latest"],
                    "Layers": [f"{i}/layer.tar" for i in ids],
                }
            ]
        ).encode(),
        "repositories": json.dumps({"busybox": {"latest": ids[1]}}).encode(),
    }
    write_tar(tmp_path / "old.tar", members)
    manifest, blobs = read_top(f"docker-archive:{tmp_path / 'old.tar'}:busybox")
    assert [layer.digest for layer in manifest.layers] == image.diff_ids
    assert [layer.media_type for layer in manifest.layers] == [mt.DOCKER_LAYER] * 2
    assert blobs[manifest.config.digest] == image.config
    assert manifest.config.digest == image.parsed.config.digest  # the image ID


def test_reads_the_layout_of_docker_25(tmp_path: Path) -> None:
    # Docker 25+: an OCI layout whose blobs manifest.json also points at.
    image = build_image(
        [({"x": b"x"}, Compression.NONE), ({"y": b"y" * 50}, Compression.GZIP)], docker=False
    )
    members: dict[str, bytes | tuple[str, str]] = {
        f"blobs/sha256/{d.encoded}": data for d, data in image.blobs.items()
    }
    members[f"blobs/sha256/{image.digest.encoded}"] = image.manifest
    index = Index(
        (
            Descriptor(
                mt.OCI_MANIFEST,
                image.digest,
                len(image.manifest),
                annotations={"org.opencontainers.image.ref.name": "1.0"},
            ),
        )
    )
    members["index.json"] = canonical_bytes(index)
    members["oci-layout"] = b'{"imageLayoutVersion":"1.0.0"}'
    members["manifest.json"] = json.dumps(
        [
            {
                "Config": f"blobs/sha256/{image.parsed.config.digest.encoded}",
                "RepoTags": ["example.com/app:1.0"],
                "Layers": [f"blobs/sha256/{layer.digest.encoded}" for layer in image.parsed.layers],
            }
        ]
    ).encode()
    write_tar(tmp_path / "new.tar", members, prefix="./")  # and names with ./
    manifest, _ = read_top(f"docker-archive:{tmp_path / 'new.tar'}:example.com/app:1.0")
    assert [layer.digest for layer in manifest.layers] == [
        layer.digest for layer in image.parsed.layers
    ]
    assert [layer.media_type for layer in manifest.layers] == [
        mt.DOCKER_LAYER,
        mt.DOCKER_LAYER_GZIP,
    ]
    # The same file is an OCI archive too.
    src = open_source(f"oci-archive:{tmp_path / 'new.tar'}:1.0")
    assert src.top_manifest() == (image.manifest, mt.OCI_MANIFEST)
    src.close()


def test_reads_skopeo_layout_with_links(tmp_path: Path) -> None:
    image = plain_image()
    layer = image.blobs[image.parsed.layers[0].digest]
    hexes = [d.encoded for d in image.diff_ids]
    members: dict[str, bytes | tuple[str, str]] = {
        f"{hexes[0]}.tar": layer,
        f"{hexes[1]}.tar": image.blobs[image.parsed.layers[1].digest],
        f"{image.parsed.config.digest.encoded}.json": image.config,
        f"{'9' * 64}/layer.tar": ("symlink", f"../{hexes[0]}.tar"),
        "manifest.json": json.dumps(
            [
                {
                    "Config": f"{image.parsed.config.digest.encoded}.json",
                    "RepoTags": ["docker.io/library/x:y"],
                    "Layers": [f"{'9' * 64}/layer.tar", f"{hexes[1]}.tar"],
                }
            ]
        ).encode(),
    }
    write_tar(tmp_path / "s.tar", members)
    manifest, blobs = read_top(f"docker-archive:{tmp_path / 's.tar'}:x:y")
    assert blobs[manifest.layers[0].digest] == layer


def test_compressed_layer_under_an_opaque_name_is_hashed(tmp_path: Path) -> None:
    raw = layer_tar({"f": b"data"})
    import gzip

    packed = gzip.compress(raw, mtime=0)
    config = canonical_bytes(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [str(Digest.of(raw))]},
        }
    )
    write_tar(
        tmp_path / "g.tar",
        {
            "config.json": config,
            "layer-one/layer.tar": packed,
            "manifest.json": b'[{"Config":"config.json","RepoTags":null,'
            b'"Layers":["layer-one/layer.tar"]}]',
        },
    )
    manifest, blobs = read_top(f"docker-archive:{tmp_path / 'g.tar'}")
    assert manifest.layers[0].digest == Digest.of(packed)
    assert manifest.layers[0].media_type == mt.DOCKER_LAYER_GZIP
    assert blobs[manifest.layers[0].digest] == packed


def write_two_images(path: Path) -> tuple[BuiltImage, BuiltImage]:
    first = simple_image()
    second = build_image(
        [
            # shares the first image's gzip base layer
            ({"etc/hostname": b"capsa\n", "bin/hello": b"#!/bin/sh\necho hi\n"}, Compression.GZIP),
            ({"srv/app": b"app"}, Compression.NONE),
        ]
    )
    dst = open_destination(f"docker-archive:{path}")
    copy_image(image_source(first), dst, name="first:1")
    copy_image(image_source(second), dst, name="quay.io/org/second:2")
    copy_image(image_source(first), dst, name="first:latest")  # a second name, same image
    dst.close()
    return first, second


def test_several_images_in_one_archive(tmp_path: Path) -> None:
    path = tmp_path / "many.tar"
    first, second = write_two_images(path)
    with tarfile.open(path) as tar:
        entries = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        repositories = json.load(tar.extractfile("repositories"))  # type: ignore[arg-type]
        names = tar.getnames()
    assert [e["RepoTags"] for e in entries] == [
        ["docker.io/library/first:1", "docker.io/library/first:latest"],
        ["quay.io/org/second:2"],
    ]
    assert set(repositories) == {"docker.io/library/first", "quay.io/org/second"}
    assert set(repositories["docker.io/library/first"]) == {"1", "latest"}
    shared = f"{first.parsed.layers[0].digest.encoded}.tar"
    assert names.count(shared) == 1  # written once
    assert entries[1]["Layers"][0] == shared

    by_name, _ = read_top(f"docker-archive:{path}:quay.io/org/second:2")
    assert by_name.config.digest == second.parsed.config.digest
    by_index, _ = read_top(f"docker-archive:{path}:@0")
    assert by_index.config.digest == first.parsed.config.digest
    latest, _ = read_top(f"docker-archive:{path}:first")
    assert latest.config.digest == first.parsed.config.digest
    with pytest.raises(InvalidArgument, match="holds 2 images; name one") as info:
        open_source(f"docker-archive:{path}")
    assert "library/first:1, docker.io/library/first:latest, quay.io/org/second:2" in str(
        info.value
    )
    with pytest.raises(NotFound, match=r"no image named docker\.io/library/third:latest"):
        open_source(f"docker-archive:{path}:third")
    with pytest.raises(NotFound, match="no image @5"):
        open_source(f"docker-archive:{path}:@5")


def test_a_tag_moves_to_the_latest_image(tmp_path: Path) -> None:
    first, second = simple_image(), plain_image()
    path = tmp_path / "t.tar"
    dst = open_destination(f"docker-archive:{path}:app:1")
    copy_image(image_source(first), dst)
    copy_image(image_source(second), dst)
    dst.close()
    with tarfile.open(path) as tar:
        entries = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert [e["RepoTags"] for e in entries] == [[], ["docker.io/library/app:1"]]


def test_legacy_layer_directories_link_to_layers(tmp_path: Path) -> None:
    image = simple_image()
    path = tmp_path / "l.tar"
    dst = open_destination(f"docker-archive:{path}:app:1")
    copy_image(image_source(image), dst)
    dst.close()
    with tarfile.open(path) as tar:
        repositories = json.load(tar.extractfile("repositories"))  # type: ignore[arg-type]
        top_id = repositories["docker.io/library/app"]["1"]
        link = tar.getmember(f"{top_id}/layer.tar")
        assert link.issym()
        top_json = json.load(tar.extractfile(f"{top_id}/json"))  # type: ignore[arg-type]
        assert top_json["config"]["Cmd"] == ["/bin/sh"]
        assert tar.extractfile(f"{top_id}/VERSION").read() == b"1.0"  # type: ignore[union-attr]
        parent = top_json["parent"]
        assert tar.getmember(f"{parent}/layer.tar").issym()


def test_not_a_docker_archive(tmp_path: Path) -> None:
    write_tar(tmp_path / "x.tar", {"hello": b"hi"})
    with pytest.raises(InvalidArgument, match="not a docker-archive"):
        open_source(f"docker-archive:{tmp_path / 'x.tar'}")
    (tmp_path / "junk").write_bytes(b"not a tar at all" * 100)
    with pytest.raises(InvalidArgument, match="is not a tar archive"):
        open_source(f"docker-archive:{tmp_path / 'junk'}")
    with pytest.raises(NotFound, match="no such file"):
        open_source(f"docker-archive:{tmp_path / 'missing.tar'}")


def test_destination_refuses_an_index_reference(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="@N chooses an image to read"):
        open_destination(f"docker-archive:{tmp_path / 'x.tar'}:@0")


def test_closing_without_an_image_writes_nothing(tmp_path: Path) -> None:
    dst = open_destination(f"docker-archive:{tmp_path / 'x.tar'}:a:b")
    dst.close()
    assert list(tmp_path.iterdir()) == []


def test_source_reports_repo_tags(tmp_path: Path) -> None:
    path = tmp_path / "many.tar"
    write_two_images(path)
    src = open_source(f"docker-archive:{path}:@1")
    assert isinstance(src, DockerArchiveSource)
    assert src.repo_tags == ("quay.io/org/second:2",)
    src.close()
