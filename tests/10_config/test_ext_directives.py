"""Other-area directives of spec 10 §6.20 (syntax and model; behaviour in specs 20 and 30):
RT-82..RT-98 at load time, every documented form and every documented error, with the
`<file>:<line>:<col>:` prefix. Decisions 1-3, 14-17, 24, 25 apply."""
from dwaartest import dirs, site


def one(dw, body, env=None, i=0):
    """Load a site with body lines and return its i-th directive."""
    return dirs(dw.adapt("a.test {\n" + body + "\n}\n", env=env))[i]


def site_fails(dw, body, message):
    return dw.fails("a.test {\n" + body + "\n}\n", message)


# --- RT-82 request_body / response_body_limit ------------------------------------------------------

def test_RT_82_request_body_inline_and_block(dw):
    d = one(dw, "    request_body 1KB")
    assert d["directive"] == "request_body" and d["max_size"] == 1024 and d["rank"] == 2
    d = one(dw, "    request_body {\n        max_size 1KB\n    }")
    assert d["max_size"] == 1024
    assert one(dw, "    request_body 10MB")["max_size"] == 10485760
    assert one(dw, "    request_body 2048")["max_size"] == 2048


def test_RT_82_request_body_errors(dw):
    err = site_fails(dw, "    request_body abc", "Dwaarfile:2:18: invalid value for 'request_body': 'abc' is not a valid size")
    assert "expected: size" in err
    site_fails(dw, "    request_body 99999999999999G", "invalid value for 'request_body': size '99999999999999G' is too large")
    site_fails(dw, "    request_body", "Dwaarfile:2:5: expected a size after 'request_body', got end of line")
    site_fails(dw, "    request_body {\n        max_size abc\n    }", "Dwaarfile:3:18: invalid value for 'max_size': 'abc'")
    site_fails(dw, "    request_body {\n        limit 1k\n    }", "Dwaarfile:3:9: unknown request_body option 'limit'")
    site_fails(dw, "    request_body {\n    }", "expected 'max_size <size>' in the 'request_body' block")


def test_RT_83_response_body_limit(dw):
    d = one(dw, "    response_body_limit 100")
    assert d["directive"] == "response_body_limit" and d["max_size"] == 100 and d["rank"] == 2
    site_fails(dw, "    response_body_limit lots", "Dwaarfile:2:25: invalid value for 'response_body_limit': 'lots'")
    site_fails(dw, "    response_body_limit {\n        max_size 1k\n    }", "'response_body_limit' does not take a block")


# --- RT-84 bind ----------------------------------------------------------------------------------------

def test_RT_84_bind_forms(dw):
    d = one(dw, "    bind 127.0.0.1 [::1]:8443 ::1 :9000 10.1.2.3:81 unix//tmp/d.sock unix/rel.sock")
    assert d["addresses"] == [
        {"address": "127.0.0.1", "kind": "ip", "host": "127.0.0.1"},
        {"address": "[::1]:8443", "kind": "ip", "host": "::1", "port": 8443},
        {"address": "::1", "kind": "ip", "host": "::1"},
        {"address": ":9000", "kind": "ip", "host": "", "port": 9000},
        {"address": "10.1.2.3:81", "kind": "ip", "host": "10.1.2.3", "port": 81},
        {"address": "unix//tmp/d.sock", "kind": "unix", "path": "/tmp/d.sock"},
        # decision 25: relative to the Dwaarfile's directory
        {"address": "unix/rel.sock", "kind": "unix", "path": f"{dw.root}/rel.sock"},
    ]


def test_RT_84_bind_invalid(dw):
    site_fails(dw, "    bind 10.0.0.0/8", "Dwaarfile:2:10: invalid bind address '10.0.0.0/8'")
    site_fails(dw, "    bind example.com", "Dwaarfile:2:10: invalid bind address 'example.com'")
    site_fails(dw, "    bind 127.0.0.1 localhost", "Dwaarfile:2:20: invalid bind address 'localhost'")
    site_fails(dw, "    bind 127.0.0.1:99999", "invalid bind address '127.0.0.1:99999'")
    site_fails(dw, "    bind unix/", "invalid bind address 'unix/'")
    site_fails(dw, "    bind", "Dwaarfile:2:5: expected a bind address after 'bind', got end of line")
    # site-only (spec 10 §4.1)
    site_fails(dw, "    handle {\n        bind 127.0.0.1\n    }", "Dwaarfile:3:9: directive 'bind' is only allowed at site level")


# --- RT-85 encode -----------------------------------------------------------------------------------------

