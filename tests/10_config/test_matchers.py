"""Named matchers (spec 10 §1.5, §5; decisions 21, 23, 37): MT-01..MT-16, checked on the
loaded model (every condition parsed into its typed form) and on load errors and warnings.

In S(body) the body's first line is line 2 of the Dwaarfile, indented to column 5."""

from dwaartest import S, dirs, site

def conds(model, name, i=0):
    return site(model, i)["block"]["matchers"][name]


def matcher(dw, line):
    """The conditions of `@m <line>` (inline form)."""
    return conds(dw.adapt(S(f"@m {line}\nrespond @m 200")), "@m")


def test_MT_01_block_conditions_anded(dw):
    m = dw.adapt(S("""
        @api {
            path /api/*
            method GET POST
        }
        reverse_proxy @api a:1
    """))
    assert conds(m, "@api") == [
        {"condition": "path", "paths": ["/api/*"]},
        {"condition": "method", "methods": ["GET", "POST"]},
    ]
    assert dirs(m)[0]["matcher"] == "@api"
    # methods are upper-cased
    assert matcher(dw, "method get Delete") == [{"condition": "method", "methods": ["GET", "DELETE"]}]
    dw.fails(S("@m method"), "Dwaarfile:2:8: matcher condition 'method' needs at least one method")


def test_MT_02_path_any_of(dw):
    assert matcher(dw, "path /health /status") == [{"condition": "path", "paths": ["/health", "/status"]}]
    dw.fails(S("@m path"), "Dwaarfile:2:8: matcher condition 'path' needs at least one path pattern")
    dw.fails(S("@m path /x {\n    y\n}"), "matcher condition 'path' does not take a block")


def test_MT_03_inline_equals_block(dw):
    a = conds(dw.adapt(S("@m path /a/*")), "@m")
    b = conds(dw.adapt(S("@m {\n    path /a/*\n}")), "@m")
    assert a == b == [{"condition": "path", "paths": ["/a/*"]}]


def test_MT_04_path_regexp(dw):
    m = dw.adapt(S(r"""
        @php path_regexp legacy \.php$
        @other path_regexp ^/(a|b)/
        header @php X-Ext {re.legacy.0}
        header @other X-Seg {http.regexp.other.1}
    """))
    assert conds(m, "@php") == [{"condition": "path_regexp", "name": "legacy", "regexp": r"\.php$"}]
    # the capture name defaults to the matcher's name
    assert conds(m, "@other") == [{"condition": "path_regexp", "name": "other", "regexp": "^/(a|b)/"}]
    dw.fails(S("@m path_regexp x ("), "Dwaarfile:2:22: invalid regular expression '('")
    dw.fails(S("@m path_regexp"), "matcher condition 'path_regexp' needs")
    dw.fails(S("@m path_regexp a b c"), "unexpected argument 'c' to matcher condition 'path_regexp'")


def test_MT_05_host(dw):
    assert matcher(dw, "host api.example.com *.dev.example.com API.Other.COM") == [
        {"condition": "host", "hosts": ["api.example.com", "*.dev.example.com", "api.other.com"]}]
    dw.fails(S("@m host"), "matcher condition 'host' needs at least one host name")


def test_MT_06_header(dw):
    m = dw.adapt(S("""
        @a header X-Internal
        @b header X-Role admin
        @c header X-Role adm*
        @d header X-Role *min
        @e header Connection *Upgrade*
        @f header X-Any *
        @g header X-Role admin root
    """))
    v = {n: conds(m, n)[0] for n in ("@a", "@b", "@c", "@d", "@e", "@f", "@g")}
    assert v["@a"] == {"condition": "header", "field": "X-Internal", "values": []}
    assert v["@b"]["values"] == [{"match": "exact", "value": "admin"}]
    assert v["@c"]["values"] == [{"match": "prefix", "value": "adm"}]
    assert v["@d"]["values"] == [{"match": "suffix", "value": "min"}]
    # decision 21
    assert v["@e"]["values"] == [{"match": "substring", "value": "Upgrade"}]
    assert v["@f"]["values"] == [{"match": "present", "value": ""}]
    assert v["@g"]["values"] == [{"match": "exact", "value": "admin"}, {"match": "exact", "value": "root"}]
    dw.fails(S("@m header"), "matcher condition 'header' needs a header name")


