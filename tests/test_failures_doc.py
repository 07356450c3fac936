"""docs/failures.md stays true: every message fragment it quotes appears in the test it
names, that test exists, and every test about a one-line error is in the table."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROW = re.compile(
    r"^\| (?P<what>.+?) \| (?P<says>.+) \| `(?P<path>tests/[\w/]+\.py)::(?P<test>\w+)` \|$"
)


def _rows():
    text = (ROOT / "docs" / "failures.md").read_text()
    return [m.groupdict() for line in text.splitlines() if (m := ROW.match(line))]


def test_every_quoted_message_is_checked_by_the_test_named_beside_it():
    rows = _rows()
    assert len(rows) >= 35
    for row in rows:
        source = (ROOT / row["path"]).read_text()
        assert re.search(rf"^def {row['test']}\(", source, re.M), f"{row['test']} not found"
        fragments = re.findall(r"`([^`]+)`", row["says"])
        # Only a killed process says nothing; every other row quotes what is printed.
        assert fragments or row["says"].startswith("no message"), f"{row['what']!r}: no quote"
        for fragment in fragments:
            assert fragment in source, f"{fragment!r} is not checked in {row['path']}"


def test_every_test_of_a_one_line_error_is_in_the_table():
    listed = {row["test"] for row in _rows()}
    for path in (ROOT / "tests").rglob("test_*.py"):
        if path.name == Path(__file__).name:
            continue
        for name in re.findall(
            r"^def (test_\w*(?:one_line|clear_error)\w*)\(", path.read_text(), re.M
        ):
            if path.parent.name == "network":
                continue  # network.MLP's own errors, shown through evaluate.py's rows
            assert name in listed, f"{path.name}::{name} is missing from docs/failures.md"