def test_RT_85_encode_forms(dw):
    d = one(dw, "    encode gzip")
    assert d["enabled"] is True and d["encodings"] == ["gzip"] and d["rank"] == 7
    assert one(dw, "    encode zstd brotli")["encodings"] == ["zstd", "br"]
    assert one(dw, "    encode on")["encodings"] == ["gzip", "zstd", "br"]
    d = one(dw, "    encode off")
    assert d["enabled"] is False and d["encodings"] == []
    d = one(dw, "    encode /api/* gzip br")
    assert d["matcher"] == "/api/*" and d["encodings"] == ["gzip", "br"]
    d = one(dw, "    @j path *.json\n    encode @j zstd")
    assert d["matcher"] == "@j" and d["encodings"] == ["zstd"]
    d = one(dw, "    encode {\n        gzip\n        br\n    }")
    assert d["encodings"] == ["gzip", "br"]


def test_RT_85_encode_requires_an_encoding(dw):
    site_fails(dw, "    encode", "Dwaarfile:2:5: expected at least one encoding (gzip, zstd, br)")
    site_fails(dw, "    encode deflate", "Dwaarfile:2:12: expected at least one encoding (gzip, zstd, br)")
    # a path alone is not a matcher (the minimum of one argument is not met)
    site_fails(dw, "    encode /x", "expected at least one encoding (gzip, zstd, br)")


def test_RT_85_encode_list_ends_at_other_token(dw):
    m = dw.warns("a.test {\n    encode gzip fast\n}\n", "Dwaarfile:2:17: warning: 'fast' is not an encoding")
    assert dirs(m)[0]["encodings"] == ["gzip"]


# --- RT-86 tls ------------------------------------------------------------------------------------------------

def test_RT_86_tls_modes(dw):
    m = dw.adapt("a.test {\n    tls\n}\nb.test {\n    tls auto\n}\nc.test {\n    tls off\n}\n"
                 "d.test {\n    tls internal\n}\ne.test {\n    tls ops@e.test\n}\n")
    modes = [(s["block"]["directives"][0]["mode"], s["tls_mode"]) for s in m["sites"]]
    assert modes == [("auto", "auto"), ("auto", "auto"), ("off", "off"), ("internal", "internal"), ("email", "auto")]
    assert m["sites"][4]["block"]["directives"][0]["email"] == "ops@e.test"
    # decision 11: tls off without scheme and port listens on http_port
    assert m["sites"][2]["addresses"][0]["port"] == 80


def test_RT_86_tls_files(dw):
    dw.write("c.pem", "cert")
    dw.write("k.pem", "key")
    m = dw.adapt("a.test {\n    tls c.pem k.pem\n}\nb.test {\n    tls \"c.pem\" \"k.pem\"\n}\n")
    d = dirs(m)[0]
    assert d["mode"] == "files"
    # decision 25: relative to the Dwaarfile's directory
    assert d["cert"].endswith("/c.pem") and d["key"].endswith("/k.pem")
    assert site(m)["tls_mode"] == "manual"
    assert site(m, 1)["tls_mode"] == "manual"


def test_RT_86_tls_files_must_be_readable(dw):
    dw.write("k.pem", "key")
    site_fails(dw, "    tls missing.pem k.pem", f"Dwaarfile:2:9: certificate file '{dw.root}/missing.pem' is not readable")
    dw.write("c.pem", "cert")
    site_fails(dw, "    tls c.pem nokey.pem", f"Dwaarfile:2:15: key file '{dw.root}/nokey.pem' is not readable")


def test_RT_86_tls_manual(dw):
    dw.write("certs/c.pem", "cert")
    dw.write("certs/k.pem", "key")
    m = dw.adapt("a.test {\n    tls manual\n    tls_cert certs/c.pem\n    tls_key certs/k.pem\n}\n")
    d = dirs(m)
    assert [x["directive"] for x in d] == ["tls", "tls_cert", "tls_key"]
    assert d[0]["mode"] == "manual"
    assert d[1]["path"] == f"{dw.root}/certs/c.pem" and d[2]["path"] == f"{dw.root}/certs/k.pem"
    assert site(m)["tls_mode"] == "manual"


def test_RT_86_tls_manual_alone_fails(dw):
    site_fails(dw, "    tls manual", "Dwaarfile:2:5: 'tls manual' requires both 'tls_cert' and 'tls_key'")
    dw.write("c.pem", "cert")
    site_fails(dw, "    tls manual\n    tls_cert c.pem", "'tls manual' requires both 'tls_cert' and 'tls_key' (missing 'tls_key')")
    site_fails(dw, "    tls_cert missing.pem", f"Dwaarfile:2:14: certificate file '{dw.root}/missing.pem' is not readable")
    site_fails(dw, "    tls_key", "Dwaarfile:2:5: expected a file path after 'tls_key', got end of line")


