"""The iFacialMocap protocol: what VTuber apps (VSeeFace, Warudo, VNyan, VMagicMirror) receive from the phone.

The receiver asks for the stream by sending the handshake text :data:`HANDSHAKE` (UDP) to the phone's port
49983; the phone then sends one UTF-8 text datagram per frame back to the address the handshake came from::

    eyeBlink_L-12|eyeBlink_R-10|jawOpen-43|...|=head#-3.2,10.5,1.1,0.4,-0.2,0.0|rightEye#1.5,-2.0,0.0|leftEye#1.4,-2.1,0.0|

* one ``name-value`` per ARKit shape, ``|``-separated: ARKit's names with ``Left``/``Right`` written ``_L``/``_R``
  (``eyeBlinkLeft`` → ``eyeBlink_L``), values whole numbers 0–100;
* after ``=``: ``head#`` rotation x, y, z (degrees: pitch, yaw, roll) and position x, y, z (cm), then
  ``rightEye#`` and ``leftEye#`` rotations x, y, z (degrees), each group ending in ``|``.

:class:`IFacialMocapSender` answers the handshake as the phone does (it listens on :data:`DEFAULT_PORT`, or the
port it is given, and streams to whoever sent the handshake) and, given a ``host:port``, also streams there
from the start. Frames go out as :meth:`~IFacialMocapSender.send_frame` is called (the stream job paces them).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from studio.core.io.arkit import ARKIT_BLENDSHAPE_NAMES
from studio.core.io.udp import UdpSender, reason

__all__ = [
    "DEFAULT_PORT",
    "HANDSHAKE",
    "IFACIALMOCAP_NAMES",
    "IFacialMocapSender",
    "ifacialmocap_frame",
]

DEFAULT_PORT = 49983
"""The port the phone app listens on for the handshake, and VTuber apps receive on."""
HANDSHAKE = b"iFacialMocap_sahuasouryya9218sauhuiayeta91555dy3719"
"""What a receiver sends to start the stream."""


def _short_name(name: str) -> str:
    for side, short in (("Left", "_L"), ("Right", "_R")):
        if name.endswith(side):
            return name[: -len(side)] + short
    return name


IFACIALMOCAP_NAMES: tuple[str, ...] = tuple(_short_name(n) for n in ARKIT_BLENDSHAPE_NAMES)
"""The 52 names as iFacialMocap writes them, in ARKit's order."""


def ifacialmocap_frame(arkit: np.ndarray, head: np.ndarray | None = None, right_eye: np.ndarray | None = None,
                       left_eye: np.ndarray | None = None) -> bytes:
    """One frame's datagram (module docstring).

    Parameters
    ----------
    arkit : np.ndarray
        ARKit weights ``(52,)`` in [0, 1] (clipped), finite.
    head : np.ndarray, optional
        Rotation x, y, z (degrees) and position x, y, z (cm), ``(6,)``; zeros when omitted.
    right_eye, left_eye : np.ndarray, optional
        Rotations x, y, z in degrees, ``(3,)`` each; zeros when omitted.
    """
    weights = np.asarray(arkit, np.float64)
    if weights.shape != (len(ARKIT_BLENDSHAPE_NAMES),) or not np.isfinite(weights).all():
        raise ValueError(f"iFacialMocap needs the 52 ARKit weights, finite; got shape {weights.shape}")
    groups = [np.zeros(6) if head is None else np.asarray(head, np.float64),
              np.zeros(3) if right_eye is None else np.asarray(right_eye, np.float64),
              np.zeros(3) if left_eye is None else np.asarray(left_eye, np.float64)]  # fmt: skip
    if not all(np.isfinite(g).all() for g in groups):
        raise ValueError("iFacialMocap head and eye angles must be finite")
    shapes = "|".join(f"{name}-{int(round(100 * min(max(v, 0.0), 1.0)))}" for name, v in zip(IFACIALMOCAP_NAMES, weights, strict=True))
    angles = "".join(f"{label}#{','.join(f'{v:.4f}' for v in group)}|"
                     for label, group in zip(("head", "rightEye", "leftEye"), groups, strict=True))  # fmt: skip
    return f"{shapes}|={angles}".encode()


class IFacialMocapSender(UdpSender):
    """Streams frames as the iFacialMocap phone app does.

    Parameters
    ----------
    host, port : str, int, optional
        Stream here from the start (a receiver that does not send the handshake); without, only to whoever
        sends the handshake.
    listen_port : int
        Where the handshake is awaited (the phone's :data:`DEFAULT_PORT`; 0: any free port, see
        :attr:`listen_address`).

    Raises
    ------
    OSError
        The listening port is taken, or ``host`` does not resolve (one line).
    """

    protocol = "iFacialMocap"

    def __init__(self, host: str | None = None, port: int = DEFAULT_PORT, listen_port: int = DEFAULT_PORT) -> None:
        super().__init__(host or "127.0.0.1", port)
        self.receivers: list[tuple] = [] if host is None else [self.address]
        try:
            self._socket.bind(("0.0.0.0", int(listen_port)))
        except OSError as error:
            self.close()
            raise OSError(f"iFacialMocap: cannot listen for receivers on UDP port {listen_port} ({reason(error)})"
                          ) from error  # fmt: skip

    @property
    def listen_address(self) -> tuple[str, int]:
        """The local address the handshake is awaited on."""
        return self._socket.getsockname()

    def poll_handshakes(self) -> int:
        """Read any handshakes waiting (never blocks); a new receiver is streamed to from now on. Returns the
        number of receivers."""
        while self._socket is not None:
            try:
                data, address = self._socket.recvfrom(4096)
            except (TimeoutError, BlockingIOError):
                break
            except OSError:  # e.g. an ICMP "port unreachable" from a receiver that went away
                break
            if data.strip().startswith(HANDSHAKE[:12]) and address not in self.receivers:
                self.receivers.append(address)
        return len(self.receivers)

    def send_frame(self, names: Sequence[str], values: np.ndarray, head: np.ndarray | None = None,
                   time_s: float | None = None) -> None:
        """Send one frame to every receiver: ``values`` the 52 ARKit weights (``names`` ARKit's), ``head`` the
        12 numbers head rotation (3, degrees), position (3, cm), right eye (3), left eye (3) — zeros when
        omitted."""
        if tuple(names) != ARKIT_BLENDSHAPE_NAMES:
            raise ValueError("iFacialMocap sends ARKit's 52 shapes in their order")
        self.poll_handshakes()
        extra = np.zeros(12) if head is None else np.asarray(head, np.float64).reshape(12)
        datagram = ifacialmocap_frame(values, extra[:6], extra[6:9], extra[9:12])
        for receiver in self.receivers:
            self.send_datagrams([datagram], receiver)
