"""The runner's datetimes are exactly shotgun_api3's: `date(seconds)` of the runner against
`datetime.fromtimestamp(seconds, SG_TIMEZONE.local)`, which is what the client's find() makes
of a site string, second by second around every DST change of a few zones, and across the
years the daemon sends as timestamps. Each zone runs in a fresh interpreter, since the
client reads the zone's offsets when it is imported."""

import os
import subprocess
import sys

import pytest

from conftest import ROOT

RUNNER = ROOT / "crates" / "plugin-host" / "python" / "sgevents_runner.py"

CHECK = r"""
import datetime, importlib.util, random, sys
from shotgun_api3.shotgun import SG_TIMEZONE

spec = importlib.util.spec_from_file_location("runner_under_test", sys.argv[1])
runner = importlib.util.module_from_spec(spec)
spec.loader.exec_module(runner)
local = SG_TIMEZONE.local

def client(seconds):
    return datetime.datetime.fromtimestamp(seconds, local)

seconds = set()
# Every second of the two hours either side of each change of the local shift, in 1970-1973
# and 2024-2027.
changes = 0
def shift(at):
    return client(at).utcoffset()
for first, last in ((1970, 1973), (2024, 2027)):
    start = int(datetime.datetime(first, 1, 1, tzinfo=datetime.timezone.utc).timestamp())
    end = int(datetime.datetime(last + 1, 1, 1, tzinfo=datetime.timezone.utc).timestamp())
    for hour in range(start, end, 3600):
        if shift(hour) != shift(hour + 3600):
            changes += 1
            seconds.update(range(hour - 7200, hour + 3600 + 7200))
# And a spread over the years the daemon sends as timestamps (1900 to 9998).
rng = random.Random(7)
low = int(datetime.datetime(1900, 1, 2, tzinfo=datetime.timezone.utc).timestamp())
high = int(datetime.datetime(9998, 12, 30, tzinfo=datetime.timezone.utc).timestamp())
seconds.update(rng.randrange(low, high) for _ in range(20000))

converter = runner.EventConverter()
bad = []
for at in sorted(seconds):
    want, got = client(at), converter.date(at)
    if (got.replace(tzinfo=None), got.tzinfo, got.fold) != (want.replace(tzinfo=None), want.tzinfo, want.fold):
        bad.append((at, str(want), str(got)))
print(changes, len(seconds), len(bad), bad[:5])
sys.exit(1 if bad else 0)
"""

ZONES = {
    "UTC": 0,
    "Europe/Paris": 8,
    "America/St_Johns": 16,  # a half-hour zone
    "Australia/Lord_Howe": 8,  # a half-hour DST
    "Africa/Monrovia": 0,  # an offset with seconds until 1972
    # Changes at odd seconds of the wall clock, inside the runner's quarter hours.
    "XST3:17:05XDT,M3.2.0/2:07:13,M11.1.0/1:59:59": 16,
}


@pytest.mark.parametrize("zone", sorted(ZONES))
def test_runner_datetimes_are_the_clients_second_by_second_around_dst_changes(zone):
    if "," not in zone and "/" in zone and not os.path.exists(os.path.join("/usr/share/zoneinfo", zone)):
        pytest.skip("no zone data for %s" % zone)
    env = dict(os.environ, TZ=zone)
    done = subprocess.run(
        [sys.executable, "-c", CHECK, str(RUNNER)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    changes, checked, bad = done.stdout.split()[:3]
    assert int(bad) == 0
    assert int(changes) == ZONES[zone], "DST changes found in 1970-1973 and 2024-2027"
    assert int(checked) >= 20000