def test_RT_86_tls_cert_without_manual_warns(dw):
    dw.write("c.pem", "cert")
    dw.warns("a.test {\n    tls_cert c.pem\n}\n", "'tls_cert' has no effect without 'tls manual'")


def test_RT_86_tls_dns_cloudflare(dw):
    d = one(dw, "    tls {\n        dns cloudflare {env.T}\n    }", env={"T": "secret-token"})
    assert d["mode"] == "dns" and d["dns_provider"] == "cloudflare"
    assert "secret-token" not in str(d)  # the token is not printed
    m = dw.adapt("a.test {\n    tls {\n        dns cloudflare tok\n    }\n}\n")
    assert site(m)["tls_mode"] == "auto"
    # unknown sub-directives are ignored
    m = dw.warns("a.test {\n    tls {\n        dns cloudflare tok\n        resolvers 1.1.1.1\n    }\n}\n",
                 "tls option 'resolvers' is not supported and is ignored")
    assert dirs(m)[0]["mode"] == "dns"
    d = one(dw, "    tls ops@a.test {\n        dns cloudflare tok\n    }")
    assert d["mode"] == "dns" and d["email"] == "ops@a.test"


def test_RT_86_tls_dns_errors(dw):
    site_fails(dw, "    tls {\n        protocols tls1.3\n    }", "Dwaarfile:2:5: 'tls' block requires 'dns cloudflare <token>'")
    site_fails(dw, "    tls {\n        dns route53 tok\n    }",
               "Dwaarfile:3:13: unsupported DNS provider 'route53' for 'tls' (supported: cloudflare)")
    site_fails(dw, "    tls {\n        dns cloudflare\n    }", "expected an API token after 'dns cloudflare'")


def test_RT_86_tls_errors(dw):
    site_fails(dw, "    tls sometimes", "Dwaarfile:2:9: invalid value for 'tls': 'sometimes'")
    site_fails(dw, "    tls a b c", "Dwaarfile:2:13: unexpected argument 'c' to 'tls'")
    site_fails(dw, "    tls off\n    tls internal", "Dwaarfile:3:5: duplicate 'tls' directive (the first is at line 2)")
    site_fails(dw, "    handle {\n        tls off\n    }", "directive 'tls' is only allowed at site level")


# --- RT-87 rate_limit ------------------------------------------------------------------------------------------

def test_RT_87_rate_limit_forms(dw):
    d = one(dw, "    rate_limit 100/s")
    assert (d["requests"], d["window_ms"], d["rank"]) == (100, 1000, 3)
    d = one(dw, "    rate_limit 5000/10m")
    assert (d["requests"], d["window_ms"]) == (5000, 600000)
    assert one(dw, "    rate_limit 10/m")["window_ms"] == 60000
    assert one(dw, "    rate_limit 3/h")["window_ms"] == 3600000
    assert one(dw, "    rate_limit 7/1h30m")["window_ms"] == 5400000
    d = one(dw, "    handle /api/* {\n        rate_limit 1/s\n    }")
    assert d["block"]["directives"][0]["requests"] == 1


def test_RT_87_rate_limit_errors(dw):
    err = site_fails(dw, "    rate_limit 0/s", "Dwaarfile:2:16: invalid value for 'rate_limit': '0/s'")
    assert "    expected: N/duration, e.g., 100/s or 5000/10m" in err
    for bad in ["abc", "100", "100/", "/s", "x/s", "100/d", "100/10", "1.5/s", "100/0s"]:
        err = site_fails(dw, "    rate_limit " + bad, "invalid value for 'rate_limit': '%s'" % bad)
        assert "expected: N/duration, e.g., 100/s or 5000/10m" in err
    err = site_fails(dw, "    rate_limit", "Dwaarfile:2:5: expected a rate after 'rate_limit'")
    assert "expected: N/duration" in err


# --- RT-88 ip_filter ------------------------------------------------------------------------------------------------

def test_RT_88_ip_filter(dw):
    d = one(dw, "    ip_filter {\n        allow 10.0.0.0/8 192.168.1.7\n        deny 10.1.0.0/16 2001:db8::/32\n"
                "        default deny\n    }")
    assert d["rank"] == 3
    assert d["allow"] == ["10.0.0.0/8", "192.168.1.7/32"]
    assert d["deny"] == ["10.1.0.0/16", "2001:db8::/32"]
    assert d["default"] == "deny"
    d = one(dw, "    ip_filter {\n        deny 203.0.113.0/24\n    }")
    assert d["default"] == "allow"


def test_RT_88_ip_filter_one_line_block(dw):
    # decision 15: a real one-line block holds one subdirective
    d = one(dw, "    ip_filter { allow 10.0.0.0/8 }")
    assert d["allow"] == ["10.0.0.0/8"]
    site_fails(dw, "    ip_filter { allow 10.0.0.0/8 default deny }",
               "Dwaarfile:2:34: unexpected argument 'default' to 'allow' (put each subdirective on its own line)")


