"""TLS: verification is on by default, a CA file is honoured, and turning it off is explicit.

A throwaway CA and a server certificate for 127.0.0.1 are made with openssl; a tiny local
HTTPS endpoint answers 204, which is all a handshake test needs.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from gateway.sinks.errors import RetryableDeliveryError
from gateway.sinks.influx import make_writer
from tests.support.influx import Api, InfluxWriters, influx_settings
from tests.support.network import serve_http

LINES = ["m f=1i 1"]


def _openssl(folder: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)


@pytest.fixture(scope="module")
def tls_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (./run installs it)")
    folder = tmp_path_factory.mktemp("tls")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        folder, "req", "-x509", *ec, "-days", "1", "-keyout", "ca.key", "-out", "ca.crt",
        "-subj", "/CN=Bluewatch test CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign",
    )  # fmt: skip
    _openssl(folder, "req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=h")
    (folder / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    _openssl(
        folder, "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "1", "-out", "server.crt", "-extfile", "ext.cnf",
    )  # fmt: skip
    return folder


@pytest.fixture
async def https_url(tls_folder: Path) -> AsyncIterator[str]:
    async def accept(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=204)

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_folder / "server.crt", tls_folder / "server.key")
    async with serve_http(accept, ssl_context=context) as url:
        yield url


@pytest.mark.parametrize("api", ["v1", "v2"])
async def test_an_unknown_ca_is_refused_by_default(
    https_url: str, writers: InfluxWriters, api: Api
) -> None:
    writer = writers.open(api, https_url)
    with pytest.raises(RetryableDeliveryError, match="certificate verify failed"):
        await writer.write(LINES)


@pytest.mark.parametrize("api", ["v1", "v2"])
async def test_the_configured_ca_file_is_trusted(
    https_url: str, tls_folder: Path, writers: InfluxWriters, api: Api
) -> None:
    writer = writers.open(api, https_url, ca_file=tls_folder / "ca.crt")
    await writer.write(LINES)


@pytest.mark.parametrize("api", ["v1", "v2"])
async def test_verification_can_be_turned_off_explicitly(
    https_url: str, writers: InfluxWriters, api: Api
) -> None:
    writer = writers.open(api, https_url, verify_tls=False)
    await writer.write(LINES)


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_a_ca_file_without_a_certificate_fails_at_construction(tmp_path: Path, api: Api) -> None:
    bogus = tmp_path / "ca.crt"
    bogus.write_text("not a certificate\n")
    with pytest.raises(ValueError, match=f"ca_file {bogus} holds no usable CA certificate"):
        make_writer(influx_settings(api, "https://h", ca_file=bogus))
