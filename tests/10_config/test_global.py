"""Global options (spec 10 §2; spec 20 §1.1, §3.4, §3.5; spec 30 §6; decisions 16, 17, 22):
CFG-22..CFG-28 and CFG-31, checked on the loaded model. CFG-29 and CFG-30 live in
test_grammar.py."""
from dwaartest import addrs, site


def glob(text):
    return "{\n" + text + "\n}\n"


def test_global_defaults(dw):
    g = dw.adapt("a.test {\n}\n")["global"]
    assert g["http_port"] == 80 and g["https_port"] == 443
    assert g["auto_https"] == "on"
    assert g["debug"] is False
    assert "email" not in g
    assert g["drain_timeout_ms"] == 30000
    t = g["timeouts"]
    assert (t["read_header_ms"], t["read_body_ms"], t["idle_ms"], t["write_ms"], t["max_requests"]) == (
        10000, 30000, 60000, 0, 1000)
    assert t["set"] == []
    assert g["servers"] == {"h3": False, "h3_max_streams": 100, "trusted_proxies": [],
                            "listener_wrappers": None}
    assert g["auto_update"] is None
    assert g["tracing"] is None


# --- CFG-22 / CFG-23: ports -------------------------------------------------------------------

def test_CFG_22_http_port_moves_plain_sites(dw):
    m = dw.adapt(glob("    http_port 8081") + "http://a.test {\n}\nlocalhost {\n}\n127.0.0.1 {\n}\nb.test {\n}\n")
    assert m["global"]["http_port"] == 8081
    assert addrs(m) == [("a.test", 8081, False), ("localhost", 8081, False), ("127.0.0.1", 8081, False),
                        ("b.test", 443, True)]


def test_CFG_22_http_port_explicit_port_means_plain(dw):
    # Caddy: an address written with the http_port is plain HTTP
    m = dw.adapt(glob("    http_port 8081") + "a.test:8081 {\n}\n")
    assert addrs(m) == [("a.test", 8081, False)]


def test_CFG_22_http_port_invalid(dw):
    dw.fails(glob("    http_port abc"),
             "Dwaarfile:2:15: invalid value for 'http_port': 'abc' is not a valid port number")
    dw.fails(glob("    http_port 0"), "invalid value for 'http_port': '0' is not a valid port number")
    dw.fails(glob("    http_port 65536"), "invalid value for 'http_port': '65536' is not a valid port number")
    dw.fails(glob("    http_port"), "Dwaarfile:2:5: expected a port number after 'http_port', got end of line")
    dw.fails(glob("    http_port 80 81"), "Dwaarfile:2:18: unexpected argument '81' to 'http_port'")


def test_CFG_23_https_port_moves_tls_sites(dw):
    m = dw.adapt(glob("    https_port 8443") + "a.test {\n}\nhttps://b.test {\n}\nhttp://c.test {\n}\n")
    assert m["global"]["https_port"] == 8443
    assert addrs(m) == [("a.test", 8443, True), ("b.test", 8443, True), ("c.test", 80, False)]


def test_CFG_23_https_port_invalid(dw):
    dw.fails(glob("    https_port x1"),
             "Dwaarfile:2:16: invalid value for 'https_port': 'x1' is not a valid port number")


def test_ports_must_differ(dw):
    dw.fails(glob("    http_port 8080\n    https_port 8080"), "http_port and https_port must differ")


# --- CFG-24: timeouts ---------------------------------------------------------------------------

def test_CFG_24_servers_timeouts(dw):
    m = dw.adapt(glob("    servers {\n        timeouts {\n            read_header 2s\n        }\n    }") + "a.test {\n}\n")
    t = m["global"]["timeouts"]
    assert t["read_header_ms"] == 2000
    assert t["set"] == ["read_header"]
    assert t["read_body_ms"] == 30000  # others keep their defaults


def test_CFG_24_toplevel_timeouts_with_aliases(dw):
    m = dw.adapt("timeouts {\n    header 2s\n    body 1m\n    keepalive 90\n    write 5s\n"
                 "    max_requests 50\n}\na.test {\n}\n")
    t = m["global"]["timeouts"]
    assert (t["read_header_ms"], t["read_body_ms"], t["idle_ms"], t["write_ms"], t["max_requests"]) == (
        2000, 60000, 90000, 5000, 50)
    assert t["set"] == ["read_header", "read_body", "idle", "write", "max_requests"]


