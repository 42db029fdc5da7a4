"""Live Link Face (UDP) and iFacialMocap senders, decoded on 127.0.0.1 by decoders written from the layouts."""

from __future__ import annotations

import socket
import struct
import time

import numpy as np
import pytest

from studio.core.io.arkit import ARKIT_BLENDSHAPE_NAMES
from studio.core.io.curves import TakeCurves
from studio.core.jobs import run_job

#: The 61 values of a Live Link Face packet, as Unreal's EARFaceBlendShape lists them.
LIVELINK_ORDER = (*(n[0].upper() + n[1:] for n in ARKIT_BLENDSHAPE_NAMES), "HeadYaw", "HeadPitch", "HeadRoll",
                  "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll", "RightEyeYaw", "RightEyePitch", "RightEyeRoll")


def decode_livelink(packet: bytes) -> dict:
    """The published Live Link Face layout (version 6, network byte order), read field by field."""
    at = 0

    def take(fmt: str):
        nonlocal at
        values = struct.unpack_from(fmt, packet, at)
        at += struct.calcsize(fmt)
        return values

    (version,) = take(">B")
    (device_length,) = take(">i")
    device = packet[at : at + device_length].decode("utf-8")
    at += device_length
    (name_length,) = take(">i")
    subject = packet[at : at + name_length].decode("utf-8")
    at += name_length
    frame, subframe, numerator, denominator = take(">ifii")
    (count,) = take(">B")
    values = take(f">{count}f")
    assert at == len(packet), "trailing bytes"
    return {"version": version, "device": device, "subject": subject, "frame": frame, "subframe": subframe,
            "rate": (numerator, denominator), "values": dict(zip(LIVELINK_ORDER, values, strict=True))}


def _receiver() -> socket.socket:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(3.0)
    return receiver


def _take(frames: int = 24) -> TakeCurves:
    from studio.core.rig.definition import RigDefinition

    names = RigDefinition.ict().control_names
    rng = np.random.default_rng(3)
    values = rng.uniform(0.0, 0.8, (frames, len(names))).astype(np.float32)
    found = np.ones(frames, bool)
    found[5] = False
    values[5] = np.nan
    head = np.c_[rng.uniform(-20, 20, (frames, 3)), rng.uniform(-2, 2, (frames, 3))].astype(np.float32)
    head[5] = np.nan
    return TakeCurves(names, np.arange(frames) / 30.0, found, values, head)


def test_every_live_link_packet_decodes_to_the_takes_values():
    from studio.core.io.livelink_udp import LiveLinkSender
    from studio.core.io.vmc import stream_curves_job
    from studio.core.retarget.stream import livelink_angles, stream_values

    curves = _take()
    names, arkit = stream_values(curves)
    angles = livelink_angles(curves.head_pose, arkit)
    receiver = _receiver()
    try:
        with LiveLinkSender("127.0.0.1", receiver.getsockname()[1], subject="Ada", fps=30.0) as sender:
            summary = run_job(stream_curves_job(curves.time_s, names, arkit, sender, realtime=False, head=angles))
        packets = [decode_livelink(receiver.recv(2048)) for _ in range(summary.frames_sent)]
    finally:
        receiver.close()
    assert summary.frames_sent == 23 and summary.frames_skipped == 1  # the frame without a face is not sent
    sent_frames = [i for i in range(24) if i != 5]
    for packet, i in zip(packets, sent_frames, strict=True):
        assert packet["version"] == 6 and packet["subject"] == "Ada" and len(packet["device"]) == 36
        assert packet["frame"] == i and packet["subframe"] == pytest.approx(0.0, abs=1e-4)
        assert packet["rate"] == (30, 1) and len(packet["values"]) == 61
        values = packet["values"]
        np.testing.assert_allclose([values[n[0].upper() + n[1:]] for n in ARKIT_BLENDSHAPE_NAMES],
                                   np.clip(arkit[i], 0, 1), atol=1e-6)  # fmt: skip
        np.testing.assert_allclose([values["HeadYaw"], values["HeadPitch"], values["HeadRoll"]],
                                   np.deg2rad(curves.head_pose[i, :3]), atol=1e-6)  # fmt: skip
        np.testing.assert_allclose([values[n] for n in LIVELINK_ORDER[55:]], angles[i, 3:], atol=1e-6)


def test_the_ifacialmocap_sender_answers_the_handshake_and_streams_text_frames():
    from studio.core.io.ifacialmocap import HANDSHAKE, IFacialMocapSender
    from studio.core.io.vmc import stream_curves_job
    from studio.core.retarget.stream import ifacialmocap_angles, stream_values

    curves = _take(12)
    names, arkit = stream_values(curves)
    extra = ifacialmocap_angles(curves.head_pose, arkit)
    receiver = _receiver()
    try:
        with IFacialMocapSender(None, listen_port=0) as sender:  # the phone's side, on a free port
            receiver.sendto(HANDSHAKE, ("127.0.0.1", sender.listen_address[1]))  # the VTuber app asks
            for _ in range(100):
                if sender.poll_handshakes():
                    break
                time.sleep(0.01)
            assert sender.receivers == [receiver.getsockname()]
            run_job(stream_curves_job(curves.time_s, names, arkit, sender, realtime=False, head=extra))
        frames = [receiver.recv(8192).decode("utf-8") for _ in range(11)]
    finally:
        receiver.close()
    for text, i in zip(frames, [i for i in range(12) if i != 5], strict=True):
        shapes, _, angles = text.partition("|=")
        pairs = [item.rsplit("-", 1) for item in shapes.split("|")]
        expected_names = [n.replace("Left", "_L") if n.endswith("Left") else n.replace("Right", "_R")
                          if n.endswith("Right") else n for n in ARKIT_BLENDSHAPE_NAMES]  # fmt: skip
        assert [name for name, _ in pairs] == expected_names and "eyeBlink_L" in expected_names
        assert [int(value) for _, value in pairs] == [int(round(100 * v)) for v in np.clip(arkit[i], 0, 1)]
        groups = dict(group.split("#") for group in angles.rstrip("|").split("|"))
        assert set(groups) == {"head", "rightEye", "leftEye"}
        head = [float(v) for v in groups["head"].split(",")]
        pose = curves.head_pose[i]
        np.testing.assert_allclose(head, [pose[1], pose[0], pose[2], *pose[3:]], atol=1e-3)  # x = pitch, y = yaw
        assert len(groups["rightEye"].split(",")) == 3 and text.endswith("|")


def test_bad_targets_are_one_line():
    from studio.core.io import udp
    from studio.core.io.livelink_udp import LiveLinkSender

    with pytest.raises(ValueError, match=r"bad Live Link target '127.0.0.1:70000': the port must be an integer"):
        udp.parse_host_port("127.0.0.1:70000", "127.0.0.1", 11111, "Live Link")
    with pytest.raises(OSError, match=r"^Live Link no-such-host\.invalid:11111: ") as error:
        LiveLinkSender("no-such-host.invalid", 11111)
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="subject name"):
        LiveLinkSender("127.0.0.1", 11111, subject="")
