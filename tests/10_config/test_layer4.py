"""The layer4 block (spec 10 §8, decisions 23, 24): L4-01..L4-13 at load time. Runtime
behaviour (relaying, peeking, failover) is driven by this model; the tests check that the
model holds what the runtime needs, and that every error the spec names is reported."""


def l4(body):
    return "layer4 {\n" + body + "\n}\n"


def server(m, i=0):
    return m["layer4"]["servers"][i]


def routes(m, i=0):
    return server(m, i)["routes"]


L4_01 = l4("    :7443 {\n        @t tls sni a.test\n        route @t {\n            proxy 127.0.0.1:9001\n        }\n    }")


def test_layer4_absent(dw):
    assert dw.adapt("a.test {\n}\n")["layer4"] == {"servers": []}


def test_L4_01_sni_route_to_proxy(dw):
    m = dw.adapt(L4_01)
    s = server(m)
    assert s["protocol"] == "tcp"
    assert s["listen"] == [{"address": ":7443", "host": "", "port": 7443}]
    rs = s["routes"]
    assert rs["matchers"] == {"@t": [{"matcher": "tls", "sni": ["a.test"], "alpn": []}]}
    assert len(rs["routes"]) == 1
    r = rs["routes"][0]
    assert r["matchers"] == ["@t"]
    assert r["handlers"] == [{"handler": "proxy", "upstreams": [{"address": "127.0.0.1:9001", "host": "127.0.0.1",
                                                                  "port": 9001}],
                              "lb_policy": "round_robin", "max_fails": 3, "fail_duration_ms": 10000,
                              "connect_timeout_ms": 10000}]


def test_L4_01_listen_forms(dw):
    m = dw.adapt(l4("    127.0.0.1:7001 [::1]:7002 {\n        route {\n            proxy 127.0.0.1:1\n        }\n    }"))
    assert server(m)["listen"] == [{"address": "127.0.0.1:7001", "host": "127.0.0.1", "port": 7001},
                                   {"address": "[::1]:7002", "host": "::1", "port": 7002}]


def test_L4_02_sni_wildcard_and_alpn(dw):
    m = dw.adapt(l4("    :7443 {\n        @w tls sni *.test\n        @h2 tls alpn h2 http/1.1\n"
                    "        @both tls sni A.Test b.test alpn h2\n        @any tls\n"
                    "        route @w {\n            proxy 127.0.0.1:1\n        }\n    }"))
    ms = routes(m)["matchers"]
    assert ms["@w"] == [{"matcher": "tls", "sni": ["*.test"], "alpn": []}]
    assert ms["@h2"] == [{"matcher": "tls", "sni": [], "alpn": ["h2", "http/1.1"]}]
    # SNI compares case-insensitively: kept lower-case
    assert ms["@both"] == [{"matcher": "tls", "sni": ["a.test", "b.test"], "alpn": ["h2"]}]
    assert ms["@any"] == [{"matcher": "tls", "sni": [], "alpn": []}]


def test_L4_03_ssh_postgres_http_matchers(dw):
    m = dw.adapt(l4("    :7000 {\n        @s ssh\n        @p postgres\n        @h http host www.test\n        @a http\n"
                    "        route @s {\n            proxy 127.0.0.1:22\n        }\n"
                    "        route @p {\n            proxy 127.0.0.1:5432\n        }\n"
                    "        route @h {\n            proxy 127.0.0.1:8080\n        }\n    }"))
    rs = routes(m)
    assert rs["matchers"]["@s"] == [{"matcher": "ssh"}]
    assert rs["matchers"]["@p"] == [{"matcher": "postgres"}]
    assert rs["matchers"]["@h"] == [{"matcher": "http", "host": ["www.test"]}]
    assert rs["matchers"]["@a"] == [{"matcher": "http", "host": []}]
    assert [r["matchers"] for r in rs["routes"]] == [["@s"], ["@p"], ["@h"]]


def test_L4_04_not_remote_ip(dw):
    m = dw.adapt(l4("    :7000 {\n        @e not remote_ip 10.0.0.0/8\n        @r remote_ip 127.0.0.1 ::1 192.168.0.0/16\n"
                    "        @pr remote_ip private_ranges\n"
                    "        route @e {\n            proxy 127.0.0.1:1\n        }\n    }"))
    ms = routes(m)["matchers"]
    assert ms["@e"] == [{"matcher": "remote_ip", "not": True, "ranges": ["10.0.0.0/8"]}]
    assert ms["@r"] == [{"matcher": "remote_ip", "ranges": ["127.0.0.1/32", "::1/128", "192.168.0.0/16"]}]
    assert len(ms["@pr"][0]["ranges"]) == 6