def test_CFG_24_global_timeouts_and_zero_disables(dw):
    m = dw.adapt(glob("    timeouts {\n        read_body 0\n        idle 1h30m\n    }"))
    t = m["global"]["timeouts"]
    assert t["read_body_ms"] == 0 and t["idle_ms"] == 5400000


def test_CFG_24_unknown_timeout_key(dw):
    dw.fails("timeouts {\n    foo 1s\n}\n", "Dwaarfile:2:5: unknown timeout key 'foo'")
    dw.fails(glob("    servers {\n        timeouts {\n            foo 1s\n        }\n    }"),
             "Dwaarfile:4:13: unknown timeout key 'foo'")
    # decision 22: drain_timeout is a global option, not a key of timeouts
    dw.fails(glob("    timeouts {\n        drain_timeout 10s\n    }"), "unknown timeout key 'drain_timeout'")
    dw.fails(glob("    timeouts {\n        drain_timeout_secs 10\n    }"), "unknown timeout key 'drain_timeout_secs'")


def test_CFG_24_bad_timeout_values(dw):
    dw.fails("timeouts {\n    read_header 1.5s\n}\n",
             "Dwaarfile:2:17: invalid value for 'read_header': '1.5s' is not a valid duration")
    dw.fails("timeouts {\n    idle 5d\n}\n", "invalid value for 'idle': '5d' is not a valid duration")
    dw.fails("timeouts {\n    max_requests lots\n}\n", "invalid value for 'max_requests': 'lots'")
    dw.fails("timeouts {\n    read_header 2s idle 3s\n}\n",
             "unexpected argument 'idle' to 'read_header' (put each subdirective on its own line)")


# --- CFG-25: drain timeout ------------------------------------------------------------------------

def test_CFG_25_drain_timeout_forms(dw):
    assert dw.adapt(glob("    drain_timeout 45s"))["global"]["drain_timeout_ms"] == 45000
    assert dw.adapt(glob("    drain_timeout_secs 45"))["global"]["drain_timeout_ms"] == 45000
    assert dw.adapt(glob("    drain_timeout 2m"))["global"]["drain_timeout_ms"] == 120000


def test_CFG_25_drain_timeout_invalid(dw):
    err = dw.fails(glob("    drain_timeout xyz"),
                   "Dwaarfile:2:19: invalid value for 'drain_timeout': 'xyz' is not a valid duration")
    assert "    expected: duration, e.g., 30s or 2m" in err
    dw.fails(glob("    drain_timeout_secs 4s"), "Dwaarfile:2:24: invalid value for 'drain_timeout_secs': '4s'")


# --- CFG-26: email, debug, auto_https, unknown options ----------------------------------------------

def test_CFG_26_email_debug_auto_https(dw):
    g = dw.adapt(glob("    email a@b.c\n    debug\n    auto_https disable_redirects"))["global"]
    assert g["email"] == "a@b.c"
    assert g["debug"] is True
    assert g["auto_https"] == "disable_redirects"


def test_CFG_26_auto_https_off_makes_sites_plain(dw):
    m = dw.adapt(glob("    auto_https off") + "a.test {\n}\n")
    assert m["global"]["auto_https"] == "off"
    assert addrs(m) == [("a.test", 80, False)]
    assert site(m)["tls_mode"] == "off"


def test_CFG_26_auto_https_invalid(dw):
    # decision 17
    dw.fails(glob("    auto_https sometimes"),
             "Dwaarfile:2:16: invalid value for 'auto_https': 'sometimes' (expected one of: off, disable_redirects)")


def test_CFG_26_email_invalid(dw):
    dw.fails(glob("    email nobody"), "Dwaarfile:2:11: invalid value for 'email': 'nobody' is not an email address")


def test_CFG_26_unknown_options_warn(dw):
    dw.warns(glob("    admin off") + "a.test {\n}\n", "Dwaarfile:2:5: warning: unknown global option 'admin' ignored")
    m = dw.warns(glob("    grace_period 10s {\n        foo bar\n        baz {\n        }\n    }\n    http_port 8080"),
                 "unknown global option 'grace_period' ignored")
    # the block was skipped and what follows still applies
    assert m["global"]["http_port"] == 8080
    dw.warns(glob("    storage file_system /var/x\n    order foo before bar"), "unknown global option 'order' ignored")


# --- CFG-27: auto_update ---------------------------------------------------------------------------

