"""capsa pushes to and pulls from Debian's docker-registry: the CLI round trip, chunked
uploads, cross-repository mounts, blobs already there, tags and catalog pagination, the
referrers tag schema, Docker schema 2 images and multi-platform indexes."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

from docker_registry import Registry, get

from capsa.oci import media_types as mt
from capsa.oci.canonical import canonical_bytes
from capsa.oci.descriptor import Descriptor
from capsa.oci.digest import Digest
from capsa.oci.manifest import Manifest
from capsa.oci.reference import parse_reference
from capsa.store.store import Store
from capsa.transport.copy import copy_image
from capsa.transport.registry.client import RegistryClient, catalog
from capsa.transport.registry.connect import RegistryOptions, session_for
from capsa.transport.registry.dest import RegistryDestination
from capsa.transport.registry.paths import RegistryPaths
from capsa.transport.registry.source import RegistrySource
from capsa.transport.store.dest import StoreDestination
from capsa.transport.store.source import StoreSource
from conftest import Capsa, needs_registry

sys.path.insert(0, str(Path(__file__).parents[2] / "unit" / "transport"))
from transport_images import image_source, multi_platform, simple_image

pytestmark = needs_registry


def _options(capsa: Capsa, **kwargs: object) -> RegistryOptions:
    paths = RegistryPaths.from_environ(capsa.env)
    return RegistryOptions(paths, **kwargs)  # type: ignore[arg-type]


def _image_id(capsa: Capsa, name: str, root: Path | None = None) -> str:
    out = capsa.run("image", "inspect", name, root=root).stdout
    return str(json.loads(out)[0]["Id"])


def test_push_then_pull_into_a_fresh_store(capsa: Capsa, registry: Registry) -> None:
    name = f"{registry.host}/capsa/busybox:v1"
    pushed = capsa.run("push", "localhost/busybox:latest", name)
    lines = pushed.stdout.splitlines()
    assert lines[0] == f"The push refers to repository [{registry.host}/capsa/busybox]"
    assert lines[-1].startswith("v1: digest: sha256:")
    assert any(line.endswith(": Pushed") for line in lines)
    again = capsa.run("push", "localhost/busybox:latest", name)
    assert any(line.endswith(": Layer already exists") for line in again.stdout.splitlines())
    fresh = capsa.home / "fresh"
    pulled = capsa.run("pull", name, root=fresh)
    out = pulled.stdout.splitlines()
    assert out[0] == f"v1: Pulling from {registry.host}/capsa/busybox"
    assert any(line.endswith(": Pull complete") for line in out)
    assert out[-2] == f"Status: Downloaded newer image for {name}"
    assert out[-1] == name
    digest = lines[-1].split()[2]
    assert f"Digest: {digest}" in out
    assert _image_id(capsa, name, fresh) == _image_id(capsa, "localhost/busybox:latest")
    up_to_date = capsa.run("pull", name, root=fresh)
    assert f"Status: Image is up to date for {name}" in up_to_date.stdout
    assert ": Already exists" in up_to_date.stdout
    assert capsa.run("pull", "-q", name, root=fresh).stdout == f"{name}\n"
    by_digest = capsa.run("pull", "-q", f"{registry.host}/capsa/busybox@{digest}", root=fresh)
    assert by_digest.stdout.strip().endswith(digest)


def test_chunked_push(capsa: Capsa, registry: Registry) -> None:
    name = f"{registry.host}/capsa/chunked:v1"
    capsa.run("push", "--chunk-size", "65536", "localhost/busybox:latest", name)
    fresh = capsa.home / "fresh"
    capsa.run("pull", "-q", name, root=fresh)
    assert _image_id(capsa, name, fresh) == _image_id(capsa, "localhost/busybox:latest")


def test_cross_repository_mount(capsa: Capsa, registry: Registry) -> None:
    capsa.run("push", "localhost/busybox:latest", f"{registry.host}/team/base:v1")
    capsa.run("tag", "localhost/busybox:latest", f"{registry.host}/team/base:v1")
    # the image's other name in the same registry is where its layers can be mounted from
    pushed = capsa.run("push", "localhost/busybox:latest", f"{registry.host}/team/app:v1")
    assert ": Mounted from team/base" in pushed.stdout
    layer = next(line for line in pushed.stdout.splitlines() if "Mounted from" in line)
    digest_prefix = layer.split(":")[0]
    with Store(capsa.root / "storage") as store:
        source = StoreSource(store, "localhost/busybox:latest")
        data, _ = source.top_manifest()
    manifest = Manifest.from_json(json.loads(data))
    [blob] = [item for item in manifest.layers if item.digest.encoded.startswith(digest_prefix)]
    url = f"http://{registry.host}/v2/team/app/blobs/{blob.digest}"
    assert get(url) == 200


def test_tags_and_catalog_pages(capsa: Capsa, registry: Registry) -> None:
    for tag in ("b", "a", "c", "e", "d"):
        capsa.run("push", "-q", "localhost/busybox:latest", f"{registry.host}/paged/app:{tag}")
    capsa.run("push", "-q", "localhost/busybox:latest", f"{registry.host}/paged/other:x")
    options = _options(capsa)
    session = session_for(registry.host, options)
    client = RegistryClient(session, "paged/app")
    tags = client.tags(page=2)  # docker-registry 2.8 pages are not in order
    assert sorted(tags) == ["a", "b", "c", "d", "e"] and len(tags) == 5
    assert catalog(session, page=1) == ["paged/app", "paged/other"]
    search = capsa.run("search", "--format", "{{.Name}}", f"{registry.host}/paged")
    assert search.stdout.split() == [f"{registry.host}/paged/app", f"{registry.host}/paged/other"]
    all_tags = capsa.run("pull", "-a", f"{registry.host}/paged/app", root=capsa.home / "all")
    assert "Pulling all tags of" in all_tags.stdout
    images = capsa.run("images", "--format", "json", root=capsa.home / "all").stdout
    assert sorted(json.loads(line)["Tag"] for line in images.splitlines()) == list("abcde")
    session.close()


def test_referrers_fall_back_to_the_tag_schema(capsa: Capsa, registry: Registry) -> None:
    """docker-registry 2.8 has no referrers API (404): the client keeps the referrers
    index under the `sha256-<hex>` tag, as the spec says."""
    capsa.run("push", "-q", "localhost/busybox:latest", f"{registry.host}/ref/app:v1")
    options = _options(capsa)
    client = RegistryClient(session_for(registry.host, options), "ref/app")
    subject = client.get_manifest("v1").descriptor
    assert client.referrers(subject.digest) == []
    empty = b"{}"
    config = Descriptor(mt.OCI_EMPTY, Digest.of(empty), len(empty))
    client.upload_blob(config, io.BytesIO(empty))
    artifact = Manifest(
        config,
        (),
        artifact_type="application/vnd.capsa.test",
        subject=subject,
        annotations={"org.example": "yes"},
    )
    data = canonical_bytes(artifact)
    destination = RegistryDestination(parse_reference(f"{registry.host}/ref/app:sig"), options)
    destination.put_manifest(data, mt.OCI_MANIFEST, Digest.of(data))
    destination.commit()
    [entry] = client.referrers(subject.digest)
    assert entry.digest == Digest.of(data)
    assert entry.artifact_type == "application/vnd.capsa.test"
    assert entry.annotations == {"org.example": "yes"}
    assert client.referrers(subject.digest, "application/other") == []
    client.session.close()


def test_docker_schema2_image_round_trip(capsa: Capsa, registry: Registry) -> None:
    image = simple_image(docker=True)
    reference = parse_reference(f"{registry.host}/docker/app:v1")
    options = _options(capsa)
    destination = RegistryDestination(reference, options)
    copy_image(image_source(image), destination)
    destination.close()
    source = RegistrySource(reference, options)
    assert source.manifest.media_type == mt.DOCKER_MANIFEST
    assert source.manifest.data == image.manifest  # stored byte for byte
    source.close()
    fresh = capsa.home / "fresh"
    capsa.run("pull", "-q", str(reference), root=fresh)


def test_index_pushed_whole_and_pulled_per_platform(capsa: Capsa, registry: Registry) -> None:
    source, images = multi_platform()
    reference = parse_reference(f"{registry.host}/multi/app:v1")
    options = _options(capsa)
    destination = RegistryDestination(reference, options)
    top = copy_image(source, destination, all_platforms=True)
    destination.close()
    assert top.media_type == mt.OCI_INDEX
    for platform, image in images.items():
        root = capsa.home / platform.replace("/", "-")
        capsa.run("pull", "-q", "--platform", platform, str(reference), root=root)
        with Store(root / "storage") as store:
            [record] = store.metadata.images()
        assert record.id == str(image.parsed.config.digest)
    into = Store(capsa.home / "lib" / "storage")
    pulled = RegistrySource(reference, options)
    store_dest = StoreDestination(into, str(reference))
    copy_image(pulled, store_dest, jobs=3)
    store_dest.close()
    pulled.close()
    into.close()
