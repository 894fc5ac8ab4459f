"""The Redfish mock against fence-agents' fence_redfish (unmodified); ground truth must follow.
Also: HTTPS with the generated certificate, many BMCs from one process."""

from __future__ import annotations

import subprocess
import time

import pytest
import requests
from stonith.mocks.harness import start_mock

from tests.conftest import require_peer

USER, PASSWORD = "admin", "s3cret"


def service(**options):
    settings = {"names": ["node1"], "username": USER, "password": PASSWORD, "relay_delay": 0.05}
    settings.update(options)
    return start_mock("redfish", **settings)


def eventually(check, timeout=2.0):
    """fence_redfish takes PoweringOn for on: it may return before the chassis is on."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "ground truth never reached the expected state"
        time.sleep(0.02)


def fence_redfish(mock, action, *extra):
    program = require_peer("/usr/sbin/fence_redfish", "fence-agents")
    tls = ["ssl_insecure=1"] if "ca" in mock.info else ["notls=1"]
    stdin = "\n".join(
        [
            f"ip={mock.host}",
            f"ipport={mock.port}",
            f"username={USER}",
            f"password={PASSWORD}",
            f"action={action}",
            *tls,
            *extra,
            "",
        ]
    )
    return subprocess.run([program], input=stdin, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.peer
@pytest.mark.parametrize("options", [{}, {"action_info": True}, {"system_id": "System.Embedded.1"}])
def test_fence_redfish_reboot_off_on_status(options):
    with service(**options) as mock:
        status = fence_redfish(mock, "status")
        assert status.returncode == 0 and "Status: ON" in status.stdout, status.stderr
        result = fence_redfish(mock, "reboot")
        assert result.returncode == 0, result.stderr
        eventually(lambda: [e["state"] for e in mock.events()] == ["off", "on"])
        assert fence_redfish(mock, "off").returncode == 0
        assert mock.state(1) == "off"
        assert fence_redfish(mock, "status").returncode == 2
        assert fence_redfish(mock, "on").returncode == 0
        eventually(lambda: mock.state(1) == "on")


def test_https_with_generated_certificate_and_auth():
    with service() as mock:
        url = mock.info["url"]
        assert url.startswith("https://")
        root = requests.get(f"{url}/redfish/v1/", verify=mock.info["ca"], timeout=5)
        assert root.status_code == 200 and root.json()["Systems"]["@odata.id"] == "/redfish/v1/Systems"
        assert requests.get(f"{url}/redfish/v1/Systems", verify=mock.info["ca"], timeout=5).status_code == 401
        login = requests.post(
            f"{url}/redfish/v1/SessionService/Sessions",
            json={"UserName": USER, "Password": PASSWORD},
            verify=mock.info["ca"],
            timeout=5,
        )
        assert login.status_code == 201
        token = login.headers["X-Auth-Token"]
        system = requests.get(
            f"{url}/redfish/v1/Systems/1", headers={"X-Auth-Token": token}, verify=mock.info["ca"], timeout=5
        ).json()
        assert system["PowerState"] == "On" and system["HostName"] == "node1"
        bad = requests.post(
            f"{url}/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
            json={"ResetType": "Bogus"},
            headers={"X-Auth-Token": token},
            verify=mock.info["ca"],
            timeout=5,
        )
        assert bad.status_code == 400
        assert bad.json()["error"]["@Message.ExtendedInfo"][0]["MessageId"].endswith(
            "ActionParameterNotSupported"
        )
        gone = requests.delete(
            url + login.headers["Location"],
            headers={"X-Auth-Token": token},
            verify=mock.info["ca"],
            timeout=5,
        )
        assert gone.status_code == 204


def test_many_redfish_bmcs_from_one_process():
    with service(count=200, tls=False, relay_delay=0) as mock:
        addresses = mock.info["addresses"]
        assert len(set(addresses)) == 200
        for index in (0, 123, 199):
            url = f"http://{addresses[index]}/redfish/v1/Systems/1/Actions/ComputerSystem.Reset"
            assert (
                requests.post(
                    url, json={"ResetType": "ForceOff"}, auth=(USER, PASSWORD), timeout=5
                ).status_code
                == 204
            )
        truth = mock.truth()["devices"]
        assert truth[addresses[123]]["outlets"]["1"] == {"name": "node124", "state": "off"}
        assert truth[addresses[122]]["outlets"]["1"]["state"] == "on"


@pytest.mark.peer
@pytest.mark.parametrize("model", ["idrac", "ilo", "xcc", "openbmc"])
def test_fence_redfish_drives_every_personality(model):
    """The vendor personalities (system ids, ActionInfo, 200 or 204, trailing slashes) are Redfish
    enough for fence-agents' own client: status, off, on by ground truth."""
    with service(model=model) as mock:
        status = fence_redfish(mock, "status")
        assert status.returncode == 0 and "Status: ON" in status.stdout, status.stderr
        assert fence_redfish(mock, "off").returncode == 0
        eventually(lambda: mock.state(1) == "off")
        assert fence_redfish(mock, "on").returncode == 0
        eventually(lambda: mock.state(1) == "on")