def test_L4_04_one_line_conditions_and_quoting(dw):
    # spec 10 §8.1: several conditions on one line are ANDed; decision 23: an unquoted keyword
    # starts the next condition, a value equal to a keyword is quoted
    m = dw.adapt(l4('    :7000 {\n        @c tls sni a.test not remote_ip 10.0.0.0/8\n        @q tls sni "http" ssh\n'
                    "        @b {\n            tls sni b.test\n            not remote_ip 10.0.0.0/8\n        }\n"
                    "        route @c {\n            proxy 127.0.0.1:1\n        }\n    }"))
    ms = routes(m)["matchers"]
    assert ms["@c"] == [{"matcher": "tls", "sni": ["a.test"], "alpn": []},
                        {"matcher": "remote_ip", "not": True, "ranges": ["10.0.0.0/8"]}]
    assert ms["@q"] == [{"matcher": "tls", "sni": ["http"], "alpn": []}, {"matcher": "ssh"}]
    assert ms["@b"] == [{"matcher": "tls", "sni": ["b.test"], "alpn": []},
                        {"matcher": "remote_ip", "not": True, "ranges": ["10.0.0.0/8"]}]


def test_L4_04_matcher_errors(dw):
    def fails(line, msg):
        dw.fails(l4("    :7000 {\n        %s\n        route {\n            proxy 127.0.0.1:1\n        }\n    }" % line), msg)
    fails("@x remote_ip 10.0.0.0/40", "Dwaarfile:3:22: invalid value for 'remote_ip': '10.0.0.0/40'")
    fails("@x remote_ip", "Dwaarfile:3:12: expected an IP range after 'remote_ip'")
    fails("@x tls foo", "Dwaarfile:3:16: expected 'sni' or 'alpn' after 'tls', got 'foo'")
    fails("@x tls sni", "Dwaarfile:3:16: expected at least one value after 'sni'")
    fails("@x http server a", "expected 'host' after 'http', got 'server'")
    fails("@x ssh v2", "unexpected argument 'v2' to layer4 matcher 'ssh'")
    fails("@x not", "Dwaarfile:3:12: expected a matcher after 'not'")
    fails("@x", "matcher '@x' needs a condition")
    fails("@x! ssh", "invalid matcher name '@x!'")
    dw.fails(l4("    :7000 {\n        @x ssh\n        @x postgres\n    }"), "Dwaarfile:4:9: matcher '@x' is already defined")


def test_L4_04_unknown_matcher_warns(dw):
    m = dw.warns(l4("    :7000 {\n        @x rdp\n        route @x {\n            proxy 127.0.0.1:1\n        }\n    }"),
                 "Dwaarfile:3:12: warning: unknown layer4 matcher 'rdp' never matches")
    assert routes(m)["matchers"]["@x"] == [{"matcher": "rdp", "unknown": True}]


def test_L4_05_catch_all_and_order(dw):
    m = dw.adapt(l4("    :7000 {\n        @s ssh\n        route {\n            proxy 127.0.0.1:1\n        }\n"
                    "        route @s {\n            proxy 127.0.0.1:2\n        }\n        route {\n"
                    "            proxy 127.0.0.1:3\n        }\n    }"))
    rs = routes(m)["routes"]
    assert [r["matchers"] for r in rs] == [[], ["@s"], []]
    assert [r["handlers"][0]["upstreams"][0]["port"] for r in rs] == [1, 2, 3]


def test_L4_05_route_with_several_matchers(dw):
    m = dw.adapt(l4("    :7000 {\n        @a tls\n        @b remote_ip 127.0.0.0/8\n        route @a @b {\n"
                    "            proxy 127.0.0.1:1\n        }\n    }"))
    assert routes(m)["routes"][0]["matchers"] == ["@a", "@b"]


def test_L4_06_peek_limits(dw):
    # 3 s default matching timeout (the 4 KiB peek limit is fixed)
    assert routes(dw.adapt(L4_01))["matching_timeout_ms"] == 3000


