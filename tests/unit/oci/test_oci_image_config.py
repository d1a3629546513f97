"""Image configuration: the spec's example, Docker's extensions, one test per refused field."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest

from capsa.errors import InvalidArgument
from capsa.oci.canonical import canonical_bytes, load_json
from capsa.oci.digest import Digest
from capsa.oci.image_config import ContainerConfig, Healthcheck, History, ImageConfig, RootFS
from capsa.oci.platform import Platform

DIFF1 = "sha256:c6f988f4874bb0add23a778f753c65efe992244e148a1d2ec2a8b664fb66bbd1"
DIFF2 = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"


def spec_example() -> dict[str, Any]:
    """The example of the image-spec's config.md."""
    return {
        "created": "2015-10-31T22:22:56.015925234Z",
        "author": "Alyssa P. Hacker <alyspdev@example.com>",
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": "alice",
            "ExposedPorts": {"8080/tcp": {}},
            "Env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "FOO=oci_is_a",
                "BAR=well_written_spec",
            ],
            "Entrypoint": ["/bin/my-app-binary"],
            "Cmd": ["--foreground", "--config", "/etc/my-app.d/default.cfg"],
            "Volumes": {"/var/job-result-data": {}, "/var/log/my-app-logs": {}},
            "WorkingDir": "/home/alice",
            "Labels": {
                "com.example.project.git.url": "https://example.com/project.git",
                "com.example.project.git.commit": "45a939b2999782a3f005621a8d0f29aa387e1d6b",
            },
        },
        "rootfs": {"diff_ids": [DIFF1, DIFF2], "type": "layers"},
        "history": [
            {
                "created": "2015-10-31T22:22:54.690851953Z",
                "created_by": "/bin/sh -c #(nop) ADD file:"
                "a3bc1e842b69636f9df5256c49c5374fb4eef1e281fe3f282c65fb853ee171c5 in /",
            },
            {
                "created": "2015-10-31T22:22:55.613815829Z",
                "created_by": '/bin/sh -c #(nop) CMD ["sh"]',
                "empty_layer": True,
            },
            {
                "created": "2015-10-31T22:22:56.329850019Z",
                "created_by": "/bin/sh -c apk add curl",
            },
        ],
    }


def docker_config() -> dict[str, Any]:
    """What `docker build` writes: Docker's own fields, nulls, Healthcheck, OnBuild, Shell."""
    return {
        "architecture": "arm64",
        "variant": "v8",
        "config": {
            "Hostname": "",
            "Domainname": "",
            "User": "1000:1000",
            "AttachStdin": False,
            "ExposedPorts": {"80/tcp": {}, "53/udp": {}, "9000-9002/tcp": {}, "7": {}},
            "Tty": False,
            "Env": ["PATH=/bin", "EMPTY="],
            "Cmd": None,
            "Healthcheck": {
                "Test": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"],
                "Interval": 30000000000,
                "Timeout": 3000000000,
                "StartPeriod": 5000000000,
                "StartInterval": 1000000000,
                "Retries": 3,
            },
            "ArgsEscaped": True,
            "Image": "sha256:" + "a" * 64,
            "Volumes": None,
            "WorkingDir": "",
            "Entrypoint": [],
            "OnBuild": None,
            "Labels": None,
            "StopSignal": "SIGRTMIN+3",
            "Shell": ["/bin/bash", "-c"],
        },
        "container": "3e4f",
        "container_config": {"Cmd": ["/bin/sh", "-c", "#(nop) "]},
        "created": "2024-02-29T23:59:60+01:00",
        "docker_version": "24.0.7",
        "history": [
            {"created": "2024-02-29T10:00:00Z", "created_by": "x", "comment": "c", "author": "a"}
        ],
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [DIFF1]},
    }


def _refused(call: Callable[[], object], field: str) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as info:
        call()
    assert info.value.message.startswith(f"invalid {field}: "), info.value.message
    return info.value


def test_spec_example() -> None:
    image = ImageConfig.from_json(spec_example())
    assert image.platform == Platform("linux", "amd64")
    assert image.created == "2015-10-31T22:22:56.015925234Z"
    assert image.diff_ids == (Digest.parse(DIFF1), Digest.parse(DIFF2))
    config = image.config
    assert config is not None
    assert config.user == "alice"
    assert config.exposed_ports == ("8080/tcp",)
    assert config.entrypoint == ("/bin/my-app-binary",)
    assert config.cmd == ("--foreground", "--config", "/etc/my-app.d/default.cfg")
    assert config.volumes == ("/var/job-result-data", "/var/log/my-app-logs")
    assert config.labels["com.example.project.git.commit"].startswith("45a9")
    assert [entry.empty_layer for entry in image.history] == [False, True, False]


