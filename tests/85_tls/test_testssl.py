"""testssl.sh (Debian) against a dwaar TLS listener: only TLS 1.2/1.3 offered, no weak cipher,
no known vulnerability flagged, ALPN h2 and http/1.1 offered, HSTS sent (spec 20 §1.2, TLS-08,
SEC-38). The test CA is passed with --add-ca so chain-of-trust findings are about dwaar, not
about a self-made CA."""
import json
import shutil
import subprocess

import pytest

from livetest import free_port

pytestmark = pytest.mark.skipif(shutil.which("testssl") is None, reason="testssl.sh not installed")

# Findings that describe the test certificate or the scan, not the TLS stack under test.
CERT_IDS = ("cert_", "intermediate_", "chain_of_trust", "OCSP", "DNS_CAArecord", "cert",
            "trust", "CRL", "must_staple", "certificate_transparency", "scanTime",
            "overall_grade", "engine_problem", "pre_128cipher", "clientsimulation")
BAD = ("MEDIUM", "HIGH", "CRITICAL")


def make_ca_and_leaf(d, name):
    def run(*a):
        subprocess.run(a, cwd=d, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "30", "-subj", "/CN=dwaar-test-ca")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", f"/CN={name}")
    (d / "ext.cnf").write_text(f"subjectAltName=DNS:{name}\nextendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "leaf.pem", "-days", "90", "-extfile", "ext.cnf")


def test_tls_testssl_no_weak_protocols_ciphers_or_vulnerabilities(live, tmp_path):
    name = "a.test"
    make_ca_and_leaf(tmp_path, name)
    https = free_port()
    srv = live.start(f"""{{
    http_port {{PORT}}
    https_port {https}
}}
{name} {{
    tls {tmp_path}/leaf.pem {tmp_path}/leaf.key
    respond "ok"
}}
""", wait_ports=[https])
    out = tmp_path / "testssl.json"
    proc = subprocess.run(
        ["testssl", "--quiet", "--color", "0", "--warnings", "off", "--ip", "127.0.0.1",
         "--add-ca", str(tmp_path / "ca.pem"), "--jsonfile-pretty", str(out),
         "-p", "-s", "-f", "-P", "-S", "-h", "-U", f"https://{name}:{https}/"],
        capture_output=True, text=True, timeout=300)
    assert out.exists(), proc.stdout[-2000:] + proc.stderr[-2000:]
    scan = json.loads(out.read_text())["scanResult"][0]
    findings = {}
    for section, items in scan.items():
        if isinstance(items, list):
            for it in items:
                if isinstance(it, dict) and "id" in it:
                    findings[it["id"]] = it
    # protocols: only TLS 1.2 and 1.3
    for pid in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
        assert findings[pid]["finding"].startswith("not offered"), findings[pid]
    assert findings["TLS1_2"]["finding"].startswith("offered"), findings["TLS1_2"]
    assert findings["TLS1_3"]["finding"].startswith("offered"), findings["TLS1_3"]
    # ALPN h2 then http/1.1
    assert "h2" in findings["ALPN_HTTP2"]["finding"], findings["ALPN_HTTP2"]
    assert "http/1.1" in findings["ALPN"]["finding"], findings["ALPN"]
    # HSTS (SEC-38)
    assert findings["HSTS_time"]["severity"] == "OK", findings["HSTS_time"]
    assert findings["HSTS_subdomains"]["severity"] == "OK", findings["HSTS_subdomains"]
    # nothing MEDIUM or worse outside certificate facts
    bad = [f"{i}: {f['severity']} {f['finding']}" for i, f in findings.items()
           if f.get("severity") in BAD and not i.startswith(CERT_IDS)]
    assert not bad, "\n".join(bad)
    # every vulnerability check ran and found nothing
    vulns = scan.get("vulnerabilities", [])
    assert len(vulns) >= 10, vulns
    flagged = [v for v in vulns if v.get("severity") not in ("OK", "INFO", "LOW")]
    assert not flagged, flagged
    srv.stop()
