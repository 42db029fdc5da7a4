"""VMC streaming (OSC over UDP): bundles, the sender and the streaming job, against a real UDP receiver.

Every test receives on a real socket bound to 127.0.0.1 (a free port) and parses what arrives with
python-osc, as a VMC receiver (VSeeFace, Warudo) would.
"""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage

from studio.core.io.arkit import ARKIT_BLENDSHAPE_NAMES
from studio.core.io.vmc import (
    APPLY_ADDRESS,
    DEFAULT_VMC_HOST,
    DEFAULT_VMC_PORT,
    MAX_DATAGRAM_BYTES,
    VAL_ADDRESS,
    StreamSummary,
    VmcSender,
    parse_host_port,
    stream_curves_job,
    vmc_frame_datagrams,
)
from studio.core.jobs import JobCancelled, run_job


class Receiver:
    """A VMC receiver for tests: a UDP socket on 127.0.0.1 and a thread collecting frames.

    ``frames`` is the list of committed frames, each a list of ``(name, value)`` in arrival order (a frame
    is committed by an Apply message); ``pending`` holds values since the last Apply.
    """

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.05)
        self.port = self.socket.getsockname()[1]
        self.datagrams: list[bytes] = []
        self.frames: list[list[tuple[str, float]]] = []
        self.pending: list[tuple[str, float]] = []
        self.other: list[OscMessage] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="vmc-test-receiver", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                datagram = self.socket.recv(1 << 16)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.datagrams.append(datagram)
                self._parse(datagram)

    def _parse(self, datagram: bytes) -> None:
        assert OscBundle.dgram_is_bundle(datagram), "VMC frames are sent as OSC bundles"
        for message in OscBundle(datagram):
            assert isinstance(message, OscMessage)
            if message.address == VAL_ADDRESS:
                name, value = message.params
                self.pending.append((name, value))
            elif message.address == APPLY_ADDRESS:
                assert message.params == []
                self.frames.append(self.pending)
                self.pending = []
            else:
                self.other.append(message)

    def wait_frames(self, count: int, timeout_s: float = 5.0) -> list[list[tuple[str, float]]]:
        """Committed frames once there are ``count`` (or whatever came within ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.frames) >= count:
                    break
            time.sleep(0.005)
        time.sleep(0.02)  # let stragglers (which would be a bug) arrive
        with self._lock:
            return [list(frame) for frame in self.frames]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        self.socket.close()


@pytest.fixture
def receiver():
    rx = Receiver()
    yield rx
    rx.close()


@pytest.fixture
def sender(receiver):
    with VmcSender("127.0.0.1", receiver.port) as tx:
        yield tx


def _curves(frames: int, names: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 1.0, (frames, names)).astype(np.float32)


# ----------------------------------------------------------------------------------------------------------
# Targets and bundles
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:39539", ("127.0.0.1", 39539)),
        ("192.168.1.20:39540", ("192.168.1.20", 39540)),
        ("studio-pc", ("studio-pc", DEFAULT_VMC_PORT)),
        (":40000", (DEFAULT_VMC_HOST, 40000)),
        ("  localhost:1  ", ("localhost", 1)),
        ("", (DEFAULT_VMC_HOST, DEFAULT_VMC_PORT)),
        ("[::1]:39539", ("::1", 39539)),
        ("[::1]", ("::1", DEFAULT_VMC_PORT)),
    ],
)
def test_parse_host_port(text, expected):
    assert parse_host_port(text) == expected


@pytest.mark.parametrize(
    "text",
    ["127.0.0.1:port", "host:0", "host:65536", ":-5", "host:+5", "host: 39 539", "::1", "[::1", "a b:1"],
)
def test_a_bad_target_is_a_one_line_value_error(text):
    with pytest.raises(ValueError) as raised:
        parse_host_port(text)
    message = str(raised.value)
    assert "\n" not in message and repr(text) in message


def test_a_frame_is_one_bundle_of_vals_then_apply():
    values = np.linspace(0.0, 1.0, len(ARKIT_BLENDSHAPE_NAMES))
    (datagram,) = vmc_frame_datagrams(ARKIT_BLENDSHAPE_NAMES, values)
    assert OscBundle.dgram_is_bundle(datagram) and len(datagram) < MAX_DATAGRAM_BYTES
    bundle = OscBundle(datagram)
    messages = list(bundle)
    assert bundle.timestamp == 0  # "immediately"
    assert [m.address for m in messages] == [VAL_ADDRESS] * len(values) + [APPLY_ADDRESS]
    assert [m.params[0] for m in messages[:-1]] == list(ARKIT_BLENDSHAPE_NAMES)
    np.testing.assert_allclose([m.params[1] for m in messages[:-1]], values, atol=1e-7)
    assert messages[-1].params == []


def test_bad_values_are_refused():
    names = ARKIT_BLENDSHAPE_NAMES[:3]
    with pytest.raises(ValueError, match="finite.*'eyeLookDownLeft'"):
        vmc_frame_datagrams(names, np.array([0.1, np.nan, 0.2]))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        vmc_frame_datagrams(names, np.zeros(4))
    with pytest.raises(ValueError, match="finite"):
        vmc_frame_datagrams(names, np.array([0.1, np.inf, 0.2]))


# ----------------------------------------------------------------------------------------------------------
# The sender, against a real UDP receiver
# ----------------------------------------------------------------------------------------------------------


def test_sender_delivers_every_frame_in_order_each_ending_with_apply(receiver, sender):
    values = _curves(20, len(ARKIT_BLENDSHAPE_NAMES))
    for row in values:
        sender.send_frame(ARKIT_BLENDSHAPE_NAMES, row)
    frames = receiver.wait_frames(20)
    assert sender.frames_sent == 20 and sender.datagrams_sent == 20 and sender.datagrams_dropped == 0
    assert len(receiver.datagrams) == 20 and len(frames) == 20
    assert receiver.pending == [] and receiver.other == []
    for frame, row in zip(frames, values, strict=True):
        assert [name for name, _ in frame] == list(ARKIT_BLENDSHAPE_NAMES)
        np.testing.assert_array_equal([value for _, value in frame], row)  # float32 survives exactly


def test_a_frame_too_large_for_one_datagram_is_split_with_a_single_apply_at_the_end(receiver, sender):
    names = [f"shape_{i:04d}_{'x' * 20}" for i in range(2000)]
    values = _curves(3, len(names), seed=1)
    datagrams = vmc_frame_datagrams(names, values[0])
    assert len(datagrams) >= 2 and all(len(d) <= MAX_DATAGRAM_BYTES for d in datagrams)
    applies = [[m.address for m in OscBundle(d)].count(APPLY_ADDRESS) for d in datagrams]
    assert applies == [0] * (len(datagrams) - 1) + [1]
    assert list(OscBundle(datagrams[-1]))[-1].address == APPLY_ADDRESS

    for row in values:
        sender.send_frame(names, row)
    frames = receiver.wait_frames(3)
    assert len(frames) == 3 and receiver.pending == []
    assert len(receiver.datagrams) == 3 * len(datagrams) == sender.datagrams_sent
    for frame, row in zip(frames, values, strict=True):
        assert [name for name, _ in frame] == names
        np.testing.assert_array_equal([value for _, value in frame], row)


def test_sender_errors_are_one_line_and_name_the_target():
    with pytest.raises(OSError) as raised:
        VmcSender("no-such-host.invalid", 39539)
    assert "no-such-host.invalid:39539" in str(raised.value) and "\n" not in str(raised.value)
    with pytest.raises(ValueError, match="1-65535"):
        VmcSender("127.0.0.1", 70000)
    sender = VmcSender("127.0.0.1", 9)  # nobody listens there: UDP does not care
    sender.send_frame(["jawOpen"], np.array([0.5]))
    sender.close()
    sender.close()
    with pytest.raises(OSError, match=r"127\.0\.0\.1:9: the sender is closed"):
        sender.send_frame(["jawOpen"], np.array([0.5]))
    assert sender.frames_sent == 1 and "closed" in repr(sender)


# ----------------------------------------------------------------------------------------------------------
# The streaming job
# ----------------------------------------------------------------------------------------------------------


def test_stream_job_sends_all_frames_as_fast_as_possible_and_reports_progress(receiver, sender):
    values = _curves(20, len(ARKIT_BLENDSHAPE_NAMES), seed=2)
    time_s = np.arange(20) / 30.0
    progress = []
    started = time.perf_counter()
    summary = run_job(
        stream_curves_job(time_s, ARKIT_BLENDSHAPE_NAMES, values, sender, realtime=False), progress.append
    )
    assert time.perf_counter() - started < 0.5
    assert progress == [("streaming", i + 1, 20) for i in range(20)]
    assert isinstance(summary, StreamSummary)
    assert (summary.frames_sent, summary.frames_skipped, summary.late_frames) == (20, 0, 0)
    frames = receiver.wait_frames(20)
    assert len(frames) == 20
    np.testing.assert_array_equal([[v for _, v in frame] for frame in frames], values)


def test_stream_job_in_real_time_keeps_to_the_frame_times(receiver, sender):
    values = _curves(15, len(ARKIT_BLENDSHAPE_NAMES), seed=3)
    time_s = 5.0 + np.arange(15) / 30.0  # only differences matter: the last frame is due after 14/30 s
    started = time.perf_counter()
    summary = run_job(stream_curves_job(time_s, ARKIT_BLENDSHAPE_NAMES, values, sender))
    elapsed = time.perf_counter() - started
    assert 0.45 <= elapsed < 1.5, elapsed
    assert summary.frames_sent == 15 and 0.45 <= summary.duration_s < 1.5
    assert summary.max_lateness_ms >= 0.0 and 0 <= summary.late_frames <= 15
    assert len(receiver.wait_frames(15)) == 15


def test_stream_job_counts_late_frames_with_a_fake_clock(sender):
    now = [0.0]
    slept = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    def clock() -> float:
        return now[0]

    class SlowSender:
        """Sending frame 2 takes 0.1 s: frames 3 and 4 are then late."""

        def send_frame(self, names, values, head=None, time_s=None):
            sender.send_frame(names, values, head)
            now[0] += 0.1 if sender.frames_sent == 3 else 0.0

    values = _curves(6, 2)
    summary = run_job(
        stream_curves_job(np.arange(6) / 30, ["a", "b"], values, SlowSender(), clock=clock, sleep=sleep)
    )
    assert summary.frames_sent == 6 and summary.late_frames == 2
    assert summary.max_lateness_ms == pytest.approx(1e3 * (0.1 - 1 / 30))
    assert summary.duration_s == pytest.approx(0.1 + 2 / 30)
    assert all(0 < s <= 0.05 for s in slept)


def test_stream_job_skips_frames_without_face(receiver, sender):
    values = _curves(10, len(ARKIT_BLENDSHAPE_NAMES), seed=4)
    values[[2, 5, 6]] = np.nan
    values[8, 3] = np.nan  # one NaN is enough to skip the frame
    summary = run_job(
        stream_curves_job(np.arange(10) / 30, ARKIT_BLENDSHAPE_NAMES, values, sender, realtime=False)
    )
    assert (summary.frames_sent, summary.frames_skipped) == (6, 4)
    frames = receiver.wait_frames(6)
    kept = values[[0, 1, 3, 4, 7, 9]]
    assert len(frames) == 6
    np.testing.assert_array_equal([[v for _, v in frame] for frame in frames], kept)


def test_stream_job_stops_when_cancelled(receiver, sender):
    values = _curves(300, len(ARKIT_BLENDSHAPE_NAMES), seed=5)
    cancel = threading.Event()
    job = stream_curves_job(np.arange(300) / 30, ARKIT_BLENDSHAPE_NAMES, values, sender, cancel=cancel)
    started = time.perf_counter()
    with pytest.raises(JobCancelled) as cancelled:
        for _, done, _ in job:
            if done == 5:
                cancel.set()
    assert time.perf_counter() - started < 1.0  # 300 frames would take 10 s
    partial = cancelled.value.partial
    assert isinstance(partial, StreamSummary) and partial.frames_sent == 5
    assert len(receiver.wait_frames(5)) == 5

    # a callable cancel, set while the job waits for a frame far in the future, stops the wait too
    stop_at = time.perf_counter() + 0.2
    far = stream_curves_job(
        np.array([0.0, 60.0]), ["a"], np.zeros((2, 1)), sender, cancel=lambda: time.perf_counter() > stop_at
    )
    with pytest.raises(JobCancelled, match="after 1 of 2"):
        run_job(far)
    assert time.perf_counter() - stop_at < 0.5


def test_stream_job_refuses_mismatched_shapes(sender):
    with pytest.raises(ValueError, match=r"\(3, 2\)"):
        run_job(stream_curves_job(np.arange(3), ["a", "b"], np.zeros((3, 3)), sender))
    with pytest.raises(ValueError, match="non-decreasing"):
        run_job(stream_curves_job(np.array([0.0, 1.0, 0.5]), ["a"], np.zeros((3, 1)), sender))
