"""The model behind the rig inspector: one rig, its current state, and events when either changes."""

from __future__ import annotations

import numpy as np

from studio.core.events import Event
from studio.core.rig.definition import RigDefinition
from studio.core.rig.eyeballs import pose_eyeballs
from studio.core.rig.rig import Rig
from studio.core.rig.state import RigState


class RigInspection:
    """A rig being inspected: current controls and identity, posed vertices on demand.

    Events
    ------
    controls_changed(index: int | None)
        One control changed (its index), or all of them (``None``).
    identity_changed(index: int | None)
        One identity coefficient changed, or all of them.

    Edits can be undone and redone; consecutive edits of the same slider merge into one step, so a drag is
    undone as a whole.
    """

    def __init__(self, rig: Rig, definition: RigDefinition) -> None:
        definition.validate_against(rig.expression_names, rig.num_vertices)
        self.rig = rig
        self.definition = definition
        self.state = RigState(
            controls=np.zeros(rig.num_controls, np.float32),
            identity=np.zeros(rig.num_identity_modes, np.float32),
        )
        self.controls_changed = Event("controls_changed")
        self.identity_changed = Event("identity_changed")
        self._identity_offsets = np.zeros_like(rig.neutral)
        self._undo: list[tuple[np.ndarray, np.ndarray]] = []
        self._redo: list[tuple[np.ndarray, np.ndarray]] = []
        self._last_edit: tuple[str, int] | None = None

    # -- history ----------------------------------------------------------------------------------------

    def _snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        return self.state.controls.copy(), self.state.identity.copy()

    def _record(self, edit: tuple[str, int] | None) -> None:
        if edit is None or edit != self._last_edit:
            self._undo.append(self._snapshot())
            self._redo.clear()
        self._last_edit = edit

    def _restore(self, snapshot: tuple[np.ndarray, np.ndarray]) -> None:
        controls, identity = snapshot
        self.state.controls[:] = controls
        self.state.identity[:] = identity
        self._identity_offsets = self.rig.identity_offsets(self.state.identity)
        self._last_edit = None
        self.controls_changed.emit(None)
        self.identity_changed.emit(None)

    @property
    def can_undo(self) -> bool:
        """Whether there is an edit to undo."""
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        """Whether there is an undone edit to redo."""
        return bool(self._redo)

    def undo(self) -> None:
        """Go back one edit step (a no-op when there is none)."""
        if self._undo:
            self._redo.append(self._snapshot())
            self._restore(self._undo.pop())

    def redo(self) -> None:
        """Redo the last undone edit step (a no-op when there is none)."""
        if self._redo:
            self._undo.append(self._snapshot())
            self._restore(self._redo.pop())

    # -- edits ------------------------------------------------------------------------------------------

    def set_control(self, index: int, value: float) -> None:
        """Set control ``index`` to ``value`` (clipped to [0, 1])."""
        value = float(np.clip(value, 0.0, 1.0))
        if self.state.controls[index] != value:
            self._record(("control", index))
            self.state.controls[index] = value
            self.controls_changed.emit(index)

    def set_identity(self, index: int, value: float) -> None:
        """Set identity coefficient ``index`` (standard deviations, clipped to [−3, 3])."""
        value = float(np.clip(value, -3.0, 3.0))
        if self.state.identity[index] != value:
            self._record(("identity", index))
            self.state.identity[index] = value
            self._identity_offsets = self.rig.identity_offsets(self.state.identity)
            self.identity_changed.emit(index)

    def reset_controls(self) -> None:
        """All expression controls back to 0 (neutral expression)."""
        self._record(None)
        self.state.controls[:] = 0.0
        self.controls_changed.emit(None)

    def reset_identity(self) -> None:
        """Back to the mean identity (all coefficients 0)."""
        self._record(None)
        self.state.identity[:] = 0.0
        self._identity_offsets = np.zeros_like(self.rig.neutral)
        self.identity_changed.emit(None)

    def vertices(self) -> np.ndarray:
        """Posed vertices for the current state, shape ``(V, 3)``, float32, centimetres.

        The identity offsets are cached when the identity changes, so a control change costs one
        ``(K,) @ (K, 3V)`` product (plus turning the eyeballs when a gaze control is set).
        """
        posed = self.rig.evaluate(self.state.controls) + self._identity_offsets
        return pose_eyeballs(self.rig, posed, self.state.controls)