def test_spec_example_round_trips() -> None:
    document = spec_example()
    assert ImageConfig.from_json(document).to_json() == document


def test_docker_config() -> None:
    image = ImageConfig.from_json(docker_config())
    assert image.platform == Platform("linux", "arm64", "v8")
    config = image.config
    assert config is not None
    assert config.cmd is None  # null: unset
    assert config.entrypoint == ()  # set, to empty: clears the base image's
    assert config.healthcheck == Healthcheck(
        ("CMD-SHELL", "curl -f http://localhost/ || exit 1"),
        interval=30_000_000_000,
        timeout=3_000_000_000,
        start_period=5_000_000_000,
        start_interval=1_000_000_000,
        retries=3,
    )
    assert config.args_escaped
    assert config.shell == ("/bin/bash", "-c")
    assert config.stop_signal == "SIGRTMIN+3"
    assert config.extra["Image"] == "sha256:" + "a" * 64
    assert image.extra["docker_version"] == "24.0.7"
    assert image.history[0] == History("2024-02-29T10:00:00Z", "x", "a", "c")


def test_docker_config_keeps_unknown_fields_and_drops_nulls() -> None:
    document = docker_config()
    again = ImageConfig.from_json(document).to_json()
    for key in ("container", "container_config", "docker_version"):
        assert again[key] == document[key]
    for key in ("Hostname", "Domainname", "AttachStdin", "Tty", "Image"):
        assert again["config"][key] == document["config"][key]
    for key in ("Cmd", "Volumes", "OnBuild", "Labels", "WorkingDir"):
        assert key not in again["config"]
    assert again["config"]["Entrypoint"] == []
    assert again["config"]["Healthcheck"] == document["config"]["Healthcheck"]
    # Everything else is as it was; unknown fields keep even their empty values.
    expected = {
        key: value
        for key, value in document["config"].items()
        if value is not None and key != "WorkingDir"
    }
    assert again["config"] == expected
    assert ImageConfig.from_json(again) == ImageConfig.from_json(document)


def test_minimal_config_and_null_optional_fields() -> None:
    document: dict[str, Any] = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": []},
    }
    image = ImageConfig.from_json(document)
    assert image.config is None and image.history == () and image.created == ""
    assert image.to_json() == document
    nulls = dict(document, created=None, author=None, config=None, history=None, variant=None)
    assert ImageConfig.from_json(nulls) == image


def test_capsa_written_config_is_byte_exact_and_its_digest_is_the_image_id() -> None:
    image = ImageConfig(
        "amd64",
        "linux",
        created="2024-01-01T00:00:00Z",
        config=ContainerConfig(env=("PATH=/bin",), cmd=("sh",), labels={"a": "b"}),
        rootfs=RootFS((Digest.parse(DIFF1),)),
        history=(History(created_by="ADD busybox /"),),
    )
    stored = canonical_bytes(image)
    assert canonical_bytes(ImageConfig.from_json(load_json(stored, "config"))) == stored
    assert stored.startswith(b'{"created":"2024-01-01T00:00:00Z","architecture":"amd64"')


def test_chain_ids() -> None:
    image = ImageConfig.from_json(spec_example())
    second = "sha256:" + hashlib.sha256(f"{DIFF1} {DIFF2}".encode()).hexdigest()
    assert [str(d) for d in image.chain_ids()] == [DIFF1, second]
    assert ImageConfig("amd64", "linux").chain_ids() == []


