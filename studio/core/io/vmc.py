"""Stream blendshape values over the VMC protocol (OSC over UDP) to VSeeFace, Warudo, VNyan, Unity, …

The Virtual Motion Capture protocol carries, per frame, one ``/VMC/Ext/Blend/Val`` message (a string name
and a float value) per blendshape, then one ``/VMC/Ext/Blend/Apply`` message without arguments: receivers
commit the values they collected on Apply. Names are ARKit's 52 blendshape names ("perfect sync", see
:data:`studio.core.io.arkit.ARKIT_BLENDSHAPE_NAMES`). Receivers listen on UDP port 39539 by default.

With a head pose the frame also holds one ``/VMC/Ext/Bone/Pos`` message for the ``Head`` bone (arguments
name, position x, y, z in metres, rotation quaternion x, y, z, w), in Unity's left-handed axes as VMC
receivers expect: x negated from the rig's right-handed axes, and the rotation mirrored to match
(:func:`head_bone_values`).

A frame goes out as one OSC bundle holding all its Val messages then Apply (:func:`vmc_frame_datagrams`);
a frame too large for one safe UDP datagram is split into several bundles, Apply in the last.
:class:`VmcSender` sends frames from a UDP socket; :func:`stream_curves_job` is a generator job (GUIDE §2)
that plays recorded curves to a sender, in real time or as fast as possible.

Example
-------
>>> from studio.core.jobs import run_job
>>> with VmcSender(*parse_host_port("127.0.0.1:39539")) as sender:          # doctest: +SKIP
...     summary = run_job(stream_curves_job(curves.time_s, names, arkit_values, sender))
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass

import numpy as np
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from studio.core.io import udp
from studio.core.jobs import Cancel, JobCancelled, is_cancelled

__all__ = [
    "APPLY_ADDRESS",
    "BONE_ADDRESS",
    "DEFAULT_VMC_HOST",
    "DEFAULT_VMC_PORT",
    "HEAD_BONE",
    "LATE_TOLERANCE_S",
    "MAX_DATAGRAM_BYTES",
    "VAL_ADDRESS",
    "StreamSummary",
    "VmcSender",
    "head_bone_values",
    "parse_host_port",
    "stream_curves_job",
    "vmc_frame_datagrams",
]

DEFAULT_VMC_HOST = "127.0.0.1"
"""Where VMC receivers usually run: this machine."""

DEFAULT_VMC_PORT = 39539
"""The port VMC receivers (VSeeFace, Warudo, VNyan, …) listen on by default."""

BONE_ADDRESS = "/VMC/Ext/Bone/Pos"
"""OSC address of one bone's pose: ``(name: str, px, py, pz, qx, qy, qz, qw: float32)``, Unity axes, metres."""

HEAD_BONE = "Head"
"""The humanoid bone a head pose drives."""

VAL_ADDRESS = "/VMC/Ext/Blend/Val"
"""OSC address of one blendshape value: arguments ``(name: str, value: float32)``."""

APPLY_ADDRESS = "/VMC/Ext/Blend/Apply"
"""OSC address that commits the values sent since the last Apply (no arguments)."""

MAX_DATAGRAM_BYTES = 60000
"""Largest bundle sent in one UDP datagram, bytes (under the 65,507-byte UDP payload limit of IPv4)."""

LATE_TOLERANCE_S = 0.002
"""A real-time frame sent more than this after its due time counts as late, seconds."""

#: Seconds the real-time job sleeps at most before checking ``cancel`` again.
_SLEEP_SLICE_S = 0.05
#: Bytes a bundle needs besides its contents: ``#bundle\0`` and the 8-byte time tag.
_BUNDLE_HEADER_BYTES = 16


def parse_host_port(text: str) -> tuple[str, int]:
    """Parse a VMC target: ``"HOST:PORT"``, ``"HOST"`` or ``":PORT"`` (missing parts take the defaults).

    IPv6 addresses go in brackets: ``"[::1]:39539"``.

    Parameters
    ----------
    text : str
        The target as typed; surrounding spaces are ignored, an empty string means the defaults.

    Returns
    -------
    tuple of (str, int)
        Host (name or address) and UDP port in 1–65535.

    Raises
    ------
    ValueError
        The port is not an integer in 1–65535, or the host is malformed (one-line message).
    """
    return udp.parse_host_port(text, DEFAULT_VMC_HOST, DEFAULT_VMC_PORT, "VMC")


def _val_message(name: str, value: float) -> OscMessage:
    builder = OscMessageBuilder(VAL_ADDRESS)
    builder.add_arg(name, OscMessageBuilder.ARG_TYPE_STRING)
    builder.add_arg(value, OscMessageBuilder.ARG_TYPE_FLOAT)
    return builder.build()


_APPLY_MESSAGE = OscMessageBuilder(APPLY_ADDRESS).build()


