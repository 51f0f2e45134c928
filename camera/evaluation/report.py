"""Reports as Markdown and self-contained HTML, and every number as JSON.

A :class:`Report` is a list of blocks (headings, paragraphs, bullet lists,
tables, PNG figures) rendered two ways: Markdown with the PNGs written to a
``<stem>_files/`` folder beside it, and one HTML file with the PNGs embedded
as base64 (it opens anywhere, offline). :func:`to_jsonable` turns the result
dataclasses into JSON values: ``inf``/``nan`` become ``null``, paths
strings, arrays lists; fields marked ``metadata={"json": False}`` (bulky
per-photo vectors) are left out.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Figure", "Report", "fmt", "pct", "to_jsonable", "write_json"]


@dataclass(frozen=True)
class Figure:
    """A PNG image and its caption; ``name`` is its file stem in the Markdown folder."""

    name: str
    png: bytes
    caption: str


@dataclass
class Report:
    """An ordered list of blocks; add with the methods, then :meth:`write`."""

    title: str
    blocks: list[tuple[str, object]] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append((f"h{level}", text))

    def para(self, text: str) -> None:
        self.blocks.append(("p", text))

    def bullets(self, items: list[str]) -> None:
        if items:
            self.blocks.append(("ul", list(items)))

    def table(self, headers: list[str], rows: list[list[object]]) -> None:
        self.blocks.append(("table", (list(headers), [[str(c) for c in r] for r in rows])))

    def figure(self, fig: Figure) -> None:
        self.blocks.append(("figure", fig))

    def to_markdown(self, files_dir: str) -> str:
        """Markdown text; figures are referenced as ``files_dir/NAME.png``."""
        out = [f"# {self.title}", ""]
        for kind, body in self.blocks:
            if kind.startswith("h"):
                out += ["#" * int(kind[1:]) + f" {body}", ""]
            elif kind == "p":
                out += [str(body), ""]
            elif kind == "ul":
                out += [f"- {item}" for item in body] + [""]  # type: ignore[union-attr]
            elif kind == "table":
                headers, rows = body  # type: ignore[misc]
                esc = [[c.replace("|", "\\|") for c in r] for r in [headers, *rows]]
                out.append("| " + " | ".join(esc[0]) + " |")
                out.append("|" + "---|" * len(headers))
                out += ["| " + " | ".join(r) + " |" for r in esc[1:]]
                out.append("")
            elif kind == "figure":
                fig: Figure = body  # type: ignore[assignment]
                out += [f"![{fig.caption}]({files_dir}/{fig.name}.png)", "", f"*{fig.caption}*", ""]
        return "\n".join(out)

    def to_html(self) -> str:
        """One self-contained HTML page (CSS inline, PNGs as base64)."""
        e = html.escape
        body = [f"<h1>{e(self.title)}</h1>"]
        for kind, b in self.blocks:
            if kind.startswith("h"):
                body.append(f"<{kind}>{e(str(b))}</{kind}>")
            elif kind == "p":
                body.append(f"<p>{e(str(b))}</p>")
            elif kind == "ul":
                body.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in b) + "</ul>")  # type: ignore[union-attr]
            elif kind == "table":
                headers, rows = b  # type: ignore[misc]
                head = "".join(f"<th>{e(h)}</th>" for h in headers)
                trs = "".join("<tr>" + "".join(_td(c) for c in r) + "</tr>" for r in rows)
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{trs}</tbody></table>")
            elif kind == "figure":
                fig: Figure = b  # type: ignore[assignment]
                data = base64.b64encode(fig.png).decode("ascii")
                body.append(f'<figure><img alt="{e(fig.caption)}" src="data:image/png;base64,{data}">'
                            f"<figcaption>{e(fig.caption)}</figcaption></figure>")
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{e(self.title)}</title><style>{_CSS}</style></head>\n<body>\n"
                + "\n".join(body) + "\n</body></html>\n")

    def write(self, md_path: Path, html_path: Path | None = None) -> tuple[Path, Path]:
        """Write ``md_path`` (+ ``<stem>_files/*.png``) and the HTML (default: same stem, ``.html``)."""
        md_path = Path(md_path)
        html_path = Path(html_path) if html_path else md_path.with_suffix(".html")
        files = md_path.parent / f"{md_path.stem}_files"
        figs = [b for k, b in self.blocks if k == "figure"]
        md_path.parent.mkdir(parents=True, exist_ok=True)
        if figs:
            files.mkdir(exist_ok=True)
            for fig in figs:
                (files / f"{fig.name}.png").write_bytes(fig.png)  # type: ignore[union-attr]
        md_path.write_text(self.to_markdown(files.name), encoding="utf-8")
        html_path.write_text(self.to_html(), encoding="utf-8")
        return md_path, html_path


_CSS = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0;font-size:14px}"
        "th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}td.long{overflow-wrap:anywhere}th{background:#f0f0f0}"
        "figure{margin:1em 0}img{max-width:100%}figcaption{font-style:italic;color:#555}"
        "h1{border-bottom:2px solid #444}h2{border-bottom:1px solid #aaa;margin-top:2em}")


def _td(cell: str) -> str:
    """A table cell; long unbroken text (paths) may wrap anywhere instead of widening the page."""
    long = len(cell) > 40 and " " not in cell
    return f'<td class="long">{html.escape(cell)}</td>' if long else f"<td>{html.escape(cell)}</td>"


def fmt(x: float | None, digits: int = 4) -> str:
    """A number for a table: ``-`` for None/nan, ``inf`` kept."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.{digits}f}"


def pct(x: float | None, digits: int = 1) -> str:
    """A fraction as a percentage string (``0.915`` → ``91.5%``)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{100 * x:.{digits}f}%"


def to_jsonable(obj: object) -> object:
    """JSON-ready copy of results (see the module docstring)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                if f.metadata.get("json", True)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(obj: object, path: Path) -> Path:
    """Write ``to_jsonable(obj)`` to ``path`` (strict JSON, no NaN/Infinity)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_jsonable(obj), indent=1, allow_nan=False), encoding="utf-8")
    return path