CONFIG_REFUSALS: list[tuple[Callable[[dict[str, Any]], Any], str]] = [
    (lambda c: c.pop("architecture"), "config.architecture"),
    (lambda c: c.update(architecture=""), "config.architecture"),
    (lambda c: c.update(architecture=None), "config.architecture"),
    (lambda c: c.pop("os"), "config.os"),
    (lambda c: c.update(os=7), "config.os"),
    (lambda c: c.update(variant=8), "config.variant"),
    (lambda c: c.update({"os.version": 10.0}), "config.os.version"),
    (lambda c: c.update({"os.features": "win32k"}), "config.os.features"),
    (lambda c: c.update({"os.features": [None]}), "config.os.features[0]"),
    (lambda c: c.update(created="yesterday"), "config.created"),
    (lambda c: c.update(created="2015-10-31 22:22:56Z"), "config.created"),
    (lambda c: c.update(created="2015-13-31T22:22:56Z"), "config.created"),
    (lambda c: c.update(created="2015-02-30T22:22:56Z"), "config.created"),
    (lambda c: c.update(created="2015-10-31T24:00:00Z"), "config.created"),
    (lambda c: c.update(created="2015-10-31T22:22:61Z"), "config.created"),
    (lambda c: c.update(created="2015-10-31T22:22:56"), "config.created"),
    (lambda c: c.update(created="2015-10-31T22:22:56+25:00"), "config.created"),
    (lambda c: c.update(created=1446330176), "config.created"),
    (lambda c: c.update(author=["a"]), "config.author"),
    (lambda c: c.pop("rootfs"), "config.rootfs"),
    (lambda c: c.update(rootfs=[]), "config.rootfs"),
    (lambda c: c["rootfs"].pop("type"), "config.rootfs.type"),
    (lambda c: c["rootfs"].update(type="layers+base"), "config.rootfs.type"),
    (lambda c: c["rootfs"].pop("diff_ids"), "config.rootfs.diff_ids"),
    (lambda c: c["rootfs"].update(diff_ids=DIFF1), "config.rootfs.diff_ids"),
    (lambda c: c["rootfs"]["diff_ids"].__setitem__(1, "sha256:1"), "config.rootfs.diff_ids[1]"),
    (lambda c: c.update(config=[]), "config.config"),
    (lambda c: c["config"].update(User=0), "config.config.User"),
    (lambda c: c["config"].update(ExposedPorts=["80/tcp"]), "config.config.ExposedPorts"),
    (
        lambda c: c["config"].update(ExposedPorts={"80/tcp": None}),
        "config.config.ExposedPorts.80/tcp",
    ),
    (lambda c: c["config"].update(ExposedPorts={"http": {}}), "config.config.ExposedPorts.http"),
    (lambda c: c["config"].update(ExposedPorts={"70000": {}}), "config.config.ExposedPorts.70000"),
    (
        lambda c: c["config"].update(ExposedPorts={"80/icmp": {}}),
        "config.config.ExposedPorts.80/icmp",
    ),
    (
        lambda c: c["config"].update(ExposedPorts={"90-80/tcp": {}}),
        "config.config.ExposedPorts.90-80/tcp",
    ),
    (lambda c: c["config"].update(ExposedPorts={"": {}}), "config.config.ExposedPorts"),
    (lambda c: c["config"].update(Env="A=b"), "config.config.Env"),
    (lambda c: c["config"].update(Env=["A=b", "NOEQUALS"]), "config.config.Env[1]"),
    (lambda c: c["config"].update(Env=["=value"]), "config.config.Env[0]"),
    (lambda c: c["config"].update(Env=[1]), "config.config.Env[0]"),
    (lambda c: c["config"].update(Entrypoint="/bin/sh"), "config.config.Entrypoint"),
    (lambda c: c["config"].update(Entrypoint=[None]), "config.config.Entrypoint[0]"),
    (lambda c: c["config"].update(Cmd="sh"), "config.config.Cmd"),
    (lambda c: c["config"].update(Cmd=["sh", 1]), "config.config.Cmd[1]"),
    (lambda c: c["config"].update(Volumes=["/data"]), "config.config.Volumes"),
    (lambda c: c["config"].update(Volumes={"/data": "yes"}), "config.config.Volumes./data"),
    (lambda c: c["config"].update(WorkingDir=1), "config.config.WorkingDir"),
    (lambda c: c["config"].update(Labels=["a=b"]), "config.config.Labels"),
    (lambda c: c["config"].update(Labels={"a": 1}), "config.config.Labels.a"),
    (lambda c: c["config"].update(StopSignal=15.0), "config.config.StopSignal"),
    (lambda c: c["config"].update(StopSignal="SIG TERM"), "config.config.StopSignal"),
    (lambda c: c["config"].update(StopSignal=""), "config.config.StopSignal"),
    (lambda c: c["config"].update(ArgsEscaped="true"), "config.config.ArgsEscaped"),
    (lambda c: c["config"].update(Healthcheck=[]), "config.config.Healthcheck"),
    (lambda c: c["config"].update(Healthcheck={"Test": "CMD"}), "config.config.Healthcheck.Test"),
    (
        lambda c: c["config"].update(Healthcheck={"Test": ["RUN", "x"]}),
        "config.config.Healthcheck.Test[0]",
    ),
    (lambda c: c["config"].update(Healthcheck={"Test": ["CMD"]}), "config.config.Healthcheck.Test"),
    (
        lambda c: c["config"].update(Healthcheck={"Test": ["NONE", "x"]}),
        "config.config.Healthcheck.Test",
    ),
    (
        lambda c: c["config"].update(Healthcheck={"Test": ["CMD-SHELL", "a", "b"]}),
        "config.config.Healthcheck.Test",
    ),
    (
        lambda c: c["config"].update(Healthcheck={"Interval": -1}),
        "config.config.Healthcheck.Interval",
    ),
    (
        lambda c: c["config"].update(Healthcheck={"Timeout": "30s"}),
        "config.config.Healthcheck.Timeout",
    ),
    (
        lambda c: c["config"].update(Healthcheck={"StartPeriod": 1.5}),
        "config.config.Healthcheck.StartPeriod",
    ),
    (
        lambda c: c["config"].update(Healthcheck={"StartInterval": True}),
        "config.config.Healthcheck.StartInterval",
    ),
    (
        lambda c: c["config"].update(Healthcheck={"Retries": "3"}),
        "config.config.Healthcheck.Retries",
    ),
    (lambda c: c["config"].update(OnBuild="RUN x"), "config.config.OnBuild"),
    (lambda c: c["config"].update(Shell="/bin/sh -c"), "config.config.Shell"),
    (lambda c: c.update(history={}), "config.history"),
    (lambda c: c["history"].append("step"), "config.history[3]"),
    (lambda c: c["history"][1].update(created="then"), "config.history[1].created"),
    (lambda c: c["history"][0].update(created_by=["sh"]), "config.history[0].created_by"),
    (lambda c: c["history"][0].update(author=1), "config.history[0].author"),
    (lambda c: c["history"][0].update(comment=False), "config.history[0].comment"),
    (lambda c: c["history"][0].update(empty_layer="true"), "config.history[0].empty_layer"),
]


