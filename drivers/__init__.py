"""Built-in drivers, installed as ``stonith.drivers``.

``CATALOG`` gives the registry each built-in type's one-line description without importing the
driver module (``stonith -L`` and ``stonith types`` must stay cheap).  Third-party drivers are
found the same way through the ``stonith.drivers`` entry-point group; their description is read
from the driver itself when asked for.
"""

CATALOG: dict[str, str] = {
    "baytech": "BayTech RPC-3/3A/5 and RPC3-NC/RPC-28 power switches over telnet or serial",
    "apcmastersnmp": "APC MasterSwitch / switched rack PDU over SNMP (cluster-glue apcmastersnmp)",
    "snmp_pdu": "Switched PDU over SNMP, family detected from sysObjectID",
    "apc_rpdu": "APC rack PDU (rPDU) over SNMP",
    "apc_rpdu2": "APC rack PDU 2 (rPDU2) over SNMP",
    "eaton_epdu": "Eaton ePDU over SNMP",
    "raritan_pdu2": "Raritan PX2/PX3 (PDU2-MIB) over SNMP",
    "sentry3": "ServerTech Sentry3 over SNMP",
    "sentry4": "ServerTech Sentry4 over SNMP",
    "cyberpower_pdu": "CyberPower switched PDU over SNMP",
    "baytech_mrp": "BayTech MRP over SNMP",
    "ifmib": "Switch ports (fabric fencing) over SNMP IF-MIB, like fence_ifmib",
    "ipmilan": "IPMI 2.0 (lanplus) BMC chassis power control",
    "redfish": "Redfish BMC (ComputerSystem reset) over HTTPS",
    "redfish_pdu": "Redfish rack PDU outlets (DMTF PowerDistribution) over HTTPS",
    "apcmaster": "APC MasterSwitch over telnet menus",
    "wti_nps": "WTI NPS/TPS network power switch over telnet",
    "rps10": "WTI RPS-10M serial power switch chain",
    "nw_rpc100s": "Micro Energetics Night/Ware RPC100S serial switch",
    "apcsmart": "APC Smart-UPS over the smart serial protocol",
    "rcd_serial": "RC-delayed reset circuit on a serial DTR/RTS line",
    "sispm": "Gembird SIS-PM / Silver Shield USB power strip",
    "null": "Dummy (do-nothing) STONITH device, for testing",
    "meatware": "Human operator confirms each reset (like cluster-glue's meatware)",
    "ssh": "Reboot through ssh; for testing only",
    "suicide": "Reset the local host only; for testing only",
}
