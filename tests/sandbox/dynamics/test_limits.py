"""Service protection in the emulated Web API: requests and execution time per sliding window, concurrent requests,
429 with a Retry-After that grows when a client sends before it ends, debug headers, and the counters the control
API shows (per environment and calling user)."""

from __future__ import annotations

from tests.sandbox.dynamics.dv_support import ok
from tests.sandbox.dynamics.emq_support import configure, control, get, user_token


def limits_of(dv_server, env) -> dict:
    return ok(control(dv_server, "GET", f"/environments/{env.environment.name}/limits"))


def test_requests_past_the_window_are_refused_and_sending_early_grows_the_wait(env, dv_server):
    configure(dv_server, dv_requests_per_window=3, dv_window_seconds=300, dv_retry_after_seconds=2)
    answers = [get(env, "leads", params={"$top": "1"}) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert [answer.headers["x-ms-ratelimit-burst-remaining-xrm-requests"] for answer in answers] == ["2", "1", "0"]
    assert "x-ms-ratelimit-time-remaining-xrm-requests" in answers[0].headers

    refused = get(env, "leads")
    assert refused.status_code == 429
    assert refused.json()["error"] == {
        "code": "0x80072322",
        "message": "Number of requests exceeded the limit of 3 over time window of 300 seconds.",
    }
    first_wait = int(refused.headers["Retry-After"])
    assert 2 <= first_wait <= 300  # until the oldest request leaves the window
    early = get(env, "leads")  # sent before the Retry-After ended
    assert early.status_code == 429
    assert int(early.headers["Retry-After"]) == first_wait * 2

    app_user = env.application_user_id
    counters = limits_of(dv_server, env)[app_user]
    assert counters["requests"] == 3
    assert counters["refused_requests"] == 1
    assert counters["sent_while_blocked"] == 1
    assert counters["retry_after"] == [first_wait, first_wait * 2]

    dv_server.state.clock.advance(first_wait * 2 + 1)
    assert get(env, "leads").status_code == 200


def test_execution_time_past_the_window_is_refused(env, dv_server):
    configure(dv_server, dv_request_ms=1000, dv_execution_ms_per_window=2500, dv_retry_after_seconds=3)
    assert [get(env, "WhoAmI").status_code for _ in range(3)] == [200, 200, 200]
    refused = get(env, "WhoAmI")
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "0x80072321"
    assert error["message"].startswith(
        "Combined execution time of incoming requests exceeded limit of 2500 milliseconds over time window of 300"
    )
    assert int(refused.headers["Retry-After"]) >= 3


def test_concurrent_requests_past_the_limit_are_refused_at_once(env, dv_server):
    from sandbox.dynamics.limits import protection

    configure(dv_server, dv_concurrent_requests=2, dv_retry_after_seconds=1)
    guard = protection(env.environment)
    app_user = env.application_user_id
    assert guard.admit(app_user) is None  # two requests of the same user still running
    assert guard.admit(app_user) is None
    refused = get(env, "leads")
    assert refused.status_code == 429
    assert refused.json()["error"] == {
        "code": "0x80072326",
        "message": "Number of concurrent requests exceeded the limit of 2.",
    }
    assert refused.headers["Retry-After"] == "1"
    # Another user of the same environment has their own limits.
    person = env.users[0]["systemuserid"]
    assert get(env, "leads", token=user_token(env, person)).status_code == 200
    guard.done(app_user)
    guard.done(app_user)
    counters = limits_of(dv_server, env)[app_user]
    assert counters["max_in_flight"] == 2
    assert counters["refused_concurrency"] == 1
    dv_server.state.clock.advance(1.5)
    assert get(env, "leads").status_code == 200


def test_requests_run_in_parallel_count_in_flight(env, dv_server):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: get(env, "leads").status_code, range(24)))
    assert statuses == [200] * 24
    counters = limits_of(dv_server, env)[env.application_user_id]
    assert counters["requests"] == 24
    assert 1 <= counters["max_in_flight"] <= 8
    assert counters["in_flight"] == 0


def test_reset_by_control_ends_a_block(env, dv_server):
    configure(dv_server, dv_requests_per_window=1)
    assert get(env, "leads").status_code == 200
    assert get(env, "leads").status_code == 429
    ok(control(dv_server, "POST", f"/environments/{env.environment.name}/limits/reset"))
    assert get(env, "leads").status_code == 200