def test_CFG_27_auto_update_valid(dw):
    g = dw.adapt(glob("    auto_update {\n        enabled false\n        channel beta\n        check_interval 1h\n"
                      "        window 02:00-04:30\n        on_new_version notify\n        drain_timeout_secs 90\n"
                      "        health_check_url https://x.test/h\n        rollback_on_health_fail no\n    }"))["global"]
    assert g["auto_update"] == {
        "enabled": False, "channel": "beta", "check_interval_ms": 3600000, "window": "02:00-04:30",
        "on_new_version": "notify", "drain_timeout_ms": 90000, "health_check_url": "https://x.test/h",
        "rollback_on_health_fail": False}


def test_CFG_27_auto_update_defaults(dw):
    g = dw.adapt(glob("    auto_update {\n    }"))["global"]
    assert g["auto_update"] == {
        "enabled": True, "channel": "stable", "check_interval_ms": 21600000, "window": None,
        "on_new_version": "reload", "drain_timeout_ms": 60000,
        "health_check_url": "http://127.0.0.1:6663/healthz", "rollback_on_health_fail": True}


def test_CFG_27_auto_update_channel(dw):
    dw.fails(glob("    auto_update {\n        channel nightly\n    }"),
             "Dwaarfile:3:17: invalid value for 'channel': 'nightly' (expected one of: stable, beta)")


def test_CFG_27_auto_update_window(dw):
    dw.fails(glob("    auto_update {\n        window 25:00-01:00\n    }"),
             "Dwaarfile:3:16: invalid value for 'window': '25:00-01:00'")
    for bad in ["02:60-03:00", "0200-0300", "02:00", "2:00-3:0", "02:00-24:00", "aa:bb-cc:dd"]:
        dw.fails(glob("    auto_update {\n        window %s\n    }" % bad), "invalid value for 'window': '%s'" % bad)
    g = dw.adapt(glob("    auto_update {\n        window 23:30-0:15\n    }"))["global"]
    assert g["auto_update"]["window"] == "23:30-00:15"


def test_CFG_27_auto_update_bad_values_and_keys(dw):
    dw.fails(glob("    auto_update {\n        frequency 1h\n    }"), "Dwaarfile:3:9: unknown auto_update option 'frequency'")
    dw.fails(glob("    auto_update {\n        enabled maybe\n    }"), "invalid value for 'enabled': 'maybe'")
    dw.fails(glob("    auto_update {\n        check_interval soon\n    }"),
             "invalid value for 'check_interval': 'soon' is not a valid duration")
    dw.fails(glob("    auto_update {\n        on_new_version restart\n    }"),
             "invalid value for 'on_new_version': 'restart' (expected one of: reload, notify)")
    dw.fails(glob("    auto_update {\n        health_check_url ftp://x/h\n    }"),
             "invalid value for 'health_check_url': 'ftp://x/h'")
    dw.fails(glob("    auto_update {\n        drain_timeout_secs -1\n    }"), "invalid value for 'drain_timeout_secs'")
    dw.fails(glob("    auto_update"), "Dwaarfile:2:5: expected '{' block after 'auto_update'")


# --- CFG-28: tracing ---------------------------------------------------------------------------------

def test_CFG_28_tracing_requires_endpoint(dw):
    dw.fails(glob("    tracing {\n        sample_ratio 0.5\n    }"), "Dwaarfile:2:5: 'tracing' requires 'otlp_endpoint <url>'")


def test_CFG_28_tracing_valid(dw):
    g = dw.adapt(glob("    tracing {\n        otlp_endpoint http://otel:4318/v1/traces\n        sample_ratio 0.25\n    }"))
    assert g["global"]["tracing"] == {"otlp_endpoint": "http://otel:4318/v1/traces", "sample_ratio": 0.25}
    g = dw.adapt(glob("    tracing {\n        otlp_endpoint https://otel\n    }"))
    assert g["global"]["tracing"]["sample_ratio"] == 1.0


def test_CFG_28_tracing_ratio_clamped_and_non_finite_ignored(dw):
    m = dw.warns(glob("    tracing {\n        otlp_endpoint http://o:1\n        sample_ratio 7\n    }"), "clamped to 1")
    assert m["global"]["tracing"]["sample_ratio"] == 1.0
    m = dw.warns(glob("    tracing {\n        otlp_endpoint http://o:1\n        sample_ratio -2\n    }"), "clamped to 0")
    assert m["global"]["tracing"]["sample_ratio"] == 0.0
    m = dw.warns(glob("    tracing {\n        otlp_endpoint http://o:1\n        sample_ratio nan\n    }"),
                 "not finite and is ignored")
    assert m["global"]["tracing"]["sample_ratio"] == 1.0


