"""Golden files in tests/golden/<ID>-<what>.txt: a Dwaarfile, a line of ten dashes, then
either a JSON value the model must contain (subset match, see dwaartest.subset) or lines
`error: <text>` / `warning: <text>` that stderr must contain (errors: exit status 1).
The test id is the file name, so each carries its checklist ID."""
import json
from pathlib import Path

import pytest

from dwaartest import subset

GOLDEN = sorted((Path(__file__).parent.parent / "golden").glob("*.txt"))


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden(dw, path):
    text = path.read_text()
    src, sep, expected = text.partition("\n----------\n")
    assert sep, f"{path.name}: no '----------' separator line"
    expected = expected.strip()
    r = dw.load(src)
    if expected.startswith(("{", "[")):
        assert r.code == 0, f"config did not load:\n{r.err}"
        subset(json.loads(r.out), json.loads(expected))
        return
    want_error = False
    for line in expected.splitlines():
        kind, _, msg = line.partition(": ")
        assert kind in ("error", "warning"), f"{path.name}: bad expectation line {line!r}"
        want_error |= kind == "error"
        hits = [l for l in r.err.splitlines() if msg in l and (kind == "error") != ("warning:" in l)]
        assert hits, f"expected {kind} {msg!r} in stderr:\n{r.err}"
    assert r.code == (1 if want_error else 0), f"exit {r.code}\n{r.err}"
