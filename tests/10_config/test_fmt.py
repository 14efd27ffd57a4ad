"""`dwaar fmt` (spec 10 §9.2, §9.4, decision 19): CLI-04, CLI-05."""
import json
import re
from pathlib import Path

import pytest

NOT_FORMATTED = "Dwaarfile is not formatted. Run 'dwaar fmt' to fix.\n"

MESSY = (
    "# the global options\n"
    "{\n"
    "\thttp_port   8080 # plain HTTP\n"
    "}\n"
    "(common) {\n"
    "  header X-Frame-Options DENY\n"
    "}\n"
    "a.test:8001,   b.test:8001 {\n"
    "  import common\n"
    "\n"
    "\n"
    "\n"
    "      # the API\n"
    "  handle /api/* { reverse_proxy 127.0.0.1:9001 \\\n"
    "       127.0.0.1:9002 }\n"
    "  respond   \"hello \\\"world\\\"\"   200\n"
    "}\n"
    "c.test:8001 {\n"
    "respond `{\"ok\": true}` 200 # JSON\n"
    "}"
)

CANONICAL = (
    "# the global options\n"
    "{\n"
    "    http_port 8080 # plain HTTP\n"
    "}\n"
    "\n"
    "(common) {\n"
    "    header X-Frame-Options DENY\n"
    "}\n"
    "\n"
    "a.test:8001, b.test:8001 {\n"
    "    import common\n"
    "\n"
    "    # the API\n"
    "    handle /api/* {\n"
    "        reverse_proxy 127.0.0.1:9001 127.0.0.1:9002\n"
    "    }\n"
    "    respond \"hello \\\"world\\\"\" 200\n"
    "}\n"
    "\n"
    "c.test:8001 {\n"
    "    respond `{\"ok\": true}` 200 # JSON\n"
    "}\n"
)

GOLDEN = sorted((Path(__file__).parent.parent / "golden").glob("*.txt"))


def without_positions(value, name):
    """The model with every "<name>:<line>:<col>" position string blanked."""
    pos = re.compile(re.escape(name) + r":\d+:\d+")
    if isinstance(value, dict):
        return {k: without_positions(v, name) for k, v in value.items()}
    if isinstance(value, list):
        return [without_positions(v, name) for v in value]
    if isinstance(value, str) and pos.fullmatch(value):
        return "<pos>"
    return value


def test_CLI_04_fmt_check_unformatted_exits_1_and_leaves_file(dw):
    p = dw.write("Dwaarfile", MESSY)
    before = p.read_bytes()
    r = dw.run("fmt", "--check")
    assert r.code == 1
    assert r.err == NOT_FORMATTED
    assert r.out == ""
    assert p.read_bytes() == before
    # also with the path given either way
    for args in (["fmt", "--check", "Dwaarfile"], ["fmt", "-c", "Dwaarfile", "--check"]):
        r = dw.run(*args)
        assert (r.code, r.err) == (1, NOT_FORMATTED)
    assert p.read_bytes() == before


def test_CLI_04_fmt_check_formatted_exits_0(dw):
    dw.write("Dwaarfile", CANONICAL)
    r = dw.run("fmt", "--check")
    assert (r.code, r.out, r.err) == (0, "", "")
    # one byte off (a missing final newline, a trailing space) is not canonical
    dw.write("Dwaarfile", CANONICAL[:-1])
    assert dw.run("fmt", "--check").code == 1
    dw.write("Dwaarfile", CANONICAL.replace("DENY\n", "DENY \n"))
    assert dw.run("fmt", "--check").code == 1


def test_CLI_05_fmt_reindents_keeps_comments_idempotent(dw):
    dw.write("Dwaarfile", MESSY)
    r = dw.run("fmt")
    assert r.code == 0, r.err
    assert r.err == ""
    assert r.out == CANONICAL
    for comment in ("# the global options", "# plain HTTP", "# the API", "# JSON"):
        assert comment in r.out
    indents = {len(l) - len(l.lstrip(" ")) for l in r.out.splitlines() if l.strip()}
    assert indents <= {0, 4, 8}
    assert "\t" not in r.out
    # idempotent: formatting the output again changes nothing, and --check accepts it
    dw.write("Dwaarfile", r.out)
    again = dw.run("fmt")
    assert (again.code, again.out) == (0, r.out)
    assert dw.run("fmt", "--check").code == 0


