"""Every table in docs/ says where its numbers come from, and the cheap commands reproduce their tables.

The convention: the nearest non-blank line above a Markdown table is a marker comment (several may be stacked, one per
command), separated from the table by a blank line:

- ``<!-- made by: COMMAND -->``: running COMMAND from the project root prints the table's numbers; COMMAND must also
  be written, visibly (inline code or a code block), above the table in the same file;
- ``<!-- not measured: WHAT -->``: a table of documentation (options, definitions), no numbers measured;
- ``<!-- not reproducible: WHY -->``: measured with something not shipped (an earlier version, an unshipped
  checkpoint); WHY says what.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MARKER = re.compile(r"^<!-- (made by|not measured|not reproducible): (.+?) -->$")


def tables(path: Path) -> list[tuple[int, list[tuple[str, str]]]]:
    """``[(line number of the header, [(kind, text) of its markers])]`` for every table of a Markdown file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found, in_code = [], False
    for i, line in enumerate(lines):
        in_code ^= line.startswith("```")
        if in_code or not line.startswith("|") or (i and lines[i - 1].startswith("|")):
            continue
        j = i - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        markers = []
        while j >= 0 and MARKER.match(lines[j]):
            markers.insert(0, MARKER.match(lines[j]).groups())
            j -= 1
        found.append((i + 1, markers))
    return found


def visible_text_above(path: Path, line: int) -> str:
    text = "\n".join(path.read_text(encoding="utf-8").splitlines()[: line - 1])
    return re.sub(r"<!--.*?-->", "", text, flags=re.S)


DOC_FILES = sorted(DOCS.glob("*.md"))


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: p.name)
def test_every_table_says_where_its_numbers_come_from(path):
    for line, markers in tables(path):
        assert markers, f"{path.name}:{line}: a table without a marker (<!-- made by: COMMAND --> or see this module)"
        for kind, text in markers:
            if kind == "made by":
                assert text in visible_text_above(path, line), f"{path.name}:{line}: `{text}` is not written above"


def test_the_marker_check_finds_a_table_without_a_command(tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text("# x\n\n`python b.py`\n\n<!-- made by: python b.py -->\n\n| a |\n|---|\n| 1 |\n\n| b |\n|---|\n")
    assert tables(doc) == [(7, [("made by", "python b.py")]), (11, [])]
    assert "python b.py" in visible_text_above(doc, 7)
    doc.write_text("<!-- made by: python b.py -->\n\n| a |\n|---|\n")
    assert "python b.py" not in visible_text_above(doc, 3)  # only in the comment: not shown to a reader


def _rows(text: str) -> dict[str, list[str]]:
    """``{first cell: other cells}`` of the first Markdown table in ``text`` (header and rule skipped)."""
    block = re.search(r"^\|.*(?:\n\|.*)*", text, re.M)
    assert block, "no table"
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in block.group(0).splitlines()]
    return {r[0]: r[1:] for r in rows[2:]}


def test_bf16_precision_table_is_reproduced_by_its_command_on_a_subset(data_dir):
    """docs/performance.md: normfuse-roadscene passes the bf16 rule; 2 of the 40 TNO pairs, in this CPU's bf16.

    The doc's TNO column: max abs difference 1, no pixel more than 1 level off, metrics within 0.044 %. A subset
    cannot be worse in the first two; metric changes on 2 pairs are noisier (0.062 % measured on an AMX CPU), so
    they are held to the rule (0.5 %). The bare command (the default model, not bf16-tolerant) fails this on the
    same 2 pairs: max 3 levels, 0.512 % of pixels more than 1 level off (measured on this AMX CPU).
    """
    command = "python benchmarks/bench_precision.py --model normfuse-roadscene"
    doc = (DOCS / "performance.md").read_text(encoding="utf-8")
    documented = _rows(doc.split(f"<!-- made by: {command} -->", 1)[1])
    res = subprocess.run([*command.replace("python", sys.executable, 1).split(), "--every", "20", "--data",
                          str(data_dir)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "model normfuse-roadscene" in res.stdout
    got = _rows(res.stdout)
    assert set(got) == set(documented)  # the same criteria
    assert documented["max abs difference (grey levels)"][0] == "1"
    assert int(got["max abs difference (grey levels)"][0]) <= 1
    assert got["pixels differing by more than 1 level"][0] == "0.000 %"
    assert float(got["largest metric change"][0].rstrip(" %")) <= 0.5
