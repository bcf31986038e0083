"""Parsers for the short string forms of mounts, ports and volumes_from.

Each returns a dict for the matching model, or raises ValueError with a
message that names the text and the expected form.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from provisioner.names import DOCKER_NAME_PATTERN


def parse_mount(text: str) -> dict[str, Any]:
    parts = text.split(":")
    if len(parts) == 1:
        return {"type": "anonymous", "source": None, "target": _mount_target(parts[0], text)}

    if len(parts) > 3:
        raise ValueError(f"invalid mount {text!r}; expected TARGET, SOURCE:TARGET or SOURCE:TARGET:ro")
    source, target = parts[0], _mount_target(parts[1], text)
    read_only = False
    if len(parts) == 3:
        read_only = _access_mode(parts[2], text)
    if not source:
        raise ValueError(f"invalid mount {text!r}; the source before ':' is empty")

    kind = "bind" if source.startswith(("/", ".", "~")) else "volume"
    if kind == "volume" and not re.match(DOCKER_NAME_PATTERN, source):
        raise ValueError(f"invalid mount source {source!r}; a volume name uses letters, digits, '_', '.' and '-', "
                         "and a bind mount path starts with /, ./ or ../")
    return {"type": kind, "source": source, "target": target, "read_only": read_only}


def parse_volumes_from(text: str) -> dict[str, Any]:
    name, _, mode = text.partition(":")
    read_only = _access_mode(mode, text) if mode else False
    return {"container": name, "read_only": read_only}


def parse_port(value: str | int) -> dict[str, Any]:
    text = str(value)
    body, _, protocol = text.partition("/")
    protocol = protocol or "tcp"
    if protocol not in ("tcp", "udp"):
        raise ValueError(f"invalid protocol {protocol!r} in port {text!r}; use tcp or udp")

    parts = body.rsplit(":", 2)
    if len(parts) == 2 and "." in parts[0]:
        raise ValueError(f"invalid port {text!r}: the container port is missing; expected "
                         "[HOST_IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp], for example 127.0.0.1:8080:80")
    if len(parts) == 2:
        host_ip, host_port, container_port = "0.0.0.0", parts[0], parts[1]
    elif len(parts) == 3:
        host_ip, host_port, container_port = parts
    else:
        raise ValueError(f"invalid port {text!r}; expected [HOST_IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp], "
                         "for example 127.0.0.1:8080:80")
    try:
        ipaddress.IPv4Address(host_ip)
    except ValueError:
        raise ValueError(f"invalid host address {host_ip!r} in port {text!r}; use an IPv4 address such as 127.0.0.1") from None
    return {"host_ip": host_ip, "host_port": _port_number(host_port, text),
            "container_port": _port_number(container_port, text), "protocol": protocol}


def _port_number(text: str, whole: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"invalid port number {text!r} in {whole!r}; use a number from 1 to 65535")
    return int(text)


def _mount_target(target: str, text: str) -> str:
    if not target.startswith("/"):
        raise ValueError(f"invalid mount {text!r}; the target {target!r} must be an absolute path inside the container")
    return target


def _access_mode(mode: str, text: str) -> bool:
    if mode not in ("ro", "rw"):
        raise ValueError(f"invalid access mode {mode!r} in {text!r}; use ro or rw")
    return mode == "ro"