def test_L4_07_proxy_upstream_lists(dw):
    for key in ["to", "upstream", "upstreams"]:
        m = dw.adapt(l4("    :7000 {\n        route {\n            proxy {\n                %s a.internal:1 b.internal:2\n"
                        "            }\n        }\n    }" % key))
        h = routes(m)["routes"][0]["handlers"][0]
        # host names are kept and resolved when connecting (decision 24)
        assert [(u["host"], u["port"]) for u in h["upstreams"]] == [("a.internal", 1), ("b.internal", 2)]
        assert h["lb_policy"] == "round_robin"
    m = dw.adapt(l4("    :7000 {\n        route {\n            proxy 127.0.0.1:1 [::1]:2 :3\n        }\n    }"))
    h = routes(m)["routes"][0]["handlers"][0]
    assert [(u["host"], u["port"]) for u in h["upstreams"]] == [("127.0.0.1", 1), ("::1", 2), ("127.0.0.1", 3)]


def test_L4_07_lb_policy(dw):
    for p in ["round_robin", "least_conn", "random", "ip_hash"]:
        m = dw.adapt(l4("    :7000 {\n        route {\n            proxy {\n                to a:1\n"
                        "                lb_policy %s\n            }\n        }\n    }" % p))
        assert routes(m)["routes"][0]["handlers"][0]["lb_policy"] == p
    m = dw.warns(l4("    :7000 {\n        route {\n            proxy {\n                to a:1\n"
                    "                lb_policy fastest\n            }\n        }\n    }"),
                 "Dwaarfile:6:27: warning: unknown lb_policy 'fastest', using round_robin")
    assert routes(m)["routes"][0]["handlers"][0]["lb_policy"] == "round_robin"


def test_L4_08_passive_failure_settings(dw):
    m = dw.adapt(l4("    :7000 {\n        route {\n            proxy {\n                to a:1 b:2\n                max_fails 2\n"
                    "                fail_duration 20s\n                connect_timeout 3s\n                health_interval 5s\n"
                    "                health_uri /h\n            }\n        }\n    }"))
    h = routes(m)["routes"][0]["handlers"][0]
    assert (h["max_fails"], h["fail_duration_ms"], h["connect_timeout_ms"]) == (2, 20000, 3000)
    m = dw.adapt(l4("    :7000 {\n        route {\n            proxy {\n                to a:1\n"
                    "                health_timeout 4s\n            }\n        }\n    }"))
    assert routes(m)["routes"][0]["handlers"][0]["connect_timeout_ms"] == 4000


def test_L4_08_proxy_errors(dw):
    def fails(block, msg):
        dw.fails(l4("    :7000 {\n        route {\n%s\n        }\n    }" % block), msg)
    fails("            proxy", "Dwaarfile:4:13: layer4 proxy requires at least one upstream")
    fails("            proxy {\n                lb_policy random\n            }", "layer4 proxy requires at least one upstream")
    fails("            proxy example.com", "Dwaarfile:4:19: invalid layer4 upstream address 'example.com'")
    fails("            proxy 10.0.0.0/8:1", "invalid layer4 upstream address '10.0.0.0/8:1'")
    fails("            proxy {\n                to a:1\n                max_fails none\n            }", "invalid value for 'max_fails': 'none'")
    fails("            proxy {\n                to a:1\n                fail_duration 1.5s\n            }",
          "invalid value for 'fail_duration': '1.5s'")


def test_L4_09_tls_termination(dw):
    m = dw.adapt(l4("    :7443 {\n        @t tls\n        route @t {\n            tls\n            proxy 127.0.0.1:8080\n"
                    "        }\n    }"))
    hs = routes(m)["routes"][0]["handlers"]
    assert [h["handler"] for h in hs] == ["tls", "proxy"]
    assert "cert" not in hs[0]  # certificates come from the shared store


