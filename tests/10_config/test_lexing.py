"""Lexing seen through the model (spec 10 §1.2-1.3): CFG-02, CFG-03, CFG-05, CFG-06, CFG-07,
CFG-09. The token-level rules are unit-tested in dwaar-config/tests/test_lexer.c."""
from dwaartest import named as directive


def test_CFG_02_comments_and_hash_inside_words(dw):
    m = dw.adapt("# a comment line\na.test { # after the brace\n    header X-A a#b # trailing\n}\n")
    (h,) = directive(m, "header")
    assert h["operations"] == [{"op": "set", "name": "X-A", "value": "a#b"}]


def test_CFG_03_quoted_escapes(dw):
    m = dw.adapt('a.test {\n    respond "say \\"hi\\"\\n" 200\n}\nb.test {\n    respond "\\q"\n}\n')
    (r,) = directive(m, "respond")
    assert r["body"] == 'say "hi"\n' and r["status"] == 200
    (r,) = directive(m, "respond", 1)
    assert r["body"] == "\\q"


def test_CFG_03_numbers_compared_on_text(dw):
    m = dw.adapt('a.test {\n    respond "404"\n}\n')
    assert directive(m, "respond")[0]["status"] == 404


def test_CFG_04_unterminated_quote(dw):
    dw.fails('a.test {\n    respond "oops\n}\n', "Dwaarfile:2:13: unterminated quoted string")


def test_CFG_05_backticks_verbatim(dw):
    m = dw.adapt('a.test {\n    respond `{"msg": "a \\"b\\" \\n"}`\n}\n')
    assert directive(m, "respond")[0]["body"] == '{"msg": "a \\"b\\" \\n"}'


def test_CFG_06_line_continuation(dw):
    m = dw.adapt("a.test {\n    reverse_proxy 127.0.0.1:1 \\\n        127.0.0.1:2\n}\n")
    (p,) = directive(m, "reverse_proxy")
    assert [(u["host"], u["port"]) for u in p["upstreams"]] == [("127.0.0.1", 1), ("127.0.0.1", 2)]


def test_CFG_07_env_in_upstreams(dw):
    src = "a.test {\n    reverse_proxy {$UP:127.0.0.1:9}\n}\n"
    (p,) = directive(dw.adapt(src), "reverse_proxy")
    assert (p["upstreams"][0]["host"], p["upstreams"][0]["port"]) == ("127.0.0.1", 9)
    (p,) = directive(dw.adapt(src, env={"UP": "10.0.0.1:7"}), "reverse_proxy")
    assert (p["upstreams"][0]["host"], p["upstreams"][0]["port"]) == ("10.0.0.1", 7)
    # unset {$UP}: an empty token, which is no upstream address
    dw.fails("a.test {\n    reverse_proxy {$UP}\n}\n", "Dwaarfile:2:19:")


def test_CFG_09_placeholders_are_single_tokens(dw):
    m = dw.adapt("a.test {\n    rewrite /api/{path}\n    reverse_proxy {env.H}:8080\n}\n", env={"H": "10.1.1.1"})
    assert directive(m, "rewrite")[0]["to"] == "/api/{path}"
    p = directive(m, "reverse_proxy")[0]["upstreams"][0]
    assert (p["host"], p["port"]) == ("10.1.1.1", 8080)
