"""Environment substitution, snippets and imports (spec 10 §1.3-1.4): CFG-07, CFG-08,
CFG-10..CFG-18. Checked through site addresses and directive locations in the model."""
from dwaartest import dirs


def hosts(model):
    return [a["host"] for s in model["sites"] for a in s["addresses"]]


def test_CFG_07_env_default_and_empty(dw):
    m = dw.adapt("{$SITE}:8001 {\n    respond\n}\n{$NOPE:fallback.test}:8002 {\n    respond\n}\n"
                 "x{$UNSET}.test:8003 {\n    respond\n}\n", env={"SITE": "up.test"})
    assert hosts(m) == ["up.test", "fallback.test", "x.test"]
    # set but empty: the default applies (`unset/empty`)
    m = dw.adapt("{$E:dflt.test}:8001 {\n    respond\n}\n", env={"E": ""})
    assert hosts(m) == ["dflt.test"]


def test_CFG_08_env_dot_form_required(dw):
    m = dw.adapt("{env.UP}:8001 {\n    respond\n}\n", env={"UP": "e.test"})
    assert hosts(m) == ["e.test"]
    dw.write("Dwaarfile", "{env.UP}:8001 {\n    respond\n}\n")
    r = dw.run("validate", "-c", "Dwaarfile")
    assert r.code == 1
    assert "Dwaarfile:1:1: environment variable 'UP' is not set" in r.err


def test_CFG_10_snippet_in_two_sites_defined_anywhere(dw):
    m = dw.adapt("a.test:8001 {\n    import common\n}\n(common) {\n    header X-C 1\n}\n"
                 "b.test:8002 {\n    import common\n}\n")
    for i in (0, 1):
        d = dirs(m, i)
        assert [x["directive"] for x in d] == ["header"]
        assert d[0]["at"] == "Dwaarfile:5:5"  # tokens keep the snippet's own position


def test_CFG_11_import_arguments(dw):
    src = ("(mk) {\n    {args[0]}:{args[1]} {\n        respond \"{args[:]}\"\n    }\n}\n"
           "import mk one.test 8001 extra\n"
           "(all) {\n    {args[:]} {\n        respond\n    }\n}\n"
           "import all x.test:8002 y.test:8003\n"
           "(five) {\n    z{args[5]}.test:8004 {\n        respond\n    }\n}\n"
           "import five a b\n")
    m = dw.adapt(src)
    assert hosts(m) == ["one.test", "x.test", "y.test", "z.test"]
    assert [a["port"] for s in m["sites"] for a in s["addresses"]] == [8001, 8002, 8003, 8004]


def test_CFG_11_env_in_import_arguments_splits(dw):
    m = dw.adapt("(all) {\n    {args[:]} {\n        respond\n    }\n}\nimport all {$HOSTS}\n",
                 env={"HOSTS": "p.test:8001 q.test:8002"})
    assert hosts(m) == ["p.test", "q.test"]


def test_CFG_12_import_file_relative_to_dwaarfile(dw, tmp_path):
    dw.write("conf/common/headers.conf", "header X-A 1\nheader X-B 2\n")
    dw.write("conf/Dwaarfile", "a.test:8001 {\n    import common/headers.conf\n    respond\n}\n")
    # run from another working directory: imports resolve against the Dwaarfile's directory
    r = dw.run("adapt", "-c", str(tmp_path / "conf" / "Dwaarfile"), cwd="/")
    assert r.code == 0, r.err
    import json
    d = json.loads(r.out)["sites"][0]["block"]["directives"]
    assert [(x["directive"], x["at"]) for x in d] == [
        ("header", "headers.conf:1:1"), ("header", "headers.conf:2:1"), ("respond", "Dwaarfile:3:5")]


def test_CFG_13_glob_byte_order_and_zero_matches(dw):
    dw.write("apps/b.dwaar", "b.test:8002 {\n    respond\n}\n")
    dw.write("apps/a.dwaar", "a.test:8001 {\n    respond\n}\n")
    dw.write("apps/B.dwaar", "upper.test:8003 {\n    respond\n}\n")
    dw.write("apps/skip.conf", "nope.test:8004 {\n    respond\n}\n")
    (dw.root / "apps" / "dir.dwaar").mkdir()  # non-regular matches are skipped
    m = dw.adapt("import apps/*.dwaar\n")
    assert hosts(m) == ["upper.test", "a.test", "b.test"]  # bytes: 'B' < 'a'
    m = dw.adapt("import none/*.dwaar\nc.test:8001 {\n    respond\n}\n")
    assert hosts(m) == ["c.test"]


