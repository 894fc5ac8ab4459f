"""net-snmp ``pass_persist`` backend: an APC rPDU outlet table for snmpd (a test fixture).

    pass_persist .1.3.6.1.4.1.318.1.1.12 /usr/bin/python3 snmpd_apc_pass.py STATE.json [N]

Serves rPDUIdentModelNumber/DeviceNumOutlets, rPDUOutletControlOutletCommand (read: 1 on, 2 off;
write 1 on, 2 off, 3 reboot), rPDUOutletConfigOutletName and rPDUOutletStatusOutletName/State for
N outlets (default 8) named ``node1`` .. ``nodeN``.  The ground truth is rewritten to STATE.json
after every change, as ``{"outlets": {"1": {"name", "state"}}, "events": [...]}``.

Written from net-snmp's snmpd.conf(5) ``pass_persist`` protocol only, so it shares no code with
our agent (mocks/snmp_pdu.py): ``PING`` -> ``PONG``; ``get``/``getnext`` + OID -> OID, type, value or
``NONE``; ``set`` + OID + "type value" -> ``DONE`` or an error name.  An empty line is not EOF:
snmpd sends one after each set (wire-protocols.md section 3.3, gotcha 4).
"""

import json
import os
import sys
import time

RPDU = (1, 3, 6, 1, 4, 1, 318, 1, 1, 12)
MODEL = (*RPDU, 1, 5, 0)
COUNT = (*RPDU, 1, 8, 0)
CONTROL = (*RPDU, 3, 3, 1, 1, 4)
CONFIG_NAME = (*RPDU, 3, 4, 1, 1, 2)
STATUS_NAME = (*RPDU, 3, 5, 1, 1, 2)
STATUS_STATE = (*RPDU, 3, 5, 1, 1, 4)


def main() -> None:
    path = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    names = [f"node{n}" for n in range(1, count + 1)]
    states = ["on"] * count
    events = []

    def save() -> None:
        data = {
            "outlets": {str(i + 1): {"name": names[i], "state": states[i]} for i in range(count)},
            "events": events,
        }
        tmp = path + ".tmp"
        with open(tmp, "w") as handle:
            json.dump(data, handle)
        os.replace(tmp, path)

    def table() -> dict:
        cells = {MODEL: ("string", "AP7920"), COUNT: ("integer", str(count))}
        for n in range(1, count + 1):
            state = "1" if states[n - 1] == "on" else "2"
            cells[(*CONTROL, n)] = ("integer", state)
            cells[(*CONFIG_NAME, n)] = ("string", names[n - 1])
            cells[(*STATUS_NAME, n)] = ("string", names[n - 1])
            cells[(*STATUS_STATE, n)] = ("integer", state)
        return cells

    def parse(text: str) -> tuple:
        return tuple(int(p) for p in text.strip().strip(".").split(".") if p)

    def answer(oid: tuple, cell: tuple) -> None:
        out.write("." + ".".join(map(str, oid)) + "\n" + cell[0] + "\n" + cell[1] + "\n")

    def switch(n: int, state: str) -> None:
        if states[n - 1] != state:
            states[n - 1] = state
            events.append({"t": time.time(), "outlet": str(n), "state": state})

    save()
    out = sys.stdout
    inp = sys.stdin
    while True:
        line = inp.readline()
        if not line:
            return  # real EOF only
        command = line.strip()
        if not command:
            continue
        if command == "PING":
            out.write("PONG\n")
        elif command in ("get", "getnext"):
            oid = parse(inp.readline())
            cells = table()
            if command == "get":
                if oid in cells:
                    answer(oid, cells[oid])
                else:
                    out.write("NONE\n")
            else:
                later = sorted(o for o in cells if o > oid)
                if later:
                    answer(later[0], cells[later[0]])
                else:
                    out.write("NONE\n")
        elif command == "set":
            oid = parse(inp.readline())
            kind, _, value = inp.readline().strip().partition(" ")
            n = oid[-1] if oid[:-1] in (CONTROL, CONFIG_NAME) else 0
            if not 1 <= n <= count:
                out.write("not-writable\n")
            elif oid[:-1] == CONFIG_NAME:
                if kind != "string":
                    out.write("wrong-type\n")
                else:
                    names[n - 1] = value.strip('"')
                    save()
                    out.write("DONE\n")
            elif kind != "integer":
                out.write("wrong-type\n")
            elif value not in ("1", "2", "3"):
                out.write("wrong-value\n")
            else:
                switch(n, "on" if value == "1" else "off")
                if value == "3":
                    switch(n, "on")
                save()
                out.write("DONE\n")
        else:
            out.write("NONE\n")
        out.flush()


if __name__ == "__main__":
    main()
