"""Helpers shared by the blueprint's validation rules."""

from __future__ import annotations

import difflib

from provisioner.models import Port


def ports_clash(port: Port, other: Port) -> bool:
    # 0.0.0.0 takes the port on every address, so it clashes with any specific one.
    same_ip = port.host_ip == other.host_ip or "0.0.0.0" in (port.host_ip, other.host_ip)
    return same_ip and port.host_port == other.host_port and port.protocol == other.protocol


def defined_hint(section: str, name: str, defined: dict) -> str:
    close = difflib.get_close_matches(name, list(defined), n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    if defined:
        return f"define it under {section}, or use one of: {', '.join(sorted(defined))}"
    return f"define it under {section}"