def test_L4_09_tls_termination_with_files(dw):
    dw.write("c.pem", "cert")
    dw.write("k.pem", "key")
    m = dw.adapt(l4("    :7443 {\n        route {\n            tls {\n                cert c.pem\n                key k.pem\n"
                    "            }\n            proxy 127.0.0.1:8080\n        }\n    }"))
    h = routes(m)["routes"][0]["handlers"][0]
    assert (h["cert"], h["key"]) == (f"{dw.root}/c.pem", f"{dw.root}/k.pem")
    dw.fails(l4("    :7443 {\n        route {\n            tls {\n                cert nope.pem\n                key k.pem\n"
                "            }\n        }\n    }"), f"Dwaarfile:5:22: certificate file '{dw.root}/nope.pem' is not readable")
    dw.fails(l4("    :7443 {\n        route {\n            tls {\n                cert c.pem\n            }\n        }\n    }"),
             "layer4 'tls' needs both 'cert' and 'key'")


def test_L4_10_subroute_after_tls(dw):
    m = dw.adapt(l4("    :7443 {\n        @t tls\n        route @t {\n            tls\n            subroute {\n"
                    "                matching_timeout 1s\n                @g http host g.test\n"
                    "                route @g @t {\n                    proxy 127.0.0.1:8081\n                }\n"
                    "            }\n        }\n    }"))
    hs = routes(m)["routes"][0]["handlers"]
    assert [h["handler"] for h in hs] == ["tls", "subroute"]
    sub = hs[1]["routes"]
    assert sub["matching_timeout_ms"] == 1000
    assert sub["matchers"] == {"@g": [{"matcher": "http", "host": ["g.test"]}]}
    # the outer matcher is visible inside the subroute
    assert sub["routes"][0]["matchers"] == ["@g", "@t"]


def test_L4_10_subroute_nesting_is_bounded(dw):
    depth = 12
    inner = "proxy 127.0.0.1:1"
    for _ in range(depth):
        inner = "subroute {\nroute {\n" + inner + "\n}\n}"
    dw.fails(l4("    :7000 {\n        route {\n" + inner + "\n        }\n    }"), "layer4 subroutes nested too deeply")


def test_L4_11_undefined_matcher_and_bad_listen(dw):
    dw.fails(l4("    :7000 {\n        route @undefined {\n            proxy 127.0.0.1:1\n        }\n    }"),
             "Dwaarfile:3:15: matcher '@undefined' is not defined")
    dw.fails(l4("    foo {\n        route {\n            proxy 127.0.0.1:1\n        }\n    }"),
             "Dwaarfile:2:5: invalid layer4 listen address 'foo'")
    for bad in ["localhost:7000", "7000", ":0", ":70000", "10.0.0.0/8:1", "[::1]", "::1:80"]:
        dw.fails(l4("    %s {\n    }" % bad), "invalid layer4 listen address '%s'" % bad)


def test_L4_11_route_syntax(dw):
    dw.fails(l4("    :7000 {\n        route foo {\n            proxy 127.0.0.1:1\n        }\n    }"),
             "Dwaarfile:3:15: expected matcher reference or '{' after layer4 route")
    dw.fails(l4('    :7000 {\n        @t tls\n        route "@t" {\n        }\n    }'),
             "expected matcher reference or '{' after layer4 route")
    dw.fails(l4("    :7000 {\n        @t tls\n        route @t\n    }"),
             "Dwaarfile:4:15: expected matcher reference or '{' after layer4 route")
    dw.fails(l4("    :7000\n"), "Dwaarfile:2:5: expected '{' after layer4 listen address")


def test_L4_11_unknown_items_warn(dw):
    m = dw.warns(l4("    :7000 {\n        reject\n        route {\n            proxy 127.0.0.1:1\n            bogus 1\n"
                    "        }\n    }"), "Dwaarfile:3:9: warning: unknown layer4 item 'reject' skipped")
    assert len(routes(m)["routes"][0]["handlers"]) == 1
    dw.warns(l4("    :7000 {\n        route {\n            bogus\n        }\n    }"),
             "Dwaarfile:4:13: warning: unknown layer4 handler 'bogus' skipped")


def test_L4_11_duplicate_listen(dw):
    dw.fails(l4("    :7000 {\n    }\n    :7000 {\n    }"), "Dwaarfile:4:5: layer4 listen address ':7000' is already used")
    # the global and the top-level blocks merge: the same address in both is a duplicate
    dw.fails("{\n    layer4 {\n        :7000 {\n        }\n    }\n}\n" + l4("    :7000 {\n    }"),
             "Dwaarfile:8:5: layer4 listen address ':7000' is already used")