def test_RT_88_ip_filter_errors(dw):
    site_fails(dw, "    ip_filter", "Dwaarfile:2:5: expected '{' block after 'ip_filter'")
    # decision 17
    site_fails(dw, "    ip_filter {\n        default block\n    }",
               "Dwaarfile:3:17: invalid value for 'default': 'block' (expected one of: allow, deny)")
    # spec 20 §2.5: a bad range is skipped with a warning
    m = dw.warns("a.test {\n    ip_filter {\n        allow 10.0.0.0/33 10.0.0.1\n    }\n}\n",
                 "Dwaarfile:3:15: warning: invalid IP range '10.0.0.0/33' in 'ip_filter' is skipped")
    assert dirs(m)[0]["allow"] == ["10.0.0.1/32"]
    dw.warns("a.test {\n    ip_filter {\n        geo CN\n    }\n}\n", "unknown ip_filter option 'geo' ignored")


# --- RT-89 basic_auth ------------------------------------------------------------------------------------------------

HASH = "$2b$12$C6UzMDM.H6dfI/f/IKcEeO5Y3QbxCUWXMO8h9EGKr1E5J6cDHYV6a"


def test_RT_89_basic_auth(dw):
    d = one(dw, '    basic_auth "Staff only" {\n        alice %s\n        bob %s\n    }' % (HASH, HASH))
    assert d["directive"] == "basic_auth" and d["rank"] == 6
    assert d["realm"] == "Staff only"
    assert d["users"] == [{"user": "alice", "hash": HASH}, {"user": "bob", "hash": HASH}]
    d = one(dw, "    basicauth {\n        alice %s\n    }" % HASH)
    assert d["directive"] == "basic_auth" and d["as"] == "basicauth"
    assert d["realm"] == "Restricted"
    d = one(dw, '    basic_auth "a\\"b\\\\c" {\n        alice %s\n    }' % HASH)
    assert d["realm"] == "abc"


def test_RT_89_basic_auth_errors(dw):
    site_fails(dw, '    basic_auth "R" {\n    }', "Dwaarfile:2:5: 'basic_auth' requires at least one '<user> <bcrypt-hash>' pair")
    site_fails(dw, "    basicauth", "Dwaarfile:2:5: 'basicauth' requires at least one '<user> <bcrypt-hash>' pair")
    site_fails(dw, "    basic_auth {\n        alice\n    }", "Dwaarfile:3:9: expected '<user> <bcrypt-hash>' on each line")
    site_fails(dw, "    basic_auth {\n        alice %s extra\n    }" % HASH, "expected '<user> <bcrypt-hash>'")
    site_fails(dw, "    basic_auth {\n        alice %s\n        alice %s\n    }" % (HASH, HASH),
               "Dwaarfile:4:9: user 'alice' is listed twice")


def test_RT_89_basic_auth_weak_hash_warns(dw):
    dw.warns("a.test {\n    basic_auth {\n        alice plaintext\n    }\n}\n", "password hash for user 'alice' is not bcrypt")
    dw.warns("a.test {\n    basic_auth {\n        alice $2a$04$abcdefghijklmnopqrstuv\n    }\n}\n",
             "bcrypt cost 4 for user 'alice' is below 10")


# --- RT-90 forward_auth -----------------------------------------------------------------------------------------------

PLAINTEXT = ("forward_auth target 'auth.example:9091' is plaintext and non-loopback; set tls: true, use a "
             "loopback target, or explicitly opt in with allow_plaintext: true")


def test_RT_90_forward_auth_plaintext_non_loopback_fails(dw):
    site_fails(dw, "    forward_auth auth.example:9091 {\n        uri /v\n    }", "Dwaarfile:2:18: " + PLAINTEXT)
    site_fails(dw, "    forward_auth 192.0.2.10 {\n        uri /v\n    }", "forward_auth target '192.0.2.10:80' is plaintext")
    site_fails(dw, "    forward_auth [2001:db8::1]:9000", "forward_auth target '[2001:db8::1]:9000' is plaintext")


def test_RT_90_forward_auth_with_tls(dw):
    d = one(dw, "    forward_auth auth.example:9091 {\n        uri /v\n        copy_headers Remote-User Remote-Email\n"
                "        transport tls\n    }")
    assert d["rank"] == 6
    assert (d["host"], d["port"], d["tls"], d["loopback"]) == ("auth.example", 9091, True, False)
    assert d["uri"] == "/v"
    assert d["copy_headers"] == ["Remote-User", "Remote-Email"]
    # a bare host means 443 with transport tls (spec 20 §2.10); never resolved (decision 24)
    d = one(dw, "    forward_auth auth.invalid {\n        transport tls\n    }")
    assert (d["host"], d["port"]) == ("auth.invalid", 443)


