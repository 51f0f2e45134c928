"""Command sink: run a program for each alert, as an argv list, never through a shell.

Placeholders ``{person}``, ``{camera}``, ``{time}``, ``{id}``, ``{distance}``,
``{snapshot}`` inside an argument are replaced in one pass, so a name that
itself contains ``{camera}``, quotes, ``;`` or ``$(...)`` reaches the program
as plain text. The same values are in the environment as ``FACECAM_PERSON``,
``FACECAM_CAMERA``, ``FACECAM_TIME``, ``FACECAM_ALERT_ID``,
``FACECAM_DISTANCE``, ``FACECAM_SNAPSHOT``, and the whole alert as JSON in
``FACECAM_ALERT_JSON`` and on standard input.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator

from camera.alerts.base import SinkContext
from camera.configmodel import ConfigModel
from camera.errors import AlertDeliveryError
from camera.types import Alert

log = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\{(person|camera|time|id|distance|snapshot)\}")


def alert_fields(alert: Alert) -> dict[str, str]:
    """The placeholder values of an alert, as strings."""
    d = alert.to_json_dict()
    return {"person": alert.person, "camera": alert.camera, "time": str(d["time"]), "id": alert.id,
            "distance": "" if d["distance"] is None else f"{d['distance']:.4f}",
            "snapshot": alert.snapshot or ""}


#: programs that run their ``-c`` argument as code
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "fish", "busybox", "python", "python3",
                    "perl", "ruby", "node", "env"})


def shell_code_placeholders(argv: list[str]) -> None:
    """Refuse a placeholder inside code a shell or interpreter runs (``sh -c "echo {person}"``): a name such as
    ``Bob'; rm -rf ~; '`` would run as code. Placeholders are fine as arguments of their own after the code
    (``["sh", "-c", 'echo "$1"', "sh", "{person}"]``), where the program reads them as data."""
    if Path(argv[0]).name not in SHELLS:
        return
    for i, arg in enumerate(argv[1:], start=1):
        if arg in ("-c", "-e", "-Command") and i + 1 < len(argv) and _PLACEHOLDER.search(argv[i + 1]):
            raise ValueError(f"argv[{i + 1}] is code for {Path(argv[0]).name} and holds "
                             f"{_PLACEHOLDER.search(argv[i + 1]).group(0)}: a name would run as code; pass it as "
                             f"an argument of its own instead, e.g. [\"{argv[0]}\", \"-c\", 'echo \"$1\"', \"sh\", "
                             "\"{person}\"]")


def expand_argv(argv: list[str], alert: Alert) -> list[str]:
    """``argv`` with placeholders replaced; no other interpretation happens."""
    fields = alert_fields(alert)
    return [_PLACEHOLDER.sub(lambda m: fields[m.group(1)], arg) for arg in argv]


class CommandSink:
    """Runs ``argv`` once per alert with a timeout (seconds); a non-zero exit is a failed delivery."""

    def __init__(self, argv: list[str], timeout_s: float = 10.0, name: str = "command") -> None:
        if not argv or not all(isinstance(a, str) and a for a in argv):
            raise ValueError("command sink: argv must be a non-empty list of non-empty strings")
        self.argv = list(argv)
        self.timeout_s = timeout_s
        self.name = name

    def send(self, alert: Alert) -> None:
        args = expand_argv(self.argv, alert)
        fields = alert_fields(alert)
        payload = json.dumps(alert.to_json_dict(), ensure_ascii=False)
        env = {**os.environ, "FACECAM_PERSON": fields["person"], "FACECAM_CAMERA": fields["camera"],
               "FACECAM_TIME": fields["time"], "FACECAM_ALERT_ID": fields["id"],
               "FACECAM_DISTANCE": fields["distance"], "FACECAM_SNAPSHOT": fields["snapshot"],
               "FACECAM_ALERT_JSON": payload}
        try:
            done = subprocess.run(args, input=payload.encode(), env=env, capture_output=True,
                                  timeout=self.timeout_s, check=False, shell=False)
        except FileNotFoundError as exc:
            raise AlertDeliveryError(f"{self.name}: program {args[0]!r} not found") from exc
        except subprocess.TimeoutExpired as exc:
            raise AlertDeliveryError(f"{self.name}: {args[0]!r} ran past {self.timeout_s:g} s") from exc
        except OSError as exc:
            raise AlertDeliveryError(f"{self.name}: cannot run {args[0]!r}: {exc.strerror or exc}") from exc
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip()[-200:]
            raise AlertDeliveryError(f"{self.name}: {args[0]!r} exited with {done.returncode}: {tail}")

    def close(self) -> None:
        pass


class CommandSinkConfig(ConfigModel):
    """Run a program per alert (argv list; never a shell)."""

    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$",
                             description="sink name for rules (default command, command-2, ...)")
    argv: list[Annotated[str, Field(min_length=1)]] = Field(
        ..., min_length=1, description="program and arguments; {person}, {camera}, {time}, {id}, {distance}, "
                                       "{snapshot} are replaced")
    timeout_s: float = Field(10.0, gt=0, le=600, description="seconds before the program is killed")

    @field_validator("argv")
    @classmethod
    def _no_shell_code(cls, v: list[str]) -> list[str]:
        shell_code_placeholders(v)
        return v

    def sink_name(self, index: int) -> str:
        """``name``, else ``command`` for the first, ``command-2`` for the second, ..."""
        return self.name or ("command" if index == 0 else f"command-{index + 1}")

    def build(self, ctx: SinkContext, index: int) -> CommandSink:
        return CommandSink(self.argv, self.timeout_s, name=self.sink_name(index))
