"""Sending datagrams to a receiver that may or may not be listening: the socket every live stream shares.

:class:`UdpSender` resolves ``host:port`` once, sends from a non-blocking UDP socket (a send never waits for
the receiver; a datagram the kernel cannot queue at once is dropped and counted), and says what went wrong in
one line naming the protocol and the target. :func:`parse_host_port` reads a user's ``HOST:PORT``. The VMC,
Live Link and iFacialMocap senders (:mod:`studio.core.io.vmc`, :mod:`~studio.core.io.livelink_udp`,
:mod:`~studio.core.io.ifacialmocap`) build on them.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable

__all__ = ["UdpSender", "parse_host_port", "reason"]


def parse_host_port(text: str, default_host: str, default_port: int, protocol: str) -> tuple[str, int]:
    """Parse ``"HOST:PORT"``, ``"HOST"`` or ``":PORT"`` (missing parts take the defaults; IPv6 in brackets:
    ``"[::1]:PORT"``); a bad port (not an integer in 1–65535) or host is a one-line ``ValueError`` naming the
    protocol."""
    spec = str(text).strip()
    example = f"e.g. {default_host}:{default_port}"
    if spec.startswith("["):
        close = spec.find("]")
        if close < 0 or (close + 1 < len(spec) and spec[close + 1] != ":"):
            raise ValueError(f"bad {protocol} target {text!r}: write an IPv6 host as [ADDRESS]:PORT, e.g. [::1]:{default_port}")
        host, port_text = spec[1:close], spec[close + 2 :]
    else:
        host, sep, port_text = spec.rpartition(":")
        if not sep:
            host, port_text = spec, ""
        if ":" in host:
            raise ValueError(f"bad {protocol} target {text!r}: write an IPv6 host as [ADDRESS]:PORT, e.g. [::1]:{default_port}")
    host = host.strip() or default_host
    if any(c.isspace() for c in host):
        raise ValueError(f"bad {protocol} target {text!r}: the host must not contain spaces")
    port_text = port_text.strip()
    if not port_text:
        return host, default_port
    port = int(port_text) if port_text.isdigit() else -1
    if not 1 <= port <= 65535:
        raise ValueError(f"bad {protocol} target {text!r}: the port must be an integer in 1-65535, {example}")
    return host, port


def reason(error: OSError) -> str:
    """An OS error in a few words (for one-line messages)."""
    text = error.strerror or str(error) or type(error).__name__
    return text.splitlines()[0]


class UdpSender:
    """Datagrams to ``(host, port)`` from a non-blocking UDP socket.

    Attributes
    ----------
    host, port : str, int
        The target as given.
    address : tuple
        The resolved socket address.
    frames_sent : int
        Frames whose datagrams were all handed to the network.
    datagrams_sent, datagrams_dropped : int
        Datagrams sent, and dropped because the socket's buffer was full.

    Raises
    ------
    OSError
        The host does not resolve or no socket could be opened (one line naming the protocol and target).
    ValueError
        The port is out of range.
    """

    protocol = "UDP"

    def __init__(self, host: str, port: int) -> None:
        if not 1 <= int(port) <= 65535:
            raise ValueError(f"{self.protocol} port must be in 1-65535, got {port}")
        self.host = str(host)
        self.port = int(port)
        self.frames_sent = 0
        self.datagrams_sent = 0
        self.datagrams_dropped = 0
        self._socket: socket.socket | None = None
        try:
            family, kind, proto, _, self.address = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)[0]
            self._socket = socket.socket(family, kind, proto)
            self._socket.setblocking(False)
        except OSError as error:
            raise OSError(f"{self.protocol} {self.target}: {reason(error)}") from error

    @property
    def target(self) -> str:
        """``host:port`` as given (for messages)."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._socket is None

    def send_datagrams(self, datagrams: Iterable[bytes], address: tuple | None = None) -> None:
        """Send one frame's datagrams (to ``address``, by default the target); counts the frame when all went.

        Raises
        ------
        OSError
            The socket failed or is closed (one line naming the protocol and target).
        """
        if self._socket is None:
            raise OSError(f"{self.protocol} {self.target}: the sender is closed")
        complete = True
        for datagram in datagrams:
            try:
                self._socket.sendto(datagram, address or self.address)
            except BlockingIOError:
                self.datagrams_dropped += 1
                complete = False
            except OSError as error:
                raise OSError(f"{self.protocol} {self.target}: {reason(error)}") from error
            else:
                self.datagrams_sent += 1
        self.frames_sent += complete

    def close(self) -> None:
        """Close the socket (idempotent)."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{self.frames_sent} frames sent"
        return f"{type(self).__name__}({self.target}, {state})"