def head_bone_values(rotation_xyzw: np.ndarray, translation_cm: np.ndarray) -> np.ndarray:
    """The ``Head`` bone's VMC arguments from a head pose in the rig's right-handed axes.

    Parameters
    ----------
    rotation_xyzw : np.ndarray
        Unit quaternions ``(x, y, z, w)``, shape ``(..., 4)``, rig axes (x towards the performer's left, y up,
        z towards the camera).
    translation_cm : np.ndarray
        Shape ``(..., 3)``, centimetres, rig axes.

    Returns
    -------
    np.ndarray
        Shape ``(..., 7)``, float64: position x, y, z (metres) and quaternion x, y, z, w in Unity's left-handed
        axes (x negated; a rotation mirrored in x keeps its x part and negates its y and z parts).
    """
    q = np.asarray(rotation_xyzw, np.float64)
    t = np.asarray(translation_cm, np.float64) * 0.01
    return np.concatenate([t * [-1.0, 1.0, 1.0], q * [1.0, -1.0, -1.0, 1.0]], axis=-1)


def _bone_message(name: str, pose: np.ndarray) -> OscMessage:
    builder = OscMessageBuilder(BONE_ADDRESS)
    builder.add_arg(name, OscMessageBuilder.ARG_TYPE_STRING)
    for value in pose.tolist():
        builder.add_arg(float(value), OscMessageBuilder.ARG_TYPE_FLOAT)
    return builder.build()


