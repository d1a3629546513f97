"""Config-only instructions (ENV, LABEL, WORKDIR, USER, EXPOSE, VOLUME, CMD, ENTRYPOINT,
SHELL, STOPSIGNAL, HEALTHCHECK, ONBUILD) against Docker's Dockerfile reference."""

from __future__ import annotations

from typing import Any

import pytest

from capsa.build.dockerfile import Instruction, parse
from capsa.build.instructions import (
    CONFIG_ONLY,
    DEFAULT_SHELL,
    apply_config,
    command_form,
    duration_ns,
    env_map,
    set_env,
    shell_of,
)
from capsa.errors import InvalidArgument


def instruction(text: str) -> Instruction:
    df = parse("FROM scratch\n" + text + "\n")
    assert len(df.instructions) == 2
    return df.instructions[1]


def apply(
    text: str,
    config: dict[str, Any] | None = None,
    *,
    args: dict[str, str] | None = None,
    cmd_inherited: bool = False,
) -> dict[str, Any]:
    return apply_with_history(text, config, args=args, cmd_inherited=cmd_inherited)[0]


def apply_with_history(
    text: str,
    config: dict[str, Any] | None = None,
    *,
    args: dict[str, str] | None = None,
    cmd_inherited: bool = False,
) -> tuple[dict[str, Any], str]:
    config = config if config is not None else {}
    env = env_map(config)
    scope = {**(args or {}), **env}  # ENV wins over ARG, as Docker has it
    return apply_config(
        instruction(text),
        config,
        scope.get,
        filename="Dockerfile",
        escape="\\",
        cmd_inherited=cmd_inherited,
    )


def run_all(lines: list[str], config: dict[str, Any] | None = None) -> dict[str, Any]:
    config = config if config is not None else {}
    for line in lines:
        config = apply(line, config)
    return config


# -- ENV, LABEL ------------------------------------------------------------------------


def test_env_sets_variables_in_order() -> None:
    config = apply("ENV A=1 B=two", {"Env": ["PATH=/bin"]})
    assert config["Env"] == ["PATH=/bin", "A=1", "B=two"]


def test_env_replaces_an_existing_variable_in_place() -> None:
    config = apply("ENV A=2", {"Env": ["A=1", "B=x"]})
    assert config["Env"] == ["A=2", "B=x"]


def test_env_in_one_instruction_sees_the_old_values() -> None:
    # Docker: ENV abc=bye def=$abc gives def the value abc had before the line
    config = run_all(["ENV abc=hello", "ENV abc=bye def=$abc", "ENV ghi=$abc"])
    assert env_map(config) == {"abc": "bye", "def": "hello", "ghi": "bye"}


def test_env_legacy_form_takes_the_rest_of_the_line() -> None:
    config = apply("ENV MY_NAME John Doe")
    assert env_map(config) == {"MY_NAME": "John Doe"}


def test_env_quotes_and_escapes() -> None:
    config = apply('ENV MY_NAME="John Doe" MY_DOG=Rex\\ The\\ Dog')
    assert env_map(config) == {"MY_NAME": "John Doe", "MY_DOG": "Rex The Dog"}


def test_env_expands_build_args() -> None:
    config = apply("ENV VERSION=v$V", args={"V": "1.2"})
    assert env_map(config) == {"VERSION": "v1.2"}


def test_env_history_text() -> None:
    _, history = apply_with_history("ENV A=1 B=2")
    assert history == "ENV A=1 B=2"


def test_apply_does_not_change_the_config_it_is_given() -> None:
    config: dict[str, Any] = {"Env": ["A=1"], "Labels": {"x": "1"}}
    apply("ENV A=2", config)
    apply("LABEL x=2", config)
    assert config == {"Env": ["A=1"], "Labels": {"x": "1"}}


def test_label_merges_with_inherited_labels() -> None:
    config = apply('LABEL version="1.0" "com.example.vendor"="ACME"', {"Labels": {"a": "b"}})
    assert config["Labels"] == {"a": "b", "version": "1.0", "com.example.vendor": "ACME"}


def test_label_overrides_an_inherited_value() -> None:
    assert apply("LABEL a=new", {"Labels": {"a": "old"}})["Labels"] == {"a": "new"}


def test_label_expands_variables() -> None:
    assert apply("LABEL v=$V", args={"V": "3"})["Labels"] == {"v": "3"}


def test_set_env_and_env_map_round_trip() -> None:
    config: dict[str, Any] = {"Env": ["A=1=2"]}
    assert env_map(config) == {"A": "1=2"}  # only the first = splits
    set_env(config, [("B", "")])
    assert config["Env"] == ["A=1=2", "B="]


# -- WORKDIR, USER -----------------------------------------------------------------------