def test_RT_90_forward_auth_loopback_and_opt_in(dw):
    for target in ["127.0.0.1:9091", "127.8.9.10:1", "localhost:9091", "[::1]:9091", "::1", "ip6-localhost",
                   "ip6-loopback:80", "LOCALHOST"]:
        d = one(dw, "    forward_auth %s" % target)
        assert d["loopback"] is True and d["tls"] is False, target
    assert one(dw, "    forward_auth localhost")["port"] == 80
    assert "uri" not in one(dw, "    forward_auth 127.0.0.1:1")  # default: the original path and query
    m = dw.warns("a.test {\n    forward_auth auth.example:9091 {\n        insecure_plaintext\n    }\n}\n",
                 "Dwaarfile:2:18: warning: forward_auth target 'auth.example:9091' uses plaintext")
    assert dirs(m)[0]["insecure_plaintext"] is True
    site_fails(dw, "    forward_auth auth.example:9091 {\n        insecure_plaintext false\n    }", PLAINTEXT)


def test_RT_90_forward_auth_errors(dw):
    site_fails(dw, "    forward_auth 127.0.0.1:9091 {\n        timeout 5s\n    }",
               "Dwaarfile:3:9: unknown forward_auth option 'timeout'")
    site_fails(dw, "    forward_auth 127.0.0.1:9091 {\n        transport h2\n    }",
               "Dwaarfile:3:19: invalid value for 'transport': 'h2' (expected one of: tls)")
    site_fails(dw, "    forward_auth", "Dwaarfile:2:5: expected an auth service address")
    site_fails(dw, "    forward_auth http://a:1", "invalid forward_auth address 'http://a:1'")
    site_fails(dw, "    forward_auth 127.0.0.1:99999", "invalid forward_auth address '127.0.0.1:99999'")
    site_fails(dw, "    forward_auth 127.0.0.1:1 {\n        uri v\n    }", "invalid value for 'uri': 'v'")
    site_fails(dw, "    forward_auth 127.0.0.1:1 {\n        copy_headers\n    }",
               "expected a header name after 'copy_headers'")


# --- RT-91 cache ----------------------------------------------------------------------------------------------------------

def test_RT_91_cache(dw):
    d = one(dw, "    cache {\n        max_size 1g\n        match_path /s/* /favicon.ico\n        default_ttl 60\n"
                "        stale_while_revalidate 2m\n    }")
    assert d["rank"] == 7
    assert d["max_size"] == 1073741824
    assert d["match_path"] == ["/s/*", "/favicon.ico"]
    assert d["default_ttl_ms"] == 60000
    assert d["stale_while_revalidate_ms"] == 120000


def test_RT_91_cache_defaults(dw):
    d = one(dw, "    cache {\n    }")
    assert (d["max_size"], d["match_path"], d["default_ttl_ms"], d["stale_while_revalidate_ms"]) == (
        1073741824, [], 3600000, 60000)
    assert one(dw, "    cache { max_size 512k }")["max_size"] == 524288


def test_RT_91_cache_errors(dw):
    site_fails(dw, "    cache {\n        foo 1\n    }", "Dwaarfile:3:9: unknown cache option 'foo'")
    site_fails(dw, "    cache", "Dwaarfile:2:5: expected '{' block after 'cache'")
    site_fails(dw, "    cache {\n        max_size big\n    }", "Dwaarfile:3:18: invalid value for 'max_size': 'big'")
    site_fails(dw, "    cache {\n        default_ttl 1.5s\n    }", "invalid value for 'default_ttl': '1.5s'")
    site_fails(dw, "    cache {\n        match_path static/*\n    }", "invalid value for 'match_path': 'static/*'")
    site_fails(dw, "    cache { max_size 1g match_path /s/* }",
               "unexpected argument 'match_path' to 'max_size' (put each subdirective on its own line)")


# --- RT-92 wasm_plugin -------------------------------------------------------------------------------------------------

def test_RT_92_wasm_plugin_defaults(dw):
    dw.write("plugins/auth.wasm", b"\0asm")
    d = one(dw, "    wasm_plugin plugins/auth.wasm")
    assert d["rank"] == 3
    assert d["path"] == f"{dw.root}/plugins/auth.wasm" and d["name"] == "auth"
    assert (d["priority"], d["fuel"], d["memory_mib"], d["timeout_ms"], d["config"]) == (50, 1000000, 16, 50, [])