def test_CFG_28_tracing_bad_values(dw):
    dw.fails(glob("    tracing {\n        otlp_endpoint http://o:1\n        sample_ratio half\n    }"),
             "Dwaarfile:4:22: invalid value for 'sample_ratio': 'half' is not a number")
    dw.fails(glob("    tracing {\n        otlp_endpoint otel:4318\n    }"),
             "invalid value for 'otlp_endpoint': 'otel:4318' is not an http:// or https:// URL")
    dw.fails(glob("    tracing {\n        otlp_endpoint http://o:1\n        exporter zipkin\n    }"),
             "unknown tracing option 'exporter'")


# --- CFG-31: servers ------------------------------------------------------------------------------------

def test_CFG_31_servers_h3_on(dw):
    m = dw.adapt(glob("    servers {\n        h3 on\n        h3_max_streams 250\n    }") + "a.test {\n}\n")
    assert m["global"]["servers"]["h3"] is True
    assert m["global"]["servers"]["h3_max_streams"] == 250
    assert dw.adapt(glob("    servers {\n        h3 off\n    }"))["global"]["servers"]["h3"] is False


def test_CFG_31_servers_h3_invalid(dw):
    # decision 17
    dw.fails(glob("    servers {\n        h3 yes-please\n    }"),
             "Dwaarfile:3:12: invalid value for 'h3': 'yes-please' (expected one of: on, off)")
    dw.fails(glob("    servers {\n        h3_max_streams 0\n    }"), "invalid value for 'h3_max_streams': '0'")


def test_CFG_31_servers_unknown_key_warns(dw):
    m = dw.warns(glob("    servers {\n        foo 1\n        h3 on\n    }"),
                 "Dwaarfile:3:9: warning: unknown servers option 'foo' ignored")
    assert m["global"]["servers"]["h3"] is True


def test_servers_trusted_proxies(dw):
    m = dw.adapt(glob("    servers {\n        trusted_proxies static 10.0.0.0/8 192.0.2.1 2001:db8::/32\n    }"))
    assert m["global"]["servers"]["trusted_proxies"] == ["10.0.0.0/8", "192.0.2.1/32", "2001:db8::/32"]
    m = dw.adapt(glob("    servers {\n        trusted_proxies static private_ranges\n    }"))
    assert m["global"]["servers"]["trusted_proxies"] == [
        "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "fc00::/7", "::1/128"]
    dw.fails(glob("    servers {\n        trusted_proxies static 10.0.0.0/33\n    }"),
             "Dwaarfile:3:32: invalid value for 'trusted_proxies': '10.0.0.0/33' is not an IP address or CIDR range")
    dw.fails(glob("    servers {\n        trusted_proxies static\n    }"), "expected an IP range")


def test_servers_listener_wrappers_layer4(dw):
    m = dw.adapt(glob("    servers {\n        listener_wrappers {\n            layer4 {\n                @ssh ssh\n"
                      "                route @ssh {\n                    proxy 127.0.0.1:22\n                }\n"
                      "            }\n            tls\n        }\n    }"))
    lw = m["global"]["servers"]["listener_wrappers"]["layer4"]
    assert lw["matchers"] == {"@ssh": [{"matcher": "ssh"}]}
    assert lw["routes"][0]["matchers"] == ["@ssh"]
    assert lw["routes"][0]["handlers"][0]["upstreams"][0]["port"] == 22


def test_global_layer4_block(dw):
    m = dw.adapt(glob("    layer4 {\n        :7000 {\n            route {\n                proxy 127.0.0.1:7001\n"
                      "            }\n        }\n    }") +
                 "layer4 {\n    :7002 {\n        route {\n            proxy 127.0.0.1:7003\n        }\n    }\n}\n")
    # the global and top-level blocks merge
    assert [s["listen"][0]["port"] for s in m["layer4"]["servers"]] == [7000, 7002]


def test_global_options_reject_stray_blocks_and_args(dw):
    dw.fails(glob("    http_port 8080 {\n        x\n    }"), "'http_port' does not take a block")
    dw.fails(glob("    timeouts"), "Dwaarfile:2:5: expected '{' block after 'timeouts'")
    dw.fails(glob("    debug maybe"), "invalid value for 'debug': 'maybe'")


def test_global_every_error_in_one_run(dw):
    err = dw.fails(glob("    http_port abc\n    https_port x\n    auto_https nope"), "Dwaarfile:2:15:")
    assert "Dwaarfile:3:16: invalid value for 'https_port'" in err
    assert "Dwaarfile:4:16: invalid value for 'auto_https'" in err
