"""What `make run` does, end to end: init a hub with the demo cluster and serve it over HTTP."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from fakes.demo import fictional_people

HUB = [sys.executable, "-m", "consent_hub.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_init_demo_and_serve(tmp_path: Path) -> None:
    env = {**os.environ, "CONSENT_HUB_CONFIG": str(tmp_path / "var" / "hub.toml")}
    subprocess.run(
        [*HUB, "init", "--cluster", "demo", "--demo"],
        env=env,
        check=True,
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
    )
    again = subprocess.run(
        [*HUB, "init", "--cluster", "demo", "--demo"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0 and "already present" in again.stdout  # idempotent
    # the demo's fake Tixly listens on a free port here, not the default one
    config = tmp_path / "var" / "hub.toml"
    fake_port, crm_port = free_port(), free_port()
    text = config.read_text(encoding="utf-8").replace("8010", str(fake_port)).replace("8030", str(crm_port))
    config.write_text(text, encoding="utf-8")
    keyring = tmp_path / "var" / "keys" / "demo.keyring.json"
    assert keyring.stat().st_mode & 0o777 == 0o600
    keys = dict(line.split("\t") for line in (tmp_path / "var" / "demo-api-keys.txt").read_text().splitlines())
    port = free_port()
    server = subprocess.Popen(
        [*HUB, "serve", "--port", str(port)], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        assert httpx.get(f"{base}/health").json()["status"] == "ok"
        assert "swagger" in httpx.get(f"{base}/docs").text.lower()
        service = {"Authorization": f"Bearer {keys['cluster-service']}"}
        email = next(fictional_people(1))["email"]
        found = httpx.post(
            f"{base}/v1/people/lookup", json={"email": email, "purpose": "ticketing-service"}, headers=service
        )
        assert found.status_code == 200 and found.json()["fields"]["email"] == email
        houses = httpx.get(f"{base}/v1/houses", headers=service).json()
        assert len(houses) == 8
        # the DPO console, as the README says: the Schouwburg's house DPO signs in with the demo key
        with httpx.Client(base_url=f"{base}/dpo/demo") as console:
            csrf = re.search(r'name="csrf" value="([^"]+)"', console.get("/").text)
            assert csrf
            form = {"api_key": keys["house-dpo@schouwburg-leie"], "csrf": csrf.group(1)}
            signed_in = console.post("/sign-in", data=form)
            assert signed_in.status_code == 303 and signed_in.headers["location"] == "/dpo/demo/audit"
            assert "DPO Schouwburg" in console.get("/audit").text
        # the fake Tixly started with the hub and its buyers were synced in on start
        admin = {"Authorization": f"Bearer {keys['cluster-admin']}"}
        runs: list[dict[str, object]] = []
        for _ in range(300):
            runs = httpx.get(f"{base}/v1/sync/runs", headers=admin).json()
            if runs and runs[-1]["status"] != "running":
                break
            time.sleep(0.5)
        assert runs[-1]["status"] == "succeeded" and runs[-1]["trigger"] == "schedule"
        assert int(str(runs[-1]["rows_read"])) > 50_000
        engine_buyer = httpx.get(
            f"http://127.0.0.1:{fake_port}/v3/customers",
            params={"pageSize": 5},
            headers={"Authorization": "Bearer tixly-demo-token"},
        ).json()["Data"]
        synced_email = next(c["Email"] for c in engine_buyer if c["Email"])
        synced = httpx.post(
            f"{base}/v1/people/lookup", json={"email": synced_email, "purpose": "ticketing-service"}, headers=service
        )
        assert synced.status_code == 200
        # the Schouwburg's newsletter opt-ins reach its (fake) CRM through the outbox
        crm_members: list[object] = []
        for _ in range(120):
            crm_members = httpx.get(
                f"http://127.0.0.1:{crm_port}/3.0/lists/leie-newsletter/members",
                params={"count": 1000},
                auth=("demo", "0123456789abcdef0123456789abcdef-us21"),
            ).json()["members"]
            if crm_members:
                break
            time.sleep(0.5)
        assert crm_members
    finally:
        server.terminate()
        output = server.communicate(timeout=20)[0].decode()
    # the access log shows paths and ids, never an e-mail address
    assert "/v1/people/lookup" in output
    assert email not in output
