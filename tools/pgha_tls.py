"""The local cluster's TLS material and etcd credentials (`pgha-cluster up --tls`).

ClusterPki writes, with the openssl command, a private CA and the certificates the cluster's
parts present to each other, into DIR/tls:

  ca.crt               the CA every part trusts (and nothing else)
  etcd.crt/.key        etcd's members, for client and peer connections (server and client use)
  NODE.crt/.key        each node's REST API (server use; client use too: the agent presents it
                       to the other members' REST APIs and to etcd)
  client.crt/.key      the tools' and the proxy's client certificate (pghactl, patronictl, the
                       launcher itself, HTTP checks); client.pem is both in one file, as HAProxy's
                       `crt` wants it

Client certificates carry no CommonName: etcd 3.4 refuses any request that reaches its HTTP
gateway (which pgha-agent, Patroni and this launcher use) with a certificate that has one
("CommonName of client sending a request against gateway will be ignored"), since it cannot map
it to an etcd user there. Clients authenticate to etcd by password instead; the certificate
only proves they belong to the cluster.

Keys are 0600 and owned by the postgres user, who runs the agents; root (etcd, the proxy, the
launcher) reads them anyway. Only the standard library is used.
"""

import shutil
import ssl
import subprocess
from pathlib import Path

# The etcd user the agents and tools authenticate as, and root's password (auth needs a root).
ETCD_USER = ("pgha", "pgha_etcd_pass")
ETCD_ROOT = ("root", "pgha_etcd_root_pass")
# The key prefix Patroni and pgha-agent keep their cluster under ("namespace" in patroni.yml).
ETCD_PREFIX = "/service/"


class PkiError(RuntimeError):
    """openssl or etcdctl failed; the message has its output."""


def _run(argv, what):
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise PkiError(f"{what}: {' '.join(argv)} exited with {result.returncode}:\n"
                       f"{result.stdout}{result.stderr}")
    return result.stdout