def vmc_frame_datagrams(names: Sequence[str], values: np.ndarray, head: np.ndarray | None = None) -> list[bytes]:
    """The OSC bundle(s) of one VMC frame: a Val message per blendshape, then Apply.

    Parameters
    ----------
    names : sequence of str
        Blendshape names, length ``N`` (ARKit names for "perfect sync" receivers).
    values : np.ndarray
        Their values, shape ``(N,)``, finite (sent as float32; usually in [0, 1]).
    head : np.ndarray, optional
        The ``Head`` bone's pose, shape ``(7,)`` (:func:`head_bone_values`), sent first; a NaN pose is not sent.

    Returns
    -------
    list of bytes
        One datagram (an OSC bundle, time tag "immediately") holding every Val message then Apply; several
        when one would exceed :data:`MAX_DATAGRAM_BYTES`, in order, with Apply only at the end of the last.

    Raises
    ------
    ValueError
        ``values`` is not ``(N,)`` for ``N`` names, or holds NaN or infinity, or one name alone is too long
        for a datagram.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or len(values) != len(names):
        raise ValueError(f"values must have shape ({len(names)},) for {len(names)} names, got {values.shape}")
    if not np.isfinite(values).all():
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise ValueError(f"VMC values must be finite: {names[bad]!r} is {values[bad]}")
    limit = MAX_DATAGRAM_BYTES - _BUNDLE_HEADER_BYTES
    bundles: list[list[OscMessage]] = [[]]
    used = 0
    messages = [_val_message(str(name), value) for name, value in zip(names, values.tolist(), strict=True)]
    if head is not None and np.isfinite(head).all():
        messages.insert(0, _bone_message(HEAD_BONE, np.asarray(head, np.float64).reshape(7)))
    for name, message in zip(["Head"] * (len(messages) - len(names)) + list(names), messages, strict=True):
        size = 4 + message.size  # each bundle element is preceded by its size (int32)
        if size > limit:
            raise ValueError(f"blendshape name {str(name)[:40]!r}… is too long for one UDP datagram")
        if used + size > limit:
            bundles.append([])
            used = 0
        bundles[-1].append(message)
        used += size
    if used + 4 + _APPLY_MESSAGE.size > limit:
        bundles.append([])
    bundles[-1].append(_APPLY_MESSAGE)
    datagrams = []
    for contents in bundles:
        builder = OscBundleBuilder(IMMEDIATELY)
        for message in contents:
            builder.add_content(message)
        datagrams.append(builder.build().dgram)
    return datagrams


class VmcSender(udp.UdpSender):
    """Sends VMC frames from a UDP socket to ``(host, port)``.

    Sending never waits for the receiver (UDP; nothing needs to listen): a frame costs the building of its
    bundle (about 0.4 ms for 52 names) and a ``sendto``. The socket is non-blocking; a datagram the kernel
    cannot queue at once is dropped and counted in :attr:`datagrams_dropped` (:class:`~studio.core.io.udp.UdpSender`).

    Parameters
    ----------
    host : str
        Receiver's host name or address (resolved once, here).
    port : int
        Receiver's UDP port, 1–65535.

    Raises
    ------
    OSError
        The host does not resolve or no socket could be opened (one line naming ``host:port``).
    ValueError
        The port is out of range.
    """

    protocol = "VMC"

    def __init__(self, host: str = DEFAULT_VMC_HOST, port: int = DEFAULT_VMC_PORT) -> None:
        super().__init__(host, port)

    def send_frame(self, names: Sequence[str], values: np.ndarray, head: np.ndarray | None = None,
                   time_s: float | None = None) -> None:
        """Send one frame (see :func:`vmc_frame_datagrams`).

        Parameters
        ----------
        names : sequence of str
            Blendshape names, length ``N``.
        values : np.ndarray
            Their values, shape ``(N,)``, finite.
        head : np.ndarray, optional
            The ``Head`` bone's pose, shape ``(7,)`` (:func:`head_bone_values`).
        time_s : float, optional
            The frame's time (VMC carries none; accepted as every stream's sender does).

        Raises
        ------
        ValueError
            Bad ``values`` (shape, NaN).
        OSError
            The socket failed or is closed (one line naming ``host:port``).
        """
        self.send_datagrams(vmc_frame_datagrams(names, values, head))


@dataclass(frozen=True)
class StreamSummary:
    """What :func:`stream_curves_job` did.

    Attributes
    ----------
    frames_sent : int
        Frames sent.
    duration_s : float
        Wall time from the first frame's due time to the end, seconds.
    late_frames : int
        Real-time frames sent more than :data:`LATE_TOLERANCE_S` after their due time (0 when not real time).
    max_lateness_ms : float
        Largest delay of a real-time frame past its due time, milliseconds (0 when not real time).
    frames_skipped : int
        Frames not sent because they hold NaN (no face).
    """

    frames_sent: int
    duration_s: float
    late_frames: int
    max_lateness_ms: float
    frames_skipped: int = 0


def stream_curves_job(
    time_s: np.ndarray,
    names: Sequence[str],
    values: np.ndarray,
    sender: udp.UdpSender,
    *,
    realtime: bool = True,
    cancel: Cancel = None,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
    head: np.ndarray | None = None,
) -> Generator[tuple[str, int, int], None, StreamSummary]:
    """Send curves to a VMC receiver, frame by frame (a generator job; see :mod:`studio.core.jobs`).

    Parameters
    ----------
    time_s : np.ndarray
        Frame times, shape ``(T,)``, seconds, non-decreasing (only differences matter).
    names : sequence of str
        Blendshape names, length ``N``.
    values : np.ndarray
        Values per frame, shape ``(T, N)``; rows holding NaN (no face) are skipped, not sent.
    sender : UdpSender
        Where frames go (not closed by the job): a :class:`VmcSender`, a Live Link or an iFacialMocap sender
        (each takes ``send_frame(names, values, head, time_s=...)``).
    realtime : bool
        Send frame ``i`` at ``start + time_s[i] - time_s[0]`` (sleeping until then; a frame already due is
        sent at once and counted as late), or send every frame at once (``False``).
    cancel : callable, event-like flag or None
        Checked before every frame and while waiting (see :func:`studio.core.jobs.is_cancelled`).
    clock, sleep : callable
        Monotonic seconds and a sleep (replaceable for tests).
    head : np.ndarray, optional
        The head per frame, in the sender's own form (``(T, 7)`` for VMC: :func:`head_bone_values`).

    Yields
    ------
    tuple of (str, int, int)
        ``("streaming", i + 1, T)`` after frame ``i`` (sent or skipped).

    Returns
    -------
    StreamSummary
        Frames sent and skipped, duration and lateness.

    Raises
    ------
    JobCancelled
        ``cancel`` was set; its ``partial`` is the :class:`StreamSummary` so far.
    ValueError
        Shapes do not match, times decrease, or values hold infinity.
    OSError
        The sender failed.
    """
    time_s = np.asarray(time_s, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    total = len(time_s)
    if time_s.ndim != 1 or values.shape != (total, len(names)):
        raise ValueError(
            f"values must have shape (T, N) = ({total}, {len(names)}) for {total} times and {len(names)} names,"
            f" got {values.shape}"
        )
    if total and (not np.isfinite(time_s).all() or np.any(np.diff(time_s) < 0)):
        raise ValueError("time_s must be finite and non-decreasing")
    if np.isinf(values).any():
        raise ValueError("values hold infinity (NaN rows mean no face; infinity is not allowed)")
    skip = np.isnan(values).any(axis=1)
    if head is not None and len(head) != total:
        raise ValueError(f"head must have one row per frame ({total}), got {len(head)}")

    start = clock()
    sent = skipped = late = 0
    max_lateness_s = 0.0

    def summary() -> StreamSummary:
        return StreamSummary(sent, clock() - start, late, 1e3 * max_lateness_s, skipped)

    def stop_if_cancelled(done: int) -> None:
        if is_cancelled(cancel):
            protocol = getattr(sender, "protocol", "VMC")
            raise JobCancelled(f"{protocol} streaming cancelled after {done} of {total} frames", partial=summary())

    for i in range(total):
        stop_if_cancelled(i)
        if skip[i]:
            skipped += 1
            yield ("streaming", i + 1, total)
            continue
        if realtime:
            due = start + (time_s[i] - time_s[0])
            while (wait := due - clock()) > 0:
                sleep(min(wait, _SLEEP_SLICE_S))
                stop_if_cancelled(i)
            lateness = clock() - due
            max_lateness_s = max(max_lateness_s, lateness)
            late += lateness > LATE_TOLERANCE_S
        sender.send_frame(names, values[i], None if head is None else head[i], time_s=float(time_s[i]))
        sent += 1
        yield ("streaming", i + 1, total)
    return summary()