def test_workdir_is_relative_to_the_previous_one() -> None:
    # Docker: WORKDIR /a, WORKDIR b, WORKDIR c gives /a/b/c
    config = run_all(["WORKDIR /a", "WORKDIR b", "WORKDIR c"])
    assert config["WorkingDir"] == "/a/b/c"


def test_relative_workdir_without_a_previous_one_starts_at_root() -> None:
    assert apply("WORKDIR app")["WorkingDir"] == "/app"


def test_absolute_workdir_replaces_and_is_cleaned() -> None:
    config = apply("WORKDIR /x/./y/../z/", {"WorkingDir": "/old"})
    assert config["WorkingDir"] == "/x/z"


def test_workdir_expands_env_set_before_it() -> None:
    config = run_all(["ENV DIRPATH=/path", "WORKDIR $DIRPATH/sub"])
    assert config["WorkingDir"] == "/path/sub"


def test_workdir_history_shows_the_resulting_path() -> None:
    _, history = apply_with_history("WORKDIR b", {"WorkingDir": "/a"})
    assert history == "WORKDIR /a/b"


def test_user_takes_name_or_ids_with_group() -> None:
    assert apply("USER patrick")["User"] == "patrick"
    assert apply("USER 1000:1000")["User"] == "1000:1000"
    assert apply("USER $U", args={"U": "app"})["User"] == "app"


# -- EXPOSE -------------------------------------------------------------------------------


def test_expose_defaults_to_tcp() -> None:
    assert apply("EXPOSE 80")["ExposedPorts"] == {"80/tcp": {}}


def test_expose_with_protocols_merges_with_inherited_ports() -> None:
    config = apply("EXPOSE 80/tcp 80/udp 53/UDP", {"ExposedPorts": {"22/tcp": {}}})
    assert config["ExposedPorts"] == {"22/tcp": {}, "80/tcp": {}, "80/udp": {}, "53/udp": {}}


def test_expose_a_range_exposes_each_port() -> None:
    # Docker parses EXPOSE with nat.ParsePortSpecs, which gives one port per number
    config = apply("EXPOSE 8000-8002/udp")
    assert config["ExposedPorts"] == {"8000/udp": {}, "8001/udp": {}, "8002/udp": {}}


def test_expose_expands_variables() -> None:
    assert apply("EXPOSE $PORT", args={"PORT": "8080"})["ExposedPorts"] == {"8080/tcp": {}}


@pytest.mark.parametrize("word", ["http", "80/icmp", "70000", "90-80/tcp", "1-x", "-80"])
def test_expose_refuses_what_is_not_a_port(word: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        apply(f"EXPOSE {word}")
    assert info.value.message.startswith("Dockerfile:2: EXPOSE: invalid port")


# -- VOLUME -------------------------------------------------------------------------------


def test_volume_json_and_plain_forms() -> None:
    assert apply('VOLUME ["/data", "/logs"]')["Volumes"] == {"/data": {}, "/logs": {}}
    assert apply("VOLUME /var/log /var/db")["Volumes"] == {"/var/log": {}, "/var/db": {}}


def test_volume_expands_variables_in_both_forms() -> None:
    assert apply('VOLUME ["$D"]', args={"D": "/d"})["Volumes"] == {"/d": {}}
    assert apply("VOLUME $D/x", args={"D": "/d"})["Volumes"] == {"/d/x": {}}


def test_volume_keeps_inherited_volumes() -> None:
    assert apply("VOLUME /b", {"Volumes": {"/a": {}}})["Volumes"] == {"/a": {}, "/b": {}}


def test_volume_needs_a_path() -> None:
    with pytest.raises(InvalidArgument):
        apply('VOLUME [""]')


# -- CMD, ENTRYPOINT, SHELL -------------------------------------------------------------


def test_cmd_exec_form_is_kept_as_is() -> None:
    assert apply('CMD ["echo", "$HOME"]')["Cmd"] == ["echo", "$HOME"]


def test_cmd_shell_form_runs_through_sh_c() -> None:
    assert apply("CMD echo $HOME")["Cmd"] == ["/bin/sh", "-c", "echo $HOME"]


def test_shell_changes_the_shell_of_later_shell_forms() -> None:
    config = run_all(['SHELL ["/bin/bash", "-ec"]', "CMD echo hi", "ENTRYPOINT exec top"])
    assert config["Shell"] == ["/bin/bash", "-ec"]
    assert config["Cmd"] == ["/bin/bash", "-ec", "echo hi"]
    assert config["Entrypoint"] == ["/bin/bash", "-ec", "exec top"]


def test_shell_needs_the_json_form() -> None:
    with pytest.raises(InvalidArgument) as info:
        apply("SHELL /bin/bash -c")
    assert "JSON form" in info.value.message


def test_entrypoint_resets_an_inherited_cmd() -> None:
    # Docker: if CMD is defined from the base image, setting ENTRYPOINT resets CMD
    base = {"Cmd": ["sh"]}
    config = apply('ENTRYPOINT ["top", "-b"]', base, cmd_inherited=True)
    assert config["Entrypoint"] == ["top", "-b"]
    assert config["Cmd"] is None


def test_entrypoint_keeps_a_cmd_set_in_this_stage() -> None:
    config = apply('ENTRYPOINT ["top"]', {"Cmd": ["-b"]}, cmd_inherited=False)
    assert config["Cmd"] == ["-b"]


def test_command_form_and_shell_of() -> None:
    assert shell_of({}) == DEFAULT_SHELL
    assert shell_of({"Shell": ["pwsh", "-c"]}) == ["pwsh", "-c"]
    assert command_form(instruction("RUN ls -l"), {"Shell": ["zsh", "-c"]}) == [
        "zsh",
        "-c",
        "ls -l",
    ]
    assert command_form(instruction('RUN ["ls", "-l"]'), {}) == ["ls", "-l"]


def test_cmd_history_is_the_json_argv() -> None:
    _, history = apply_with_history("CMD echo hi")
    assert history == 'CMD ["/bin/sh", "-c", "echo hi"]'


# -- STOPSIGNAL, HEALTHCHECK, ONBUILD, MAINTAINER -------------------------------------


@pytest.mark.parametrize("signal", ["SIGTERM", "SIGKILL", "9", "SIGRTMIN+3", "term"])
def test_stopsignal_takes_names_and_numbers(signal: str) -> None:
    assert apply(f"STOPSIGNAL {signal}")["StopSignal"] == signal


def test_stopsignal_refuses_junk() -> None:
    with pytest.raises(InvalidArgument):
        apply("STOPSIGNAL SIG_TERM!")


def test_healthcheck_shell_form_is_cmd_shell() -> None:
    config = apply("HEALTHCHECK CMD curl -f http://localhost/ || exit 1")
    assert config["Healthcheck"] == {"Test": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]}