def test_RT_92_wasm_plugin_block(dw):
    dw.write("p.wasm", b"\0asm")
    d = one(dw, "    wasm_plugin p.wasm {\n        priority 7\n        fuel 5000\n        memory 32\n        timeout 100\n"
                "        config a=1\n        config b=x=y c=\n        future_key 1\n    }")
    assert (d["priority"], d["fuel"], d["memory_mib"], d["timeout_ms"]) == (7, 5000, 32, 100)
    assert d["config"] == [{"key": "a", "value": "1"}, {"key": "b", "value": "x=y"}, {"key": "c", "value": ""}]
    d = one(dw, "    wasm_plugin p.wasm {\n        memory_mb 8\n        timeout_ms 2s\n    }")
    assert (d["memory_mib"], d["timeout_ms"]) == (8, 2000)


def test_RT_92_wasm_plugin_in_handle_block(dw):
    # decision 2
    dw.write("p.wasm", b"\0asm")
    d = one(dw, "    route /x {\n        wasm_plugin p.wasm\n    }")
    assert d["block"]["directives"][0]["directive"] == "wasm_plugin"


def test_RT_92_wasm_plugin_errors(dw):
    dw.write("p.wasm", b"\0asm")
    site_fails(dw, "    wasm_plugin p.wasm {\n        priority 0\n    }",
               "Dwaarfile:3:18: invalid value for 'priority': '0' is not an integer in 1-65535")
    site_fails(dw, "    wasm_plugin p.wasm {\n        priority high\n    }", "invalid value for 'priority': 'high'")
    site_fails(dw, "    wasm_plugin p.wasm {\n        priority 65536\n    }", "invalid value for 'priority': '65536'")
    site_fails(dw, "    wasm_plugin p.wasm {\n        config k\n    }",
               "Dwaarfile:3:16: invalid value for 'config': 'k' (expected key=value)")
    site_fails(dw, "    wasm_plugin p.wasm {\n        config =v\n    }", "invalid value for 'config': '=v'")
    site_fails(dw, "    wasm_plugin missing.wasm", f"Dwaarfile:2:17: WASM plugin file '{dw.root}/missing.wasm' is not readable")
    site_fails(dw, "    wasm_plugin", "expected a .wasm file path after 'wasm_plugin'")


def test_RT_92_wasm_plugin_unknown_key_warns(dw):
    dw.write("p.wasm", b"\0asm")
    dw.warns("a.test {\n    wasm_plugin p.wasm {\n        threads 4\n    }\n}\n", "unknown wasm_plugin option 'threads' ignored")


# --- RT-93 log, log_append, skip_log, log_name ---------------------------------------------------------------------

def test_RT_93_log_defaults(dw):
    d = one(dw, "    log")
    assert d["directive"] == "log"
    assert (d["output"], d["format"], d["level"]) == ("stdout", "json", "INFO")


def test_RT_93_log_outputs(dw):
    d = one(dw, "    log {\n        output file /tmp/a.log\n    }")
    assert (d["output"], d["path"], d["max_size"], d["keep"]) == ("file", "/tmp/a.log", 0, None)
    d = one(dw, "    log {\n        output file logs/a.log {\n            max_size 10MB\n            keep 5\n        }\n"
                "        format console\n        level warn\n    }")
    assert (d["output"], d["path"], d["max_size"], d["keep"]) == ("file", f"{dw.root}/logs/a.log", 10485760, 5)
    assert (d["format"], d["level"]) == ("console", "WARN")
    for out in ["stdout", "stderr", "discard"]:
        assert one(dw, "    log {\n        output %s\n    }" % out)["output"] == out
    d = one(dw, "    log {\n        output unix /run/log.sock\n        level ERROR\n    }")
    assert (d["output"], d["path"], d["level"]) == ("unix", "/run/log.sock", "ERROR")


def test_RT_93_log_errors(dw):
    site_fails(dw, "    log {\n        output kafka\n    }",
               "Dwaarfile:3:16: invalid value for 'output': 'kafka' (expected one of: stdout, stderr, discard, file, unix)")
    site_fails(dw, "    log {\n        format xml\n    }",
               "Dwaarfile:3:16: invalid value for 'format': 'xml' (expected one of: json, console)")
    site_fails(dw, "    log {\n        output file /tmp/a.log {\n            keep many\n        }\n    }",
               "Dwaarfile:4:18: invalid value for 'keep': 'many'")
    site_fails(dw, "    log {\n        output file /tmp/a.log {\n            max_size 10XB\n        }\n    }",
               "Dwaarfile:4:22: invalid value for 'max_size': '10XB' is not a valid size")
    site_fails(dw, "    log {\n        output file\n    }", "expected a path after 'file'")
    site_fails(dw, "    log {\n        level verbose\n    }", "invalid value for 'level': 'verbose'")
    site_fails(dw, "    handle {\n        log\n    }", "directive 'log' is only allowed at site level")


