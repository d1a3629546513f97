"""The image commands' parsing and printing, without a store."""

from __future__ import annotations

import pytest

from capsa import humanize
from capsa.cli import _images as ui
from capsa.cli.main import main
from capsa.errors import InvalidArgument
from capsa.oci.image_config import ContainerConfig
from capsa.transport.store.build import apply_changes


@pytest.mark.parametrize(
    ("size", "shown"),
    [(0, "0B"), (999, "999B"), (1000, "1kB"), (4_261_000, "4.26MB"), (77_800_000, "77.8MB")],
)
def test_sizes_as_docker_prints_them(size: int, shown: str) -> None:
    assert humanize.human_size(size) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.5, "Less than a second"),
        (1, "1 second"),
        (30, "30 seconds"),
        (61, "About a minute"),
        (600, "10 minutes"),
        (3600, "About an hour"),
        (5 * 3600, "5 hours"),
        (3 * 86400, "3 days"),
        (21 * 86400, "3 weeks"),
        (90 * 86400, "3 months"),
        (3 * 365 * 86400, "3 years"),
    ],
)
def test_durations_as_docker_prints_them(seconds: float, shown: str) -> None:
    assert humanize.human_duration(seconds) == shown


def test_since_reads_rfc3339() -> None:
    assert ui.since("2020-01-01T00:00:00Z", now=ui.parse_time("2020-01-01T02:00:00Z")) == (
        "2 hours ago"
    )
    assert ui.since("") == "N/A"


def test_table_pads_like_tabwriter() -> None:
    out = ui.table([["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]])
    assert out == "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n"
    assert ui.table([]) == ""


def test_names_shown_as_docker_shows_them() -> None:
    assert ui.split_name("docker.io/library/busybox:latest") == ("busybox", "latest")
    assert ui.split_name("localhost/busybox:1") == ("localhost/busybox", "1")
    assert ui.familiar("docker.io/user/app:2") == "user/app:2"
    assert ui.short_id("sha256:" + "ab" * 32) == "abababababab"


def test_store_root_from_flag_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ui.ROOT_ENV, "/srv/env-root")
    assert str(ui.store_root(None)) == "/srv/env-root/storage"
    assert str(ui.store_root("/srv/flag")) == "/srv/flag/storage"


def test_parser_raises_instead_of_exiting() -> None:
    parser = ui.Parser("images")
    with pytest.raises(InvalidArgument, match="unrecognized arguments"):
        parser.parse_args(["--bogus"])


def test_bad_arguments_exit_125(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["images", "--bogus"]) == 125
    assert main(["image", "frobnicate"]) == 125
    assert main(["tag", "localhost/x"]) == 125
    err = capsys.readouterr().err
    assert "capsa images: unrecognized arguments: --bogus" in err
    assert "unknown command 'image frobnicate'" in err


def test_bad_reference_is_refused_before_the_store_opens(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["import", "/nonexistent.tar", "Not/Valid:x"]) == 125
    assert "must be lowercase" in capsys.readouterr().err


def test_save_needs_an_output_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["save", "busybox"]) == 125
    assert "give -o FILE" in capsys.readouterr().err


def test_changes_of_import() -> None:
    config = apply_changes(
        ContainerConfig(env=("PATH=/bin",)),
        [
            'CMD ["sh", "-c", "echo hi"]',
            "ENTRYPOINT /init",
            "ENV A=1 PATH=/usr/bin",
            "ENV B two",
            "WORKDIR /srv",
            "USER 1000",
            'LABEL a=b "c=d e"',
            "EXPOSE 80 53/udp",
            "ONBUILD RUN make",
        ],
    )
    assert config.cmd == ("sh", "-c", "echo hi")
    assert config.entrypoint == ("/bin/sh", "-c", "/init")
    assert config.env == ("A=1", "PATH=/usr/bin", "B=two")
    assert config.working_dir == "/srv"
    assert config.user == "1000"
    assert dict(config.labels) == {"a": "b", "c": "d e"}
    assert config.exposed_ports == ("80/tcp", "53/udp")
    assert config.on_build == ("RUN make",)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("RUN make", "RUN cannot be changed this way"),
        ("CMD", "needs an argument"),
        ('CMD ["sh", 1]', "not a JSON list of strings"),
        ("ENV novalue", "is not KEY=VALUE"),
    ],
)
def test_bad_changes(change: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        apply_changes(ContainerConfig(), [change])


@pytest.mark.parametrize(
    ("pattern", "text", "matched"),
    [
        ("busybox", "busybox", True),
        ("busy*", "busybox", True),
        ("*", "localhost/busybox", False),  # `*` stops at `/`, as Go's path.Match
        ("*/*", "localhost/busybox", True),
        ("localhost/busybox:?atest", "localhost/busybox:latest", True),
        ("[a-c]*", "busybox", True),
        ("[^b]*", "busybox", False),
        ("a\\*", "a*", True),
        ("a\\*", "ab", False),
    ],
)
def test_reference_globs_as_go_matches_them(pattern: str, text: str, matched: bool) -> None:
    from capsa.cli.image_list import go_match

    assert go_match(pattern, text) is matched


def test_reference_filter_matches_tag_or_repository() -> None:
    from capsa.cli.image_list import reference_matches

    name = "docker.io/library/busybox:1.36"
    assert reference_matches("busybox", name)
    assert reference_matches("busybox:1.*", name)
    assert not reference_matches("busybox:2*", name)
    assert reference_matches("example.com/*/app", "example.com/team/app:latest")
    with pytest.raises(InvalidArgument, match="unclosed"):
        reference_matches("[abc", name)
