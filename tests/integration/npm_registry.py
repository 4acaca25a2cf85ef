"""A small npm registry over HTTPS on 127.0.0.1, with a certificate authority of its own.

It stands where a company's registry (or a TLS-intercepting proxy) stands for a user: npm reaches it
only when the user's npm settings (``npm_config_registry``) and CA bundle reach npm. It serves the
packages it is given (name -> version -> files) and records every request path.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import io
import ipaddress
import json
import ssl
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def make_tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it: (ca.pem, chain.pem, key.pem).

    The chain holds the server certificate and the CA, as an intercepting proxy sends them: a client
    that does not trust the CA fails with SELF_SIGNED_CERT_IN_CHAIN."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "paygate test registry CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    ca_pem = directory / "ca.pem"
    chain_pem = directory / "chain.pem"
    key_pem = directory / "key.pem"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return ca_pem, chain_pem, key_pem


def package_tarball(name: str, version: str, files: dict[str, str]) -> bytes:
    """An npm package tarball: ``package/package.json`` and ``files`` under ``package/``."""
    members = {"package.json": json.dumps({"name": name, "version": version, "license": "MIT"}), **files}
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for path, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(f"package/{path}")
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


class NpmRegistry:
    """``with NpmRegistry(packages, tls_dir) as registry``: serves on ``registry.url`` until the block ends."""

    def __init__(self, packages: dict[str, dict[str, dict[str, str]]], tls_dir: Path) -> None:
        self.ca_pem, chain_pem, key_pem = make_tls_files(tls_dir)
        self.requests: list[str] = []
        self._tarballs: dict[str, bytes] = {}
        self._packuments: dict[str, dict] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(chain_pem, key_pem)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}/"
        for name, versions in packages.items():
            entries = {}
            for version, files in versions.items():
                data = package_tarball(name, version, files)
                path = f"/{name}/-/{name}-{version}.tgz"
                self._tarballs[path] = data
                entries[version] = {
                    "name": name, "version": version,
                    "dist": {"tarball": self.url.rstrip("/") + path, "shasum": hashlib.sha1(data).hexdigest(),
                             "integrity": "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()},
                }
            self._packuments[f"/{name}"] = {"name": name, "dist-tags": {"latest": max(versions)}, "versions": entries}
        self._thread = threading.Thread(target=self._server.serve_forever, name="npm-registry", daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                registry.requests.append(self.path)
                if self.path in registry._packuments:
                    self._send(json.dumps(registry._packuments[self.path]).encode(), "application/json")
                elif self.path in registry._tarballs:
                    self._send(registry._tarballs[self.path], "application/octet-stream")
                else:
                    self._send(b'{"error": "Not found"}', "application/json", 404)

            def _send(self, body: bytes, content_type: str, status: int = 200) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def __enter__(self) -> NpmRegistry:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