def test_RT_93_log_unknown_subdirectives_skipped(dw):
    m = dw.warns("a.test {\n    log {\n        sampling 10\n        format console\n    }\n}\n",
                 "Dwaarfile:3:9: warning: unknown log option 'sampling' skipped")
    assert dirs(m)[0]["format"] == "console"
    dw.warns("a.test {\n    log {\n        output file /tmp/a.log {\n            roll_local_time\n        }\n    }\n}\n",
             "unknown log file option 'roll_local_time' skipped")


def test_RT_93_log_append(dw):
    d = one(dw, "    log_append region eu-west")
    assert d["rank"] == 1 and d["fields"] == [{"name": "region", "value": "eu-west"}]
    d = one(dw, "    log_append {\n        user {http.request.header.X-User}\n        tier gold\n    }")
    assert d["fields"] == [{"name": "user", "value": "{http.request.header.X-User}"},
                           {"name": "tier", "value": "gold"}]
    m = dw.warns("a.test {\n    log_append status 1\n}\n", "log_append field 'status' is a standard log field and is ignored")
    assert dirs(m)[0]["fields"] == []
    site_fails(dw, "    log_append k", "Dwaarfile:2:5: expected a value after 'log_append'")
    site_fails(dw, "    log_append", "expected '<field> <value>' or a block after 'log_append'")


def test_RT_93_skip_log_and_log_name(dw):
    d = one(dw, "    skip_log")
    assert d["directive"] == "skip_log" and d["rank"] == 1 and "matcher" not in d
    d = one(dw, "    skip_log /healthz")
    assert d["matcher"] == "/healthz"
    d = one(dw, "    @h path /health*\n    log_skip @h")
    assert d["directive"] == "skip_log" and d["as"] == "log_skip" and d["matcher"] == "@h"
    d = one(dw, "    route /x {\n        skip_log\n    }")
    assert d["block"]["directives"][0]["directive"] == "skip_log"
    assert one(dw, "    log_name access")["name"] == "access"
    site_fails(dw, "    skip_log foo", "Dwaarfile:2:14: unexpected argument 'foo' to 'skip_log'")
    site_fails(dw, "    log_name", "expected a logger name after 'log_name'")


# --- RT-94 metrics --------------------------------------------------------------------------------------------------------

def test_RT_94_metrics(dw):
    d = one(dw, "    metrics /internal/metrics")
    assert d["terminal"] is True and d["rank"] == 9
    assert d["matcher"] == "/internal/metrics" and d["default_path"] is False
    d = one(dw, "    metrics")
    assert d["matcher"] == "/metrics" and d["default_path"] is True
    site_fails(dw, "    metrics prometheus", "Dwaarfile:2:13: unexpected argument 'prometheus' to 'metrics'")


# --- RT-95 analytics, security_headers --------------------------------------------------------------------------------

def test_RT_95_analytics(dw):
    d = one(dw, "    analytics on")
    assert (d["enabled"], d["respect_consent"]) == (True, False)
    assert one(dw, "    analytics off")["enabled"] is False
    d = one(dw, "    analytics {\n        respect_consent true\n    }")
    assert (d["enabled"], d["respect_consent"]) == (True, True)
    assert one(dw, "    analytics")["enabled"] is True


def test_RT_95_analytics_errors(dw):
    # decision 3
    site_fails(dw, "    analytics maybe", "Dwaarfile:2:15: invalid value for 'analytics': 'maybe' (expected one of: on, off")
    site_fails(dw, "    analytics {\n        sample 5\n    }", "Dwaarfile:3:9: unknown analytics option 'sample'")
    site_fails(dw, "    analytics {\n        respect_consent sure\n    }", "invalid value for 'respect_consent': 'sure'")
    site_fails(dw, "    handle {\n        analytics off\n    }", "directive 'analytics' is only allowed at site level")


def test_RT_95_security_headers(dw):
    d = one(dw, "    security_headers {\n        strip_leaky_headers false\n    }")
    assert d["strip_leaky_headers"] is False
    assert one(dw, "    security_headers")["strip_leaky_headers"] is True
    site_fails(dw, "    security_headers {\n        csp none\n    }", "Dwaarfile:3:9: unknown security_headers option 'csp'")
    site_fails(dw, "    security_headers {\n        strip_leaky_headers sometimes\n    }",
               "invalid value for 'strip_leaky_headers': 'sometimes'")
    site_fails(dw, "    handle {\n        security_headers\n    }", "directive 'security_headers' is only allowed at site level")


