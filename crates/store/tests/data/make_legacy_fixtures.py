"""Writes the upstream-style state files under this directory (run from anywhere).

The files mimic what shotgunEvents' _saveEventIdData writes: a pickle of
{collection path: {plugin name: (last event id or None, {event id: naive local datetime})}},
and the older single-integer text form. The Rust tests read naive datetimes as UTC.
"""

import datetime
import os
import pickle

HERE = os.path.dirname(os.path.abspath(__file__))

STATE = {
    "/opt/shotgunEvents/plugins": {
        "logArgs": (1041, {}),
        "sharedPlugin": (1040, {1037: datetime.datetime(2024, 5, 6, 7, 8, 9, 123456),
                                1039: datetime.datetime(2024, 5, 6, 7, 9, 0)}),
        "neverRan": (None, {}),
    },
    "/studio/plugins/extra": {
        "sharedPlugin": (998, {}),
    },
}


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as fh:
        fh.write(data)


def main():
    write("legacy_p2.pickle", pickle.dumps(STATE, protocol=2))
    write("legacy_p5.pickle", pickle.dumps(STATE, protocol=5))
    full = pickle.dumps(STATE, protocol=5)
    write("legacy_truncated.pickle", full[: len(full) // 2])
    write("legacy_single_id.txt", b"1041\n")


if __name__ == "__main__":
    main()