@pytest.mark.parametrize(("mutate", "field"), CONFIG_REFUSALS)
def test_config_refusals(mutate: Callable[[dict[str, Any]], Any], field: str) -> None:
    document = spec_example()
    mutate(document)
    _refused(lambda: ImageConfig.from_json(document), field)


def test_config_must_be_an_object() -> None:
    _refused(lambda: ImageConfig.from_json([]), "config")
    _refused(lambda: ImageConfig.from_json({}, where="image"), "image.architecture")


@pytest.mark.parametrize(
    "created",
    [
        "2015-10-31T22:22:56Z",
        "2015-10-31t22:22:56z",
        "2015-10-31T22:22:56.1+02:00",
        "2016-12-31T23:59:60Z",  # a leap second
        "0001-01-01T00:00:00Z",  # Go's zero time, written by old Docker
    ],
)
def test_rfc3339_timestamps_are_kept_as_written(created: str) -> None:
    document = spec_example()
    document["created"] = created
    assert ImageConfig.from_json(document).to_json()["created"] == created


@pytest.mark.parametrize(
    "ports",
    [
        {"80": {}},
        {"80/tcp": {}},
        {"53/udp": {}},
        {"132/sctp": {}},
        {"8000-8010/tcp": {}},
        {"0": {}},
    ],
)
def test_exposed_ports_forms(ports: dict[str, Any]) -> None:
    document = spec_example()
    document["config"]["ExposedPorts"] = ports
    config = ImageConfig.from_json(document).config
    assert config is not None and config.exposed_ports == tuple(ports)


@pytest.mark.parametrize("signal", ["SIGTERM", "TERM", "sigkill", "9", "SIGRTMIN+3", "SIGRTMAX-1"])
def test_stop_signal_forms(signal: str) -> None:
    document = spec_example()
    document["config"]["StopSignal"] = signal
    config = ImageConfig.from_json(document).config
    assert config is not None and config.stop_signal == signal


@pytest.mark.parametrize(
    "test", [[], ["NONE"], ["CMD", "true"], ["CMD", "a", "b"], ["CMD-SHELL", "x"]]
)
def test_healthcheck_forms(test: list[str]) -> None:
    healthcheck = Healthcheck.from_json({"Test": test}, "h")
    assert healthcheck.test == tuple(test)
    assert healthcheck.to_json() == ({"Test": test} if test else {})
