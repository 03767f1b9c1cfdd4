"""`/assignments` over a real socket: the token first, then every refusal answered with the
status that names it (404 unknown, 409 held) and a message naming what was wrong."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from gateway.http import AssignmentApi, assignment_routes
from gateway.http_server import HttpLimits, HttpServer
from tests.gateway.assignment_rig import Desk

TOKEN = "t" * 32
ASSIGN = {"officer": "officer-01", "devices": ["h10-01"], "by": "sgt-4"}


@dataclass
class Api:
    desk: Desk
    base: str

    async def call(
        self, method: str, path: str, body: object = None, token: str | None = TOKEN
    ) -> tuple[int, object]:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, self.base + path, json=body, headers=headers) as response,
        ):
            return response.status, await response.json()


ApiFactory = Callable[[str | None], Awaitable[Api]]


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[ApiFactory]:
    tasks: list[asyncio.Task[None]] = []

    async def start(token: str | None) -> Api:
        desk = Desk(tmp_path)
        server = HttpServer(
            assignment_routes(AssignmentApi(desk.desk, token)),
            "127.0.0.1",
            0,
            HttpLimits(10.0, 10.0, 64),
        )
        tasks.append(asyncio.create_task(server.run()))
        async with asyncio.timeout(5):
            while server.port is None:
                await asyncio.sleep(0.01)
        return Api(desk, f"http://127.0.0.1:{server.port}")

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
async def api(serve: ApiFactory) -> Api:
    return await serve(TOKEN)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("GET", "/assignments", None), ("POST", "/assignments", ASSIGN),
     ("DELETE", "/assignments/h10-01", None)],
)  # fmt: skip
@pytest.mark.parametrize("token", [None, "x" * 32, TOKEN + "x"])
async def test_without_the_token_it_is_401_and_nothing_changes(
    api: Api, method: str, path: str, body: object, token: str | None
) -> None:
    await api.desk.desk.assign("officer-02", ["vest-01"], "setup")
    status, answer = await api.call(method, path, body, token=token)
    assert status == 401
    assert answer == {"error": "unauthorised: send Authorization: Bearer <the dispatch API token>"}
    assert set(api.desk.manager.devices) == {"vest-01"}


async def test_a_gateway_without_a_token_refuses_with_403(serve: ApiFactory) -> None:
    api = await serve(None)
    status, answer = await api.call("POST", "/assignments", ASSIGN)
    assert status == 403
    assert "no [dispatch_api] token" in str(answer)
    assert api.desk.manager.devices == {}


async def test_assign_list_and_unassign(api: Api) -> None:
    status, answer = await api.call("POST", "/assignments", ASSIGN)
    assert status == 200
    assert isinstance(answer, dict)
    assigned = answer["assigned"]
    assert isinstance(assigned, list)
    assert [(a["device"], a["officer"], a["by"]) for a in assigned] == [
        ("h10-01", "officer-01", "sgt-4")
    ]
    assert answer["held"] == assigned
    assert api.desk.manager.devices["h10-01"].ref.officer_id == "officer-01"
    assert await api.call("GET", "/assignments") == (200, assigned)

    status, answer = await api.call("DELETE", "/assignments/h10-01", {"by": "sgt-5"})
    assert (status, answer) == (200, {"unassigned": assigned[0]})
    assert api.desk.manager.devices == {}
    assert [p.fields["by"] for p in api.desk.audit] == ["sgt-4", "sgt-5"]


@pytest.mark.parametrize(
    ("request_", "status", "error"),
    [
        (("POST", "/assignments", {**ASSIGN, "officer": "officer-09"}), 404,
         "no officer 'officer-09' in the configuration"),
        (("POST", "/assignments", {**ASSIGN, "devices": ["h10-01", "h10-99"]}), 404,
         "no device 'h10-99' in the pool"),
        (("DELETE", "/assignments/h10-99", None), 404,
         "no device 'h10-99' in the pool"),
        (("DELETE", "/assignments/h10-02", None), 404,
         "device 'h10-02' is not assigned to anyone"),
        (("POST", "/assignments", {**ASSIGN, "officer": "officer-02"}), 409,
         "device 'h10-01' is held by officer 'officer-01': unassign it first"),
        (("POST", "/assignments", {"devices": ["h10-01"]}), 400,
         'officer is required, e.g. {"officer": "officer-01"}'),
        (("POST", "/assignments", {"officer": "officer-01", "devices": "h10-01"}), 400,
         'devices must be a list of 1 to 16 pool device ids, e.g. {"devices": ["h10-07"]}'),
        (("POST", "/assignments", {**ASSIGN, "by": "a\nb"}), 400,
         "by must be printable text (no control characters or line breaks) of at most 128 "
         "characters"),
    ],
)  # fmt: skip
async def test_refusals_name_what_was_wrong(
    api: Api, request_: tuple[str, str, object], status: int, error: str
) -> None:
    await api.call("POST", "/assignments", ASSIGN)
    before = dict(api.desk.desk.held)
    assert await api.call(*request_) == (status, {"error": error})
    assert dict(api.desk.desk.held) == before
    assert set(api.desk.manager.devices) == {"h10-01"}
