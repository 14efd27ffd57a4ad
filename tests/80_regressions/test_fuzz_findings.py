"""Inputs the config fuzzer found that once hung or crashed the loader."""


def test_stray_close_brace_at_top_level_does_not_hang(dw):
    # tree.c error recovery never consumed a top-level '}' and looped, growing memory
    r = dw.load("a {\n}\n}\n")
    assert r.code == 1
    assert "Dwaarfile:3:1: expected site address (e.g. 'example.com'), got '}'" in r.err
    r = dw.load("}}}}\n}\na.test {\n    respond\n}\n")
    assert r.code == 1 and r.err.count("got '}'") >= 1


def test_nul_byte_in_directive_name(dw):
    # dw_cfg_dir_lookup compared with strncmp and read past the table's string
    r = dw.load(b"a.test {\n    resp\x00ond\n}\n")
    assert r.code == 1 and "Dwaarfile:2:5: unknown directive" in r.err