def test_healthcheck_exec_form_is_cmd() -> None:
    config = apply('HEALTHCHECK CMD ["curl", "-f", "http://localhost/"]')
    assert config["Healthcheck"] == {"Test": ["CMD", "curl", "-f", "http://localhost/"]}


def test_healthcheck_durations_are_nanoseconds() -> None:
    config = apply(
        "HEALTHCHECK --interval=5m --timeout=3s --start-period=1m30s --start-interval=500ms "
        "--retries=4 CMD true"
    )
    assert config["Healthcheck"] == {
        "Test": ["CMD-SHELL", "true"],
        "Interval": 300_000_000_000,
        "Timeout": 3_000_000_000,
        "StartPeriod": 90_000_000_000,
        "StartInterval": 500_000_000,
        "Retries": 4,
    }


def test_healthcheck_with_an_empty_duration_keeps_the_default() -> None:
    # the parser accepts --interval= (BuildKit's empty value: the default, 0)
    config = apply("HEALTHCHECK --interval= --timeout=10s CMD true")
    assert "Interval" not in config["Healthcheck"]
    assert config["Healthcheck"]["Timeout"] == 10_000_000_000


def test_healthcheck_type_and_command_may_be_split_by_a_tab() -> None:
    config = apply("HEALTHCHECK CMD\tcurl -f http://localhost/")
    assert config["Healthcheck"] == {"Test": ["CMD-SHELL", "curl -f http://localhost/"]}


def test_healthcheck_none_disables_an_inherited_check() -> None:
    config = apply("HEALTHCHECK NONE", {"Healthcheck": {"Test": ["CMD-SHELL", "true"]}})
    assert config["Healthcheck"] == {"Test": ["NONE"]}


def test_duration_ns() -> None:
    assert duration_ns("1h", "--interval") == 3_600_000_000_000
    assert duration_ns("0", "--interval") == 0
    with pytest.raises(InvalidArgument) as info:
        duration_ns("10", "--interval")
    assert "--interval" in info.value.message


def test_onbuild_records_its_trigger() -> None:
    config = apply("ONBUILD RUN echo hi", {"OnBuild": ["ADD . /app"]})
    assert config["OnBuild"] == ["ADD . /app", "RUN echo hi"]


def test_maintainer_changes_no_config() -> None:
    config, history = apply_with_history("MAINTAINER Jane <jane@example.com>", {"Env": []})
    assert config == {"Env": []}
    assert history == "MAINTAINER Jane <jane@example.com>"


def test_layer_making_instructions_are_refused() -> None:
    assert "RUN" not in CONFIG_ONLY and "COPY" not in CONFIG_ONLY
    with pytest.raises(InvalidArgument) as info:
        apply("RUN true")
    assert "not a configuration instruction" in info.value.message