def test_L4_12_udp(dw):
    m = dw.adapt(l4("    udp :5353 {\n        proxy 127.0.0.1:53\n    }"))
    s = server(m)
    assert s["protocol"] == "udp"
    assert s["listen"] == [{"address": ":5353", "host": "", "port": 5353}]
    assert s["proxy"] == {"upstreams": [{"address": "127.0.0.1:53", "host": "127.0.0.1", "port": 53}],
                          "lb_policy": "ip_hash", "max_sessions": 10000, "idle_timeout_ms": 30000}
    m = dw.adapt(l4("    udp :5353 {\n        proxy 10.0.0.1:53 10.0.0.2:53 {\n            lb_policy round_robin\n"
                    "            max_sessions 50\n            idle_timeout 5s\n        }\n    }"))
    p = server(m)["proxy"]
    assert (len(p["upstreams"]), p["lb_policy"], p["max_sessions"], p["idle_timeout_ms"]) == (2, "round_robin", 50, 5000)
    # the same port for TCP and UDP is two listeners
    m = dw.adapt(l4("    :5353 {\n    }\n    udp :5353 {\n        proxy 127.0.0.1:53\n    }"))
    assert [s["protocol"] for s in m["layer4"]["servers"]] == ["tcp", "udp"]


def test_L4_12_udp_errors(dw):
    dw.fails(l4("    udp :5353 {\n    }"), "Dwaarfile:2:5: layer4 udp server needs 'proxy <upstream>'")
    dw.fails(l4("    udp :5353 {\n        proxy\n    }"), "Dwaarfile:3:9: layer4 proxy requires at least one upstream")
    dw.fails(l4("    udp {\n    }"), "Dwaarfile:2:5: expected a listen address after 'udp'")
    dw.fails(l4("    udp dns {\n        proxy 127.0.0.1:53\n    }"), "invalid layer4 listen address 'dns'")


def test_L4_13_listener_wrapper_shares_site_port(dw):
    m = dw.adapt("{\n    servers {\n        listener_wrappers {\n            layer4 {\n                @ssh ssh\n"
                 "                route @ssh {\n                    proxy 127.0.0.1:22\n                }\n"
                 "            }\n            tls\n        }\n    }\n}\n:8080 {\n}\n")
    lw = m["global"]["servers"]["listener_wrappers"]["layer4"]
    assert lw["matchers"]["@ssh"] == [{"matcher": "ssh"}]
    assert lw["routes"][0]["handlers"][0]["upstreams"][0]["port"] == 22
    assert m["sites"][0]["addresses"][0]["port"] == 8080
    assert m["layer4"]["servers"] == []


def test_L4_13_listener_wrapper_errors(dw):
    dw.fails("{\n    servers {\n        listener_wrappers {\n            layer4 {\n                route @nope {\n"
             "                }\n            }\n        }\n    }\n}\n", "Dwaarfile:5:23: matcher '@nope' is not defined")
    dw.warns("{\n    servers {\n        listener_wrappers {\n            proxy_protocol\n        }\n    }\n}\n",
             "unknown listener wrapper 'proxy_protocol' ignored")


def test_layer4_port_used_by_a_site(dw):
    dw.fails(L4_01 + ":7443 {\n}\n", "Dwaarfile:2:5: port 7443 used by layer4 and a site")
    dw.fails(l4("    :443 {\n    }") + "a.test {\n}\n", "port 443 used by layer4 and a site")
    # TLS sites also listen on http_port for redirects
    dw.fails(l4("    :80 {\n    }") + "a.test {\n}\n", "port 80 used by layer4 and a site")
    # auto_https off: the site is plain on port 80, port 443 is free
    dw.adapt("{\n    auto_https off\n}\n" + l4("    :443 {\n    }") + "a.test {\n}\n")
    # a site bound only to a unix socket does not take its TCP port
    dw.adapt(L4_01 + ":7443 {\n    bind unix//tmp/dwaar-test.sock\n}\n")
    # UDP meets the site only through HTTP/3
    dw.adapt(l4("    udp :443 {\n        proxy 127.0.0.1:53\n    }") + "a.test {\n}\n")
    dw.fails("{\n    servers {\n        h3 on\n    }\n}\n" + l4("    udp :443 {\n        proxy 127.0.0.1:53\n    }") +
             "a.test {\n}\n", "port 443 used by layer4 and a site")
