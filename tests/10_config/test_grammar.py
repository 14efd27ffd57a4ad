"""Grammar and error reporting (spec 10 §1.5, §1.7): CFG-01, CFG-19..CFG-21, CFG-29, CFG-30."""
from dwaartest import dirs, site


def test_CFG_01_one_line_site(dw):
    m = dw.adapt("example.com{reverse_proxy :8080}")
    assert len(m["sites"]) == 1
    assert site(m)["addresses"][0]["host"] == "example.com"
    assert [d["directive"] for d in dirs(m)] == ["reverse_proxy"]


def test_CFG_19_unknown_directive_did_you_mean(dw):
    err = dw.fails("a.test {\n    proxzy :8080\n}\n",
                   "Dwaarfile:2:5: unknown directive 'proxzy' \u2014 did you mean 'proxy'?")
    # nothing close: no hint
    err = dw.fails("a.test {\n    zzzzzzzz\n}\n", "Dwaarfile:2:5: unknown directive 'zzzzzzzz'")
    assert "did you mean" not in err


def test_CFG_19_every_error_in_one_run(dw):
    err = dw.fails("a.test {\n    proxzy :8080\n    respnd 200\n}\nb.test {\n    hedaer X 1\n}\n",
                   "Dwaarfile:2:5:")
    assert "Dwaarfile:3:5: unknown directive 'respnd'" in err
    assert "Dwaarfile:6:5: unknown directive 'hedaer'" in err


def test_CFG_20_global_block_after_site(dw):
    dw.fails("a.test {\n    respond\n}\n{\n    http_port 8080\n}\n",
             "Dwaarfile:4:1: expected site address (e.g. 'example.com'), got '{'")


def test_CFG_21_missing_close_brace(dw):
    dw.fails("a.test {\n    handle /x {\n        respond\n}\n",
             "unexpected end of file, expected '}' to close site block 'a.test'")
    dw.fails("a.test {\n    respond\n", "Dwaarfile:1:8: unexpected end of file, expected '}'")


def test_token_after_close_brace(dw):
    # decision 9: after '}' only a newline or a comment
    dw.fails("a.test {\n    handle {\n        respond\n    } extra\n}\n", "Dwaarfile:4:7: unexpected 'extra' after '}'")
    dw.adapt("a.test {\n    handle {\n        respond\n    } # fine\n}\n")


def test_CFG_30_config_too_large(dw):
    big = "# " + "x" * (10 * 1024 * 1024 - 3) + "\n"
    assert len(big) == 10 * 1024 * 1024
    dw.write("Dwaarfile", big + "a.test {\n}\n")  # 10 MiB + a few bytes
    r = dw.run("validate", "-c", "Dwaarfile")
    assert r.code == 1
    assert "config file too large (" in r.err and "max 10485760 bytes)" in r.err
    dw.write("Dwaarfile", big[:-1] + "\n")  # exactly 10 MiB + 0: the limit itself is allowed
    assert len((dw.root / "Dwaarfile").read_bytes()) == 10485760
    r = dw.run("validate", "-c", "Dwaarfile")
    assert r.code == 0, r.err
    dw.write("Dwaarfile", big + "x")  # 10 MiB + 1 byte
    r = dw.run("validate", "-c", "Dwaarfile")
    assert r.code == 1 and "config file too large (10485761 bytes, max 10485760 bytes)" in r.err


def test_CFG_30_imported_file_too_large(dw):
    dw.write("big.conf", "#" * (10 * 1024 * 1024 + 1))
    dw.fails("import big.conf\n", "import error: config file too large (10485761 bytes")


def test_keyword_block_with_arguments(dw):
    dw.fails("layer4 extra {\n}\n", "Dwaarfile:1:8: unexpected 'extra' after 'layer4' (expected '{')")
    dw.fails("timeouts 5s {\n}\n", "Dwaarfile:1:10: unexpected '5s' after 'timeouts'")


def test_global_option_inside_a_site(dw):
    err = dw.fails("a.test {\n    servers {\n        h3 on\n    }\n}\n",
                   "Dwaarfile:2:5: 'servers' is a global option, not a directive")
    assert "did you mean 'servers'" not in err
    dw.fails("a.test {\n    debug\n}\n", "'debug' is a global option")


def test_keywords_compare_on_text_quoted_or_not(dw):
    # spec 10 §1.2 rule 3
    m = dw.adapt('a.test {\n    tls "off"\n    encode "gzip"\n    analytics "off"\n    respond "404"\n}\n')
    assert m["sites"][0]["tls_mode"] == "off"
    # decision 23: in layer4 a quoted keyword is a value, not the next condition
    dw.adapt('layer4 {\n    :7443 {\n        @t tls sni "ssh"\n        route @t {\n'
             '            proxy 127.0.0.1:9001\n        }\n    }\n}\n')