def test_fmt_overwrite_rewrites_file(dw):
    p = dw.write("Dwaarfile", MESSY)
    r = dw.run("fmt", "--overwrite")
    assert r.code == 0, r.err
    # sites only: the global block and the snippet are not domain blocks
    assert r.out == "Formatted 2 domain blocks.\n"
    assert p.read_text() == CANONICAL
    assert dw.run("fmt", "--check").code == 0
    # already canonical: rewritten to the same bytes
    r = dw.run("fmt", "--overwrite", "-c", "Dwaarfile")
    assert r.code == 0 and r.out == "Formatted 2 domain blocks.\n"
    assert p.read_text() == CANONICAL
    assert not [f for f in dw.root.iterdir() if f.name != "Dwaarfile"], "temporary file left"


def test_fmt_overwrite_counts_every_site_block(dw):
    p = dw.write("sites.conf", "a.test {\n}\nb.test, c.test {\n}\nlayer4 {\n}\nd.test{respond 1}")
    r = dw.run("fmt", "sites.conf", "--overwrite")
    assert r.code == 0, r.err
    assert r.out == "Formatted 3 domain blocks.\n"
    assert p.read_text() == (
        "a.test {\n}\n\nb.test, c.test {\n}\n\nlayer4 {\n}\n\nd.test {\n    respond 1\n}\n")


@pytest.mark.parametrize("text,where", [
    ("a.test {\n    respond \"unterminated\n}\n", "Dwaarfile:2:13: unterminated quoted string"),
    ("a.test {\n    handle {\n        respond 1\n}\n",
     "Dwaarfile:1:8: unexpected end of file, expected '}' to close 'a.test' block"),
    ("a.test {\n}\n}\n", "Dwaarfile:3:1: unexpected '}'"),
], ids=["unterminated-quote", "unclosed-brace", "extra-brace"])
def test_fmt_unparsable_input_exits_1_file_untouched(dw, text, where):
    p = dw.write("Dwaarfile", text)
    for args in (["fmt"], ["fmt", "--check"], ["fmt", "--overwrite"]):
        r = dw.run(*args)
        assert r.code == 1, args
        assert r.out == ""
        assert where in r.err, r.err
        assert p.read_text() == text
    assert sorted(f.name for f in dw.root.iterdir()) == ["Dwaarfile"]


def test_fmt_file_and_dash_c_are_equivalent(dw):
    dw.write("conf/site.dwaar", MESSY)
    a = dw.run("fmt", "conf/site.dwaar")
    b = dw.run("fmt", "-c", "conf/site.dwaar")
    c = dw.run("fmt", "--config", "conf/site.dwaar")
    d = dw.run("-c", "conf/site.dwaar", "fmt")
    assert a.code == b.code == c.code == d.code == 0
    assert a.out == b.out == c.out == d.out == CANONICAL
    # and the default lookup (./Dwaarfile) gives the same
    dw.write("Dwaarfile", MESSY)
    assert dw.run("fmt").out == CANONICAL


def test_fmt_does_not_expand_imports_or_env(dw):
    text = ("{$SITE:a.test}:8001 {\n    import snippets/*.conf\n"
            "    reverse_proxy {env.UPSTREAM} {args[0]}\n}\n")
    dw.write("Dwaarfile", text)
    r = dw.run("fmt", env={"SITE": "x.test", "UPSTREAM": "127.0.0.1:1"})
    assert (r.code, r.out) == (0, text)


def test_fmt_crlf_bom_and_empty_input(dw):
    dw.write("Dwaarfile", b"\xef\xbb\xbfa.test {\r\n\trespond 1\r\n}\r\n")
    r = dw.run("fmt")
    assert (r.code, r.out) == (0, "a.test {\n    respond 1\n}\n")
    dw.write("Dwaarfile", "")
    r = dw.run("fmt")
    assert (r.code, r.out) == (0, "")
    assert dw.run("fmt", "--check").code == 0


def test_fmt_output_loads_to_same_model(dw):
    before = dw.adapt(MESSY)
    dw.write("Dwaarfile", MESSY)
    out = dw.run("fmt").out
    after = dw.adapt(out)
    assert without_positions(after, "Dwaarfile") == without_positions(before, "Dwaarfile")


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_fmt_golden_revalidates_to_same_model(dw, path):
    src, sep, _ = path.read_text().partition("\n----------\n")
    assert sep, f"{path.name}: no '----------' separator line"
    r = dw.load(src)
    if r.code != 0:
        pytest.skip("does not load (an error golden file)")
    before = json.loads(r.out)
    dw.write("Dwaarfile", src)
    f = dw.run("fmt")
    assert f.code == 0, f.err
    dw.write("Dwaarfile", f.out)
    assert dw.run("validate").code == 0
    after = dw.adapt(f.out)
    assert without_positions(after, "Dwaarfile") == without_positions(before, "Dwaarfile")
    # and the formatted text is a fixed point
    assert dw.run("fmt", "--check").code == 0