def test_CFG_14_traversal_blocked(dw, tmp_path):
    (tmp_path / "outside.conf").write_text("header X 1\n")
    dw.write("base/Dwaarfile", "a.test:8001 {\n    import ../outside.conf\n}\n")
    r = dw.run("validate", "-c", "base/Dwaarfile")
    assert r.code == 1
    assert ("Dwaarfile:2:5: import error: path traversal blocked: '../outside.conf' escapes base directory"
            in r.err)
    # a symlink inside the base that points outside it
    (tmp_path / "base" / "link.conf").symlink_to(tmp_path / "outside.conf")
    dw.write("base/Dwaarfile", "a.test:8001 {\n    import link.conf\n}\n")
    r = dw.run("validate", "-c", "base/Dwaarfile")
    assert r.code == 1 and "import error: path traversal blocked: 'link.conf'" in r.err
    # decision 7: absolute paths only inside the base directory
    dw.write("base/in.conf", "header X 1\n")
    dw.write("base/Dwaarfile", f"a.test:8001 {{\n    import {tmp_path}/base/in.conf\n    import {tmp_path}/outside.conf\n}}\n")
    r = dw.run("validate", "-c", "base/Dwaarfile")
    assert r.code == 1
    assert r.err.count("path traversal blocked") == 1, r.err


def test_CFG_15_bad_glob_and_missing_file(dw):
    dw.fails("import apps/[x\n", "Dwaarfile:1:1: import error: invalid glob pattern: apps/[x:")
    dw.fails("a.test {\n    import missing.conf\n}\n",
             "Dwaarfile:2:5: import error: imported file not found: 'missing.conf'")
    dw.fails("a.test {\n    import nosuchsnippet\n}\n",
             "import error: imported file not found: 'nosuchsnippet'")
    dw.fails("a.test {\n    import\n}\n", "Dwaarfile:2:5: import error: import requires a target")


def test_CFG_16_cycles_and_depth(dw):
    dw.write("a.conf", "import b.conf\n")
    dw.write("b.conf", "import a.conf\n")
    dw.fails("import a.conf\n", "import error: circular import detected: 'a.conf'")
    dw.fails("(s1) {\n    import s2\n}\n(s2) {\n    import s1\n}\nx.test {\n    import s1\n}\n",
             "import error: circular import detected: 's1'")
    # decision 4: the Dwaarfile is level 0; level 10 loads, level 11 fails
    for i in range(1, 12):
        nxt = f"import l{i + 1}.conf\n" if i < 11 else "header X 1\n"
        dw.write(f"l{i}.conf", nxt)
    dw.write("l10.conf", "header X 1\n")
    m = dw.adapt("x.test:8001 {\n    import l1.conf\n}\n")
    assert [d["at"] for d in dirs(m)] == ["l10.conf:1:1"]
    dw.write("l10.conf", "import l11.conf\n")
    dw.fails("x.test:8001 {\n    import l1.conf\n}\n",
             "import error: import depth limit exceeded (max 10 levels of nesting)")


def test_CFG_17_error_in_imported_file_names_it(dw):
    dw.write("sub/bad.conf", "\n\n  proxzy :8080\n")
    dw.fails("a.test {\n    import sub/bad.conf\n}\n", "bad.conf:3:3: unknown directive 'proxzy'")
    dw.write("sub/bad2.conf", "respond \"oops\n")
    dw.fails("a.test {\n    import sub/bad2.conf\n}\n", "bad2.conf:1:9: unterminated quoted string")


def test_CFG_18_snippet_redeclared(dw):
    dw.fails("(s) {\n    header A 1\n}\n(s) {\n    header B 1\n}\n",
             "Dwaarfile:4:1: redeclaration of snippet 's'")
    dw.fails("(s) {\n    header A 1\n", "invalid snippet at line 1: unclosed snippet '(s)'")


def test_snippets_from_imported_files_visible_afterwards(dw):
    # decision 5: a snippet defined in an imported file is visible after that import
    dw.write("snips.conf", "(hdr) {\n    header X-S 1\n}\n")
    m = dw.adapt("import snips.conf\na.test:8001 {\n    import hdr\n}\n")
    assert dirs(m)[0]["at"] == "snips.conf:2:5"