def test_MT_07_header_regexp(dw):
    m = dw.adapt(S(r"""
        @bearer header_regexp Authorization ^Bearer\s
        @named header_regexp tok Authorization ^Bearer\s(.+)$
    """))
    assert conds(m, "@bearer") == [
        {"condition": "header_regexp", "name": "bearer", "field": "Authorization", "regexp": r"^Bearer\s"}]
    assert conds(m, "@named")[0]["name"] == "tok"
    dw.fails(S("@m header_regexp Authorization [x"), "Dwaarfile:2:36: invalid regular expression '[x'")
    dw.fails(S("@m header_regexp Authorization"), "matcher condition 'header_regexp' needs")


def test_MT_08_query(dw):
    assert matcher(dw, "query version=2 format=json") == [{"condition": "query", "pairs": [
        {"key": "version", "value": "2"}, {"key": "format", "value": "json"}]}]
    # decision 37: k=* and bare k need only the key
    assert matcher(dw, "query debug=* flag empty=") == [{"condition": "query", "pairs": [
        {"key": "debug", "any": True}, {"key": "flag", "any": True}, {"key": "empty", "value": ""}]}]
    dw.fails(S("@m query =x"), "Dwaarfile:2:14: invalid value for 'query': '=x' has no key")
    dw.fails(S("@m query"), "matcher condition 'query' needs")


def test_MT_09_protocol(dw):
    for p in ("http", "https", "grpc", "http/1.1", "http/2", "http/3"):
        assert matcher(dw, f"protocol {p}") == [{"condition": "protocol", "protocol": p}]
    # decision 17
    dw.fails(S("@m protocol ftp"), "Dwaarfile:2:17: invalid value for 'protocol': 'ftp' "
             "(expected one of: http, https, grpc, http/1.1, http/2, http/3)")
    dw.fails(S("@m protocol http https"), "unexpected argument 'https' to matcher condition 'protocol'")


