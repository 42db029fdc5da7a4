"""Live Link Face over UDP: the packets Epic's Live Link Face app sends to Unreal's Live Link (port 11111).

One datagram per frame, big-endian (network order), packet version 6::

    uint8    version            6
    int32    device id length   N (bytes, no terminator)
    N bytes  device id          UTF-8 (the app sends a UUID)
    int32    subject length     M
    M bytes  subject name       UTF-8 (the Live Link subject Unreal lists)
    int32    frame number       frames at the frame rate below
    float32  subframe           fraction of a frame, [0, 1)
    int32    rate numerator     frame rate = numerator / denominator
    int32    rate denominator
    uint8    count              61
    61 × float32 values         the 52 ARKit shapes in Unreal's EARFaceBlendShape order
                                (studio.core.io.arkit.ARKIT_BLENDSHAPE_NAMES), then HeadYaw, HeadPitch, HeadRoll,
                                LeftEyeYaw, LeftEyePitch, LeftEyeRoll, RightEyeYaw, RightEyePitch, RightEyeRoll

Shapes are weights in [0, 1]; the nine angles are radians, as the app sends them (the studio's head angles in
the rig's convention, its eye angles from the gaze shapes: :func:`studio.core.io.livelink.eye_angles_from_arkit`
gives them normalised, which :data:`EYE_ANGLE_RAD` turns into radians). :class:`LiveLinkSender` sends frames
from a UDP socket (sending never waits for Unreal), with the frame time counted at the take's rate from its
start timecode.
"""

from __future__ import annotations

import math
import struct
import uuid
from collections.abc import Sequence

import numpy as np

from studio.core.io.arkit import ARKIT_BLENDSHAPE_NAMES
from studio.core.io.udp import UdpSender

__all__ = [
    "DEFAULT_LIVELINK_PORT",
    "EYE_ANGLE_RAD",
    "LIVELINK_ANGLE_NAMES",
    "LIVELINK_PACKET_VERSION",
    "LIVELINK_VALUE_COUNT",
    "LiveLinkSender",
    "livelink_face_packet",
    "livelink_frame_values",
]

DEFAULT_LIVELINK_PORT = 11111
"""The port Unreal's Live Link Face source listens on."""
LIVELINK_PACKET_VERSION = 6
LIVELINK_ANGLE_NAMES = ("HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
                        "RightEyeYaw", "RightEyePitch", "RightEyeRoll")  # fmt: skip
LIVELINK_VALUE_COUNT = len(ARKIT_BLENDSHAPE_NAMES) + len(LIVELINK_ANGLE_NAMES)  # 61
#: Radians of a normalised eye angle of 1 (an eye turns about 30° at most).
EYE_ANGLE_RAD = math.radians(30.0)


def livelink_face_packet(device_id: str, subject: str, frame_number: int, subframe: float,
                         rate: tuple[int, int], values: np.ndarray) -> bytes:
    """One Live Link Face datagram (layout in the module docstring).

    Parameters
    ----------
    device_id, subject : str
        The sender's id and the subject name, UTF-8, each at most 255 bytes.
    frame_number : int
        The frame's number at ``rate``.
    subframe : float
        Fraction of a frame, in [0, 1).
    rate : tuple of int
        Frame rate as ``(numerator, denominator)``, both > 0.
    values : np.ndarray
        Shape ``(61,)``: 52 shapes then 9 angles (radians), finite.

    Raises
    ------
    ValueError
        A name too long, a bad rate, values not finite or not 61 (one line).
    """
    values = np.asarray(values, np.float64)
    if values.shape != (LIVELINK_VALUE_COUNT,) or not np.isfinite(values).all():
        raise ValueError(f"Live Link values must be {LIVELINK_VALUE_COUNT} finite numbers, got shape {values.shape}")
    device, name = device_id.encode("utf-8"), subject.encode("utf-8")
    if not name or len(name) > 255 or len(device) > 255:
        raise ValueError(f"Live Link subject name must be 1-255 bytes of UTF-8, got {subject!r}")
    if rate[0] <= 0 or rate[1] <= 0:
        raise ValueError(f"Live Link frame rate must be positive, got {rate[0]}/{rate[1]}")
    return b"".join((
        struct.pack(">B", LIVELINK_PACKET_VERSION),
        struct.pack(">i", len(device)), device,
        struct.pack(">i", len(name)), name,
        struct.pack(">ifii", int(frame_number), float(subframe), int(rate[0]), int(rate[1])),
        struct.pack(">B", LIVELINK_VALUE_COUNT),
        struct.pack(f">{LIVELINK_VALUE_COUNT}f", *values.tolist()),
    ))  # fmt: skip


