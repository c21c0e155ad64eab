"""The emulated $batch: change sets succeed or fail together, `$<Content-ID>` references, operations outside a
change set, continue-on-error and the operation cap; answers are multipart/mixed like Dataverse's."""

from __future__ import annotations

import json
import re
import uuid

from tests.sandbox.dynamics.dv_support import ok


def operation(env, method, path, body=None, *, content_id=None, headers=()):
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id:
        lines.append(f"Content-ID: {content_id}")
    target = path if path.startswith("$") else f"{env.base}/{path}"
    lines += ["", f"{method} {target} HTTP/1.1", "Content-Type: application/json; type=entry", *headers, ""]
    if body is not None:
        lines.append(json.dumps(body))
    return "\r\n".join(lines)


def change_set(parts, boundary="changeset_1"):
    inner = "".join(f"--{boundary}\r\n{part}\r\n" for part in parts) + f"--{boundary}--"
    return f"Content-Type: multipart/mixed; boundary={boundary}\r\n\r\n{inner}"


def send(env, parts, *, prefer=None):
    body = "".join(f"--batch_1\r\n{part}\r\n" for part in parts) + "--batch_1--\r\n"
    headers = {"Content-Type": "multipart/mixed; boundary=batch_1"}
    if prefer:
        headers["Prefer"] = prefer
    response = env.api("POST", "$batch", data=body.encode(), headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("multipart/mixed; boundary=batchresponse_")
    return response.text


def statuses(text):
    return [int(code) for code in re.findall(r"^HTTP/1\.1 (\d{3})", text, flags=re.MULTILINE)]


def test_change_set_with_a_content_id_reference_and_a_read_after_it(env):
    text = send(
        env,
        [
            change_set(
                [
                    operation(env, "POST", "leads", {"lastname": "Batch"}, content_id="1"),
                    operation(
                        env,
                        "POST",
                        "tasks",
                        {"subject": "Follow up", "regardingobjectid_lead_task@odata.bind": "$1"},
                        content_id="2",
                    ),
                    operation(
                        env,
                        "PATCH",
                        "lh_smses(lh_leadlinemessageid='m-1')",
                        {"subject": "Hi"},
                        content_id="3",
                        headers=["If-None-Match: *"],
                    ),
                ]
            ),
            operation(env, "GET", "WhoAmI"),
        ],
    )
    assert statuses(text) == [204, 204, 204, 200]
    assert "changesetresponse_" in text
    assert "Content-ID: 2" in text
    (lead,) = env.environment.rows("lead")
    (task,) = env.environment.rows("task")
    assert task["regardingobjectid"] == lead["leadid"]
    assert f"OData-EntityId: {env.base}/leads({lead['leadid']})" in text
    assert env.application_user_id in text


def test_a_failed_change_set_undoes_its_writes_and_stops_the_batch(env):
    heard = []
    env.server.state.dynamics.listeners.append(heard.append)
    env.api("PATCH", "lh_smses(lh_leadlinemessageid='m-1')", json={"subject": "Logged"}, headers={"If-None-Match": "*"})
    heard.clear()
    text = send(
        env,
        [
            change_set(
                [
                    operation(env, "POST", "tasks", {"subject": "Would be undone"}, content_id="1"),
                    operation(
                        env,
                        "PATCH",
                        "lh_smses(lh_leadlinemessageid='m-1')",
                        {"subject": "again"},
                        content_id="2",
                        headers=["If-None-Match: *"],
                    ),
                ]
            ),
            operation(env, "POST", "tasks", {"subject": "Never sent"}),
        ],
    )
    assert statuses(text) == [412]
    assert "Content-ID: 2" in text
    assert env.environment.rows("task") == []
    assert heard == []  # nothing was announced for the undone write


def test_continue_on_error_runs_every_part(env):
    missing = uuid.uuid4()
    text = send(
        env,
        [
            operation(env, "PATCH", f"leads({missing})", {"lastname": "x"}, headers=["If-Match: *"]),
            operation(env, "POST", "leads", {"lastname": "After"}),
        ],
        prefer="odata.continue-on-error",
    )
    assert statuses(text) == [404, 204]
    assert f"lead With Id = {missing} Does Not Exist" in text
    assert [row["lastname"] for row in env.environment.rows("lead")] == ["After"]


def test_too_many_operations_and_a_bad_content_type(env):
    env.server.state.config.update({"dv_batch_max_operations": 2})
    parts = [operation(env, "GET", "WhoAmI") for _ in range(3)]
    body = "".join(f"--b\r\n{part}\r\n" for part in parts) + "--b--\r\n"
    refused = env.api("POST", "$batch", data=body, headers={"Content-Type": "multipart/mixed; boundary=b"})
    assert refused.status_code == 400
    assert "limit of 2" in refused.json()["error"]["message"]
    assert env.api("POST", "$batch", json={}).status_code == 400
    ok(env.api("GET", "WhoAmI"))