def test_MT_10_remote_ip(dw):
    assert matcher(dw, "remote_ip 127.0.0.0/8 10.1.2.3 ::1 2001:db8::/32 192.168.1.77/24") == [
        {"condition": "remote_ip",
         "ranges": ["127.0.0.0/8", "10.1.2.3/32", "::1/128", "2001:db8::/32", "192.168.1.0/24"]}]
    assert matcher(dw, "remote_ip private_ranges")[0]["ranges"] == [
        "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "fc00::/7", "::1/128"]
    dw.fails(S("@m remote_ip 300.1.1.1/8"),
             "Dwaarfile:2:18: invalid value for 'remote_ip': '300.1.1.1/8' is not a valid IP address or CIDR range")
    dw.fails(S("@m remote_ip 10.0.0.0/33"), "'10.0.0.0/33' is not a valid IP address or CIDR range")
    dw.fails(S("@m remote_ip"), "matcher condition 'remote_ip' needs")


def test_MT_11_client_ip(dw):
    m = dw.adapt(S("""
        @c client_ip 192.168.0.0/16 private_ranges
        respond @c 200
    """))
    c = conds(m, "@c")[0]
    assert c["condition"] == "client_ip" and c["ranges"][0] == "192.168.0.0/16" and len(c["ranges"]) == 7
    dw.fails(S("@m client_ip nope"), "invalid value for 'client_ip': 'nope'")


def test_MT_12_not(dw):
    m = dw.adapt(S("""
        @private {
            not {
                path /public/*
            }
            method GET
        }
        @inline not path /public/*
        @nested not not host a.test
        respond @private 200
    """))
    assert conds(m, "@private") == [
        {"condition": "not", "conditions": [{"condition": "path", "paths": ["/public/*"]}]},
        {"condition": "method", "methods": ["GET"]},
    ]
    assert conds(m, "@inline") == [{"condition": "not", "conditions": [{"condition": "path", "paths": ["/public/*"]}]}]
    assert conds(m, "@nested")[0]["conditions"][0]["conditions"] == [{"condition": "host", "hosts": ["a.test"]}]
    # a block holds several conditions, ANDed inside the negation
    m = dw.adapt(S("@m {\n    not {\n        path /a\n        method POST\n    }\n}"))
    assert [c["condition"] for c in conds(m, "@m")[0]["conditions"]] == ["path", "method"]
    dw.fails(S("@m not"), "Dwaarfile:2:8: matcher condition 'not' needs a condition or a block")
    dw.fails(S("@m not path"), "matcher condition 'path' needs")
    # nesting is bounded
    dw.fails(S("@m " + "not " * 20 + "path /x"), "'not' conditions nested too deeply")


def test_MT_13_expression(dw):
    c = matcher(dw, "expression {http.error.status_code} >= 500")[0]
    assert c == {"condition": "expression", "expression": "{http.error.status_code} >= 500", "ast": {
        "op": ">=", "args": [{"placeholder": "http.error.status_code"}, {"int": 500}]}}
    c = matcher(dw, "expression {method} == 'GET' && {path} != '/x'")[0]
    assert c["ast"] == {"op": "&&", "args": [
        {"op": "==", "args": [{"placeholder": "method"}, {"string": "GET"}]},
        {"op": "!=", "args": [{"placeholder": "path"}, {"string": "/x"}]}]}
    # one quoted argument holds the whole expression; parentheses, ||, !, < <= >
    c = matcher(dw, "expression \"!({query.n} < 3 || {query.n} > 10) && {query.n} <= -1\"")[0]
    assert c["ast"] == {"op": "&&", "args": [
        {"op": "!", "args": [{"op": "||", "args": [
            {"op": "<", "args": [{"placeholder": "query.n"}, {"int": 3}]},
            {"op": ">", "args": [{"placeholder": "query.n"}, {"int": 10}]}]}]},
        {"op": "<=", "args": [{"placeholder": "query.n"}, {"int": -1}]}]}
    # a quoted word among several is a string operand; single quotes may hold spaces
    c = matcher(dw, "expression {header.X} == \"a b\" || {header.X} == 'c d'")[0]
    assert c["ast"]["args"][0]["args"][1] == {"string": "a b"}
    assert c["ast"]["args"][1]["args"][1] == {"string": "c d"}
    err = dw.fails(S("@m expression foo("), "Dwaarfile:2:19: unsupported expression")
    assert "'foo('" in err
    for bad in ("{method}", "{method} ==", "{method} = 'GET'", "1 == 1 == 1", "({method} == 'a'",
                "{method} == 'a' &&", "'unterminated == 1", '"{a b} == 1"', "{method} == GET", "1 == 1 2"):
        dw.fails(S(f"@m expression {bad}"), "unsupported expression")
    dw.fails(S("@m expression"), "unsupported expression")
    # operands are templates: unknown placeholders fail after the whole file
    dw.fails(S("@m expression {nope} == 1"), "Dwaarfile:2:19: unknown placeholder '{nope}'")
    # nesting is bounded
    dw.fails(S("@m expression " + "(" * 40 + "1 == 1" + ")" * 40), "nested too deeply")
    deep = "!" * 30 + "(1 == 1)"
    dw.fails(S(f"@m expression {deep}"), "unsupported expression")
    # long && chains are one n-ary node, not deep
    chain = " && ".join(["1 == 1"] * 200)
    c = matcher(dw, f"expression {chain}")[0]
    assert c["ast"]["op"] == "&&" and len(c["ast"]["args"]) == 200


def test_MT_14_file(dw):
    c = matcher(dw, "file {\n    try_files {path} {path}/index.html\n}")[0]
    assert c == {"condition": "file", "try_files": ["{path}", "{path}/index.html"]}
    c = matcher(dw, "file {path}.html")[0]
    assert c["try_files"] == ["{path}.html"]
    dw.fails(S("@m file {\n    try_files\n}"), "Dwaarfile:3:9: expected at least one file pattern")
    dw.fails(S("@m file"), "expected at least one file pattern")
    dw.fails(S("@m file {\n    try_policy first_exist\n}"), "unknown subdirective 'try_policy' inside file matcher")
    dw.fails(S("@m file {\n    try_files {bad}\n}"), "unknown placeholder '{bad}'")


def test_MT_15_unknown_condition_warns(dw):
    m = dw.warns(S("@m vars_regexp x y\nrespond @m 200"),
                 "Dwaarfile:2:8: warning: unknown matcher condition 'vars_regexp'; it never matches")
    assert conds(m, "@m") == [{"condition": "unknown", "name": "vars_regexp", "args": ["x", "y"]}]
    dw.warns(S("@m {\n    frob\n}"), "Dwaarfile:3:9: warning: unknown matcher condition 'frob'")


def test_MT_16_duplicate_and_empty(dw):
    dw.fails(S("@a path /x\n@a path /y"), "Dwaarfile:3:5: matcher '@a' is already defined")
    m = dw.adapt(S("@a {\n}\nrespond @a 200"))
    assert conds(m, "@a") == []
    # the same name in a nested block shadows the outer one
    m = dw.adapt(S("@a path /x\nhandle {\n    @a path /y\n    respond @a 200\n}"))
    assert dirs(m)[0]["block"]["matchers"]["@a"][0]["paths"] == ["/y"]


def test_MT_every_problem_reported_once(dw):
    err = dw.fails(S("""
        @m {
            remote_ip bad
            protocol nope
            path_regexp (
        }
    """), "Dwaarfile:3:19:")
    assert "Dwaarfile:4:18: invalid value for 'protocol'" in err
    assert "Dwaarfile:5:21: invalid regular expression" in err