class ClusterPki:
    """The files above, under `dir` (created by create()). Paths are attributes or methods."""

    def __init__(self, dir):
        self.dir = Path(dir)
        self.ca_cert = self.dir / "ca.crt"
        self.ca_key = self.dir / "ca.key"
        self.etcd_cert = self.dir / "etcd.crt"
        self.etcd_key = self.dir / "etcd.key"
        self.client_cert = self.dir / "client.crt"
        self.client_key = self.dir / "client.key"
        self.client_pem = self.dir / "client.pem"

    def node_cert(self, name):
        return self.dir / f"{name}.crt"

    def node_key(self, name):
        return self.dir / f"{name}.key"

    def create(self, etcd_hosts, node_hosts):
        """Writes the CA and every certificate. `etcd_hosts`: the addresses etcd is reached at;
        `node_hosts`: {node name: address}. 127.0.0.1 and localhost are always in the names."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o755)
        _run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
              "-days", "30", "-subj", "/CN=pgha local cluster CA", "-keyout", str(self.ca_key),
              "-out", str(self.ca_cert)], "CA")
        self._leaf("etcd", "/CN=etcd", etcd_hosts, "serverAuth,clientAuth")
        for name, host in node_hosts.items():
            self._leaf(name, f"/O=pgha/OU={name}", [host], "serverAuth,clientAuth")
        self._leaf("client", "/O=pgha/OU=client", [], "clientAuth")
        self.client_pem.write_text(self.client_cert.read_text() + self.client_key.read_text())
        for key in self.dir.glob("*.key"):
            self._private(key)
        self._private(self.client_pem)

    def _leaf(self, name, subject, hosts, usage):
        """A key and a certificate signed by the CA, for `hosts` (plus 127.0.0.1 and localhost)
        in subjectAltName unless it is a client's only. A certificate that is also etcd's client
        has no CommonName in `subject` (see the module comment)."""
        key, csr, ext = self.dir / f"{name}.key", self.dir / f"{name}.csr", self.dir / f"{name}.ext"
        names = [f"IP:{h}" for h in dict.fromkeys([*hosts, "127.0.0.1"])] + ["DNS:localhost"]
        lines = [f"extendedKeyUsage={usage}"]
        if usage != "clientAuth":
            lines.append("subjectAltName=" + ",".join(names))
        ext.write_text("\n".join(lines) + "\n")
        _run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
              "-subj", subject, "-keyout", str(key), "-out", str(csr)], f"{name} key")
        _run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(self.ca_cert), "-CAkey", str(self.ca_key),
              "-CAcreateserial", "-days", "30", "-extfile", str(ext), "-out", str(self.dir / f"{name}.crt")],
             f"{name} certificate")
        csr.unlink()
        ext.unlink()

    @staticmethod
    def _private(path):
        path.chmod(0o600)
        shutil.chown(path, "postgres", "postgres")

    def client_context(self):
        """An ssl.SSLContext for the launcher's own requests (REST APIs, etcd): verifies against
        the cluster's CA and presents the client certificate."""
        context = ssl.create_default_context(cafile=str(self.ca_cert))
        context.load_cert_chain(str(self.client_cert), str(self.client_key))
        return context

    def etcd_server_flags(self):
        """etcd's flags for TLS on client and peer URLs, client certificates required on both."""
        return ["--cert-file", str(self.etcd_cert), "--key-file", str(self.etcd_key),
                "--trusted-ca-file", str(self.ca_cert), "--client-cert-auth",
                "--peer-cert-file", str(self.etcd_cert), "--peer-key-file", str(self.etcd_key),
                "--peer-trusted-ca-file", str(self.ca_cert), "--peer-client-cert-auth"]

    def etcdctl(self, endpoints, *args, user=ETCD_ROOT):
        """Runs etcdctl with the client certificate (and `user`, None for none) and returns its
        output; raises PkiError when it fails."""
        argv = ["etcdctl", "--endpoints", ",".join(endpoints), "--cacert", str(self.ca_cert),
                "--cert", str(self.client_cert), "--key", str(self.client_key), "--dial-timeout", "3s",
                "--command-timeout", "5s"]
        if user:
            argv += ["--user", f"{user[0]}:{user[1]}"]
        return _run(argv + list(args), "etcdctl " + " ".join(args))

    def enable_etcd_auth(self, endpoints):
        """Creates root and the agents' user, whose role may read and write the cluster's prefix
        only, then turns authentication on. Idempotent enough for one fresh etcd."""
        self.etcdctl(endpoints, "user", "add", f"{ETCD_ROOT[0]}:{ETCD_ROOT[1]}", user=None)
        self.etcdctl(endpoints, "role", "add", ETCD_USER[0], user=None)
        self.etcdctl(endpoints, "role", "grant-permission", ETCD_USER[0], "--prefix=true", "readwrite",
                     ETCD_PREFIX, user=None)
        self.etcdctl(endpoints, "user", "add", f"{ETCD_USER[0]}:{ETCD_USER[1]}", user=None)
        self.etcdctl(endpoints, "user", "grant-role", ETCD_USER[0], ETCD_USER[0], user=None)
        self.etcdctl(endpoints, "auth", "enable", user=None)

    def patroni_settings(self, node_name):
        """The patroni.yml fragments for one node, as template values: `restapi_tls` (under
        restapi:), `etcd3_tls` (under etcd3:) and `ctl` (a top-level section)."""
        indent = "  "
        restapi = [f"certfile: {self.node_cert(node_name)}", f"keyfile: {self.node_key(node_name)}",
                   f"cafile: {self.ca_cert}", "verify_client: required"]
        etcd3 = ["protocol: https", f"cacert: {self.ca_cert}", f"cert: {self.node_cert(node_name)}",
                 f"key: {self.node_key(node_name)}", f"username: {ETCD_USER[0]}", f"password: {ETCD_USER[1]}"]
        ctl = [f"cacert: {self.ca_cert}", f"certfile: {self.client_cert}", f"keyfile: {self.client_key}"]
        return {"restapi_tls": "".join(f"\n{indent}{line}" for line in restapi),
                "etcd3_tls": "".join(f"\n{indent}{line}" for line in etcd3),
                "ctl": "ctl:" + "".join(f"\n{indent}{line}" for line in ctl) + "\n"}

    def http_check_options(self):
        """What a `server ... check` line of an haproxy.cfg needs for a TLS REST API."""
        return f"check-ssl verify required ca-file {self.ca_cert} crt {self.client_pem}"

    def yaml_check_tls(self):
        """The same for pgha-proxy's YAML: the `tls` of a server's `check` (a flow mapping)."""
        return (f"{{ verify: required, ca_file: {self.ca_cert}, cert_file: {self.client_cert}, "
                f"key_file: {self.client_key} }}")
