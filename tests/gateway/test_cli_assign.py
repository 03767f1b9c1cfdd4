"""`bluewatch assign` and `unassign` against a listening `/assignments`: the address and token
come from the gateway's configuration; refusals print the gateway's message and exit 1."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.cli import run
from gateway.commands import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from gateway.http import AssignmentApi, assignment_routes
from gateway.http_server import HttpLimits, HttpServer
from tests.gateway.assignment_rig import Desk
from tests.support.network import free_port

TOKEN = "t" * 32

CONFIG = """
agency = "metro-pd"
unit = "car-12"

[http]
port = {port}

[dispatch_api]
token = "{token}"
"""


def config(tmp_path: Path, port: int, token: str = TOKEN) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(CONFIG.format(port=port, token=token))
    return path


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Desk, int]]:
    desk = Desk(tmp_path)
    server = HttpServer(
        assignment_routes(AssignmentApi(desk.desk, TOKEN)), "127.0.0.1", 0, HttpLimits(10, 10, 8)
    )
    task = asyncio.create_task(server.run())
    async with asyncio.timeout(5):
        while server.port is None:
            await asyncio.sleep(0.01)
    yield desk, server.port
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def bluewatch(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = await asyncio.to_thread(run, list(argv), stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


async def test_assign_then_unassign(tmp_path: Path, served: tuple[Desk, int]) -> None:
    desk, port = served
    path = str(config(tmp_path, port))
    status, out, err = await bluewatch(
        "assign", "officer-01", "h10-01", "vest-01", "--config", path, "--by", "sgt-4"
    )
    assert (status, err) == (EXIT_OK, "")
    assert '"device": "vest-01"' in out
    assert {a.officer_id for a in desk.desk.held.values()} == {"officer-01"}
    assert set(desk.manager.devices) == {"h10-01", "vest-01"}

    status, out, err = await bluewatch("unassign", "h10-01", "--config", path, "--by", "sgt-5")
    assert (status, err) == (EXIT_OK, "")
    assert set(desk.manager.devices) == {"vest-01"}
    assert [(p.fields["action"], p.fields["by"]) for p in desk.audit][-1] == ("unassign", "sgt-5")


async def test_a_refusal_prints_the_gateways_message(
    tmp_path: Path, served: tuple[Desk, int]
) -> None:
    desk, port = served
    path = str(config(tmp_path, port))
    await desk.desk.assign("officer-01", ["h10-01"], "sgt-4")
    status, out, err = await bluewatch("assign", "officer-02", "h10-01", "--config", path)
    assert (status, out) == (EXIT_BAD_INPUT, "")
    assert err == (
        "bluewatch assign: refused (409): device 'h10-01' is held by officer 'officer-01': "
        "unassign it first\n"
    )
    status, _, err = await bluewatch("unassign", "h10-02", "--config", path)
    assert status == EXIT_BAD_INPUT
    assert err == "bluewatch unassign: refused (404): device 'h10-02' is not assigned to anyone\n"


async def test_a_wrong_token_is_401(tmp_path: Path, served: tuple[Desk, int]) -> None:
    _, port = served
    path = str(config(tmp_path, port, token="u" * 32))
    status, _, err = await bluewatch("assign", "officer-01", "h10-01", "--config", path)
    assert status == EXIT_BAD_INPUT
    assert "refused (401): unauthorised" in err


async def test_no_gateway_running_says_where_it_looked(tmp_path: Path) -> None:
    port = free_port()
    status, _, err = await bluewatch("unassign", "h10-01", "--config", str(config(tmp_path, port)))
    assert status == EXIT_FAILURE
    assert f"no answer from the gateway at http://127.0.0.1:{port}" in err


async def test_a_bad_configuration_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text('agency = "metro-pd"\n')
    status, _, err = await bluewatch("assign", "officer-01", "h10-01", "--config", str(path))
    assert status == EXIT_USAGE
    assert "unit" in err