def livelink_frame_values(arkit: np.ndarray, head_rad: np.ndarray | None = None,
                          eyes: np.ndarray | None = None) -> np.ndarray:
    """The 61 values per frame: ARKit weights ``(T, 52)``, head yaw/pitch/roll ``(T, 3)`` radians (zeros when
    omitted) and normalised eye angles ``(T, 6)`` (:func:`~studio.core.io.livelink.eye_angles_from_arkit`;
    turned into radians) → ``(T, 61)`` float64, NaN rows kept (frames without a face are not sent)."""
    arkit = np.atleast_2d(np.asarray(arkit, np.float64))
    count = len(arkit)
    head = np.zeros((count, 3)) if head_rad is None else np.asarray(head_rad, np.float64).reshape(count, 3)
    eye = np.zeros((count, 6)) if eyes is None else np.asarray(eyes, np.float64).reshape(count, 6) * EYE_ANGLE_RAD
    return np.concatenate([np.clip(arkit, 0.0, 1.0), head, eye], axis=1)


class LiveLinkSender(UdpSender):
    """Sends Live Link Face frames to Unreal (``host:port``, default :data:`DEFAULT_LIVELINK_PORT`).

    Parameters
    ----------
    host, port : str, int
        Unreal's machine and Live Link port.
    subject : str
        The subject name Unreal lists (``--subject``).
    fps : float
        The take's frame rate: frame times are counted at it (a fractional rate such as 29.97 is sent as
        30000/1001).
    start_frame : int
        The first frame's number (the take's start timecode in frames; 0 by default).
    """

    protocol = "Live Link"

    def __init__(self, host: str, port: int = DEFAULT_LIVELINK_PORT, subject: str = "SimonSays", fps: float = 30.0,
                 start_frame: int = 0) -> None:
        if not subject or len(subject.encode("utf-8")) > 255:
            raise ValueError(f"Live Link subject name must be 1-255 bytes of UTF-8, got {subject!r}")
        super().__init__(host, port)
        self.subject = subject
        self.device_id = str(uuid.uuid4())
        self.rate = _rate(fps)
        self.start_frame = int(start_frame)

    def send_frame(self, names: Sequence[str], values: np.ndarray, head: np.ndarray | None = None,
                   time_s: float | None = None) -> None:
        """Send one frame: ``values`` are the 52 ARKit weights (``names`` must be ARKit's) or all 61 values;
        ``head`` the 9 angles in radians when ``values`` has 52; ``time_s`` the frame's time in the take
        (default: frames counted as they are sent)."""
        values = np.asarray(values, np.float64)
        if len(values) == len(ARKIT_BLENDSHAPE_NAMES):
            if tuple(names) != ARKIT_BLENDSHAPE_NAMES:
                raise ValueError("Live Link sends ARKit's 52 shapes in their order")
            values = np.concatenate([values, np.zeros(9) if head is None else np.asarray(head, np.float64)])
        frames = self.frames_sent if time_s is None else float(time_s) * self.rate[0] / self.rate[1]
        whole = math.floor(frames + 1e-6)
        packet = livelink_face_packet(self.device_id, self.subject, self.start_frame + whole,
                                      min(max(frames - whole, 0.0), 0.999999), self.rate, values)  # fmt: skip
        self.send_datagrams([packet])


def _rate(fps: float) -> tuple[int, int]:
    for numerator in (24000, 30000, 48000, 60000):
        if abs(fps - numerator / 1001) < 0.005:
            return numerator, 1001
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"Live Link frame rate must be positive, got {fps}")
    return max(1, int(round(fps))), 1