def test_under_attack(dw):
    # decision 1
    d = one(dw, "    under_attack on")
    assert d["enabled"] is True and d["rank"] == 3
    assert one(dw, "    under_attack off")["enabled"] is False
    d = one(dw, "    handle /login {\n        under_attack on\n    }")
    assert d["block"]["directives"][0]["enabled"] is True
    site_fails(dw, "    under_attack always", "Dwaarfile:2:18: invalid value for 'under_attack': 'always' (expected one of: on, off)")


# --- RT-96 recognised, no effect ----------------------------------------------------------------------------------------

def test_RT_96_recognised_directives_warn(dw):
    for line in ["templates", "push", "acme_server", "invoke n", "fs x", "copy_response 404", "tracing",
                 "tracing http://otel:4318"]:
        m = dw.warns("a.test {\n    %s\n}\n" % line,
                     "Dwaarfile:2:5: warning: '%s': directive parsed but not yet implemented" % line.split()[0])
        assert dirs(m)[0]["directive"] == line.split()[0]


# --- RT-97 intercept -----------------------------------------------------------------------------------------------------

def test_RT_97_intercept(dw):
    d = one(dw, '    intercept 500 {\n        respond "oops" 503\n    }')
    assert d["rank"] == 7
    assert d["statuses"] == [500]
    assert d["respond"] == {"status": 503, "body": "oops"}
    assert d["headers"] == []
    d = one(dw, "    intercept 404 5xx {\n        respond 502\n        header X-Intercepted yes\n        header -Server\n    }")
    assert d["statuses"] == [404, "5xx"]
    assert d["respond"] == {"status": 502}
    assert d["headers"] == [{"op": "set", "name": "X-Intercepted", "value": "yes"}, {"op": "delete", "name": "Server"}]
    d = one(dw, '    intercept {\n        respond "{http.request.uri} failed"\n    }')
    assert d["statuses"] == [] and d["respond"] == {"body": "{http.request.uri} failed"}


def test_RT_97_intercept_errors(dw):
    site_fails(dw, "    intercept 700 {\n        respond 503\n    }",
               "Dwaarfile:2:15: invalid status for 'intercept': '700' (expected 100-599, 4xx or 5xx)")
    site_fails(dw, "    intercept 500", "Dwaarfile:2:5: expected '{' block after 'intercept'")
    site_fails(dw, "    intercept {\n        respond a b c\n    }", "unexpected argument 'c' to 'respond'")
    site_fails(dw, '    intercept {\n        respond "x" 99\n    }', "invalid status for 'respond': '99'")
    site_fails(dw, "    intercept {\n        reverse_proxy :1\n    }",
               "Dwaarfile:3:9: unknown intercept subdirective 'reverse_proxy' (expected respond or header)")
    site_fails(dw, "    intercept {\n        header X-A\n    }", "expected header value")


# --- RT-98 copy_response_headers ---------------------------------------------------------------------------------------------

def test_RT_98_copy_response_headers(dw):
    d = one(dw, "    copy_response_headers {\n        -X-Secret\n    }")
    assert d["rank"] == 4
    assert (d["include"], d["exclude"]) == ([], ["X-Secret"])
    d = one(dw, "    copy_response_headers {\n        X-A\n        X-B X-C\n    }")
    assert (d["include"], d["exclude"]) == (["X-A", "X-B", "X-C"], [])
    d = one(dw, "    copy_response_headers {\n        exclude X-Secret Set-Cookie\n    }")
    assert d["exclude"] == ["X-Secret", "Set-Cookie"]


def test_RT_98_copy_response_headers_errors(dw):
    site_fails(dw, "    copy_response_headers", "Dwaarfile:2:5: expected '{' block after 'copy_response_headers'")
    site_fails(dw, "    copy_response_headers {\n        X-A\n        -X-B\n    }", "cannot mix included names and excluded")
    site_fails(dw, "    copy_response_headers {\n    }", "expected at least one header name")
    site_fails(dw, "    copy_response_headers {\n        Bad:Name\n    }", "Dwaarfile:3:9: invalid header name 'Bad:Name'")


# --- several errors, one run ------------------------------------------------------------------------------------------------

def test_ext_errors_all_reported(dw):
    err = site_fails(dw, "    encode\n    rate_limit 0/s\n    ip_filter\n    cache", "Dwaarfile:2:5: expected at least one encoding")
    assert "Dwaarfile:3:16: invalid value for 'rate_limit'" in err
    assert "Dwaarfile:4:5: expected '{' block after 'ip_filter'" in err
    assert "Dwaarfile:5:5: expected '{' block after 'cache'" in err


def test_basic_auth_path_argument_warns(dw):
    dw.warns("a.test {\n    basic_auth /admin/* {\n        alice $2b$12$hhhhhhhhhhhhhhhhhhhhhuAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n    }\n}\n",
             "basic_auth takes no matcher: '/admin/*' is used as the realm")
