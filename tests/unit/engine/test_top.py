"""`capsa top`'s reading of ps output."""

from __future__ import annotations

import pytest

from capsa.engine.top import parse_ps_output
from capsa.errors import InvalidArgument

PS_EF = """\
UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 Dec01 ?        00:00:03 /sbin/init
root        5717    5713  0 01:14 ?        00:00:00 sleep 700
root        5718    5717  0 01:14 ?        00:00:00 sh -c echo a  b
"""


def test_keeps_the_header_and_the_container_rows() -> None:
    table = parse_ps_output(PS_EF, [5717, 5718])
    assert table.titles == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert [row[1] for row in table.processes] == ["5717", "5718"]
    assert table.processes[1][-1] == "sh -c echo a  b"  # the command keeps its spaces


def test_pid_column_anywhere() -> None:
    table = parse_ps_output("COMMAND PID\nsleep 7\ninit 1\n", [7])
    assert table.processes == [["sleep", "7"]]


def test_no_pid_column_is_an_error() -> None:
    with pytest.raises(InvalidArgument, match="couldn't find PID field"):
        parse_ps_output("COMMAND\nsleep\n", [7])
