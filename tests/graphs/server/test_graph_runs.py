"""``POST /graphs/{name}/runs``: a background run answered with 202 at once, followed
through the LangGraph API's URLs it names (in-process here; on workers in
tests/graphs/workers)."""

from __future__ import annotations

import httpx


async def test_a_background_run_is_accepted_and_can_be_joined(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphs/deal_review/runs", json={"deal_ids": ["D-00001"]})
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "pending"
    assert response.headers["location"] == accepted["links"]["run"]
    joined = await client.get(accepted["links"]["join"])
    assert joined.status_code == 200
    assert joined.json()["report"]["D-00001"]["deal"]
    run = (await client.get(accepted["links"]["run"])).json()
    assert run["status"] == "success" and run["thread_id"] == accepted["thread_id"]
    state = (await client.get(f"/threads/{accepted['thread_id']}/state")).json()
    assert state["values"]["report"]["D-00001"]  # the new thread keeps the final values


async def test_bad_input_is_refused_before_a_run_exists(client: httpx.AsyncClient) -> None:
    bad = await client.post("/graphs/deal_review/runs", json={"deal_ids": "D-00001"})
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_input", bad.text
    assert "deal_ids" in bad.text
    unknown = await client.post("/graphs/nope/runs", json={})
    assert unknown.status_code == 404 and "deal_review" in unknown.text
    not_json = await client.post("/graphs/deal_review/runs", content=b"{",
                                 headers={"content-type": "application/json"})  # fmt: skip
    assert not_json.status_code == 400
    listed = await client.post("/threads/search", json={})
    assert listed.json() == []  # nothing was created for the refused ones
