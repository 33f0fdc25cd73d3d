"""Fault injection, gap profiles, request counts and CLI flags, seen through shotgun_api3."""

import time

import pytest
import shotgun_api3

from conftest import SimProcess, wait_until


def test_http_errors_for_the_next_n_requests(fresh_sim):
    sg = fresh_sim.connect()
    fresh_sim.admin("/admin/faults", {"kind": "http", "status": 500, "count": 1, "method": "read"})
    with pytest.raises(shotgun_api3.ProtocolError) as info:
        sg.find("Shot", [])
    assert info.value.errcode == 500
    assert sg.find("Shot", []) == []


def test_502_is_retried_by_the_client(fresh_sim):
    sg = fresh_sim.connect()
    fresh_sim.admin("/admin/faults", {"kind": "http", "status": 502, "count": 1, "method": "read"})
    before = fresh_sim.admin("/admin/stats")["requests"].get("read", 0)
    assert sg.find("Shot", []) == []
    after = fresh_sim.admin("/admin/stats")["requests"]["read"]
    assert after - before == 2, "shotgun_api3 retries a 502 once it succeeds"


def test_maintenance_window_and_clearing(fresh_sim):
    sg = fresh_sim.connect()
    fresh_sim.admin("/admin/faults", {"kind": "maintenance", "for_ms": 60000})
    with pytest.raises(shotgun_api3.ProtocolError) as info:
        sg.find("Shot", [])
    assert info.value.errcode == 503
    fresh_sim.admin("/admin/faults", method="DELETE")
    assert fresh_sim.admin("/admin/faults")["faults"] == []
    assert sg.find("Shot", []) == []


def test_api_exception_and_dropped_connection(fresh_sim):
    sg = fresh_sim.connect()
    fresh_sim.admin("/admin/faults", [{"kind": "exception", "error_code": 102, "message": "Session expired", "count": 1}])
    with pytest.raises(shotgun_api3.AuthenticationFault, match="Session expired"):
        sg.find("Shot", [])
    # httplib2 transparently retries a request whose connection dropped once, so drop two.
    fresh_sim.admin("/admin/faults", {"kind": "drop", "count": 2})
    before = fresh_sim.admin("/admin/stats")["requests"]["read"]
    with pytest.raises(Exception) as info:
        sg.find("Shot", [])
    assert not isinstance(info.value, shotgun_api3.Fault)
    assert fresh_sim.admin("/admin/stats")["requests"]["read"] - before == 2
    assert fresh_sim.connect().find("Shot", []) == []


def test_rate_faults_are_deterministic_under_a_seed():
    outcomes = []
    for _ in range(2):
        process = SimProcess("--seed", "42", "--fault", "http=500,rate=0.5,method=read")
        try:
            sg = process.connect()
            run = []
            for _ in range(20):
                try:
                    sg.find("Shot", [])
                    run.append("ok")
                except shotgun_api3.ProtocolError:
                    run.append("500")
            outcomes.append(run)
        finally:
            process.stop()
    assert outcomes[0] == outcomes[1]
    assert "ok" in outcomes[0] and "500" in outcomes[0]


def test_latency_fault_still_answers(fresh_sim):
    fresh_sim.admin("/admin/faults", {"kind": "latency", "ms": 50, "count": 2})
    assert fresh_sim.connect().find("Shot", []) == []


def test_bad_admin_requests_are_rejected_with_a_reason(fresh_sim):
    import urllib.error
    with pytest.raises(urllib.error.HTTPError) as info:
        fresh_sim.admin("/admin/faults", {"kind": "http", "status": 500, "rate": 3})
    assert info.value.code == 400
    assert "rate" in info.value.read().decode()


def test_request_counts_per_method(fresh_sim):
    sg = fresh_sim.connect()
    sg.find("Shot", [])
    sg.create("Shot", {"code": "counted"})
    requests = fresh_sim.admin("/admin/stats")["requests"]
    assert requests["info"] >= 1 and requests["read"] >= 1 and requests["create"] == 1


def test_gap_profile_over_admin_creates_and_closes_gaps(fresh_sim):
    sg = fresh_sim.connect()
    fresh_sim.admin("/admin/gaps", {"late": 1.0, "never": 0.0, "delay": {"kind": "fixed", "ms": 500}})
    start = fresh_sim.admin("/admin/stats")["next_event_id"]
    sg.create("Shot", {"code": "late"})
    fresh_sim.admin("/admin/gaps", {"late": 0.0, "never": 0.0})
    sg.create("Shot", {"code": "early"})
    visible = [e["id"] for e in sg.find("EventLogEntry", [["id", "greater_than", start - 1]], ["id"])]
    assert visible and visible[0] > start, "the late rows are not visible yet"
    closed = wait_until("the gap to close", lambda: [
        e["id"] for e in sg.find("EventLogEntry", [["id", "greater_than", start - 1]], ["id"])
        if e["id"] < visible[0]])
    assert closed[0] == start


def test_cli_gap_flags_and_prefill():
    process = SimProcess("--prefill", "3000", "--seed", "7", "--gaps", "realistic", "--gap-delay", "uniform:1s:2s",
                         "--activity", "200")
    try:
        sg = process.connect()
        newest = sg.find_one("EventLogEntry", [], ["id"], order=[{"column": "id", "direction": "desc"}])
        assert newest["id"] >= 3000
        wait_until("live activity", lambda: process.admin("/admin/stats")["next_event_id"] > newest["id"] + 50)
    finally:
        process.stop()


def test_cli_rejects_bad_flags_with_a_message():
    import subprocess
    from conftest import sgevents_bin
    result = subprocess.run([sgevents_bin(), "sim", "--fault", "http=999"], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "out of range" in result.stderr
    result = subprocess.run([sgevents_bin(), "sim", "--gap-late", "2"], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "fraction" in result.stderr


def test_schema_flag_serves_a_real_site_dump(tmp_path):
    import os
    dump = "/work/shared/data/schema_read.json"
    if not os.path.exists(dump):
        pytest.skip(f"{dump} is missing")
    process = SimProcess("--schema", dump)
    try:
        sg = process.connect()
        schema = sg.schema_read()
        assert len(schema) > 50 and "EventLogEntry" in schema
        code = f"real_{int(time.time())}"
        shot = sg.create("Shot", {"code": code})
        assert sg.find_one("Shot", [["code", "is", code]], ["code"])["id"] == shot["id"]
    finally:
        process.stop()
