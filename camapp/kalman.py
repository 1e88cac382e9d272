"""A constant-velocity Kalman filter for one box, in continuous time (pure numpy).

State: centre x, centre y, width, height and their rates per second. Time steps are seconds, not frames, because the
detector runs at an irregular rate (motion gating, detect.fps): a gap of 2 s grows the uncertainty as 2 s should.
Noise scales with the box height, so a near person and a far one are treated alike (the SORT/ByteTrack convention).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from camapp.geometry import Box

Vector = npt.NDArray[np.float64]
Matrix = npt.NDArray[np.float64]

MEASURE_STD = 0.1  # detector box jitter (SSD boxes on people wobble by about this much), in box heights
START_VELOCITY_STD = 2.0  # a new object's unknown speed, box heights per second
ACCEL_STD = 0.3  # how fast a walker changes speed, box heights per second per sqrt(second)
POSITION_STD = 0.02  # position noise beyond the velocity model, box heights per sqrt(second)
SIZE_RATE_DAMPING = 0.5  # share of the size-change rate kept per second: boxes stop growing, walkers keep walking

_H = np.hstack([np.eye(4), np.zeros((4, 4))])


@dataclass(frozen=True)
class BoxState:
    """Mean and covariance of one box's state."""

    mean: Vector
    cov: Matrix

    @classmethod
    def start(cls, box: Box) -> BoxState:
        """A filter for an object first seen at `box`, speed unknown."""
        h = max(box[3] - box[1], 1.0)
        std = np.array([MEASURE_STD * h] * 4 + [START_VELOCITY_STD * h] * 2 + [MEASURE_STD * h] * 2)
        return cls(np.concatenate([_measure(box), np.zeros(4)]), np.diag(std**2))

    def predict(self, dt: float) -> BoxState:
        """The state `dt` seconds later (dt <= 0: unchanged)."""
        if dt <= 0:
            return self
        f = np.eye(8)
        f[:4, 4:] = np.eye(4) * dt
        f[6:, 6:] *= SIZE_RATE_DAMPING**dt
        h = max(float(self.mean[3]), 1.0)
        q_pos = (POSITION_STD * h) ** 2 * dt
        q_vel = (ACCEL_STD * h) ** 2 * dt
        q = np.diag([q_pos] * 4 + [q_vel] * 2 + [q_vel * 0.1] * 2)
        return BoxState(f @ self.mean, f @ self.cov @ f.T + q)

    def correct(self, box: Box) -> BoxState:
        """The state after observing `box` now."""
        z = _measure(box)
        r = np.diag([(MEASURE_STD * max(box[3] - box[1], 1.0)) ** 2] * 4)
        s = _H @ self.cov @ _H.T + r
        gain = np.linalg.solve(s, _H @ self.cov).T
        mean = self.mean + gain @ (z - _H @ self.mean)
        cov = (np.eye(8) - gain @ _H) @ self.cov
        return BoxState(mean, (cov + cov.T) / 2)

    def with_velocity(self, vx: float, vy: float) -> BoxState:
        """The same state moving at (vx, vy) px/s, with that speed trusted about as much as one observation."""
        mean = self.mean.copy()
        mean[4:6] = (vx, vy)
        cov = self.cov.copy()
        h = max(float(mean[3]), 1.0)
        cov[4:6, :] = 0.0
        cov[:, 4:6] = 0.0
        cov[4, 4] = cov[5, 5] = (0.5 * h) ** 2
        return BoxState(mean, cov)

    @property
    def box(self) -> Box:
        cx, cy, w, h = (float(v) for v in self.mean[:4])
        w, h = max(w, 1.0), max(h, 1.0)
        return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)

    @property
    def velocity(self) -> tuple[float, float]:
        return float(self.mean[4]), float(self.mean[5])

    def centre_distance2(self, box: Box) -> float:
        """Squared Mahalanobis distance of the box's centre from the predicted centre (2 degrees of freedom)."""
        z = _measure(box)[:2] - self.mean[:2]
        h = max(box[3] - box[1], 1.0)
        s = self.cov[:2, :2] + np.eye(2) * (MEASURE_STD * h) ** 2
        return float(z @ np.linalg.solve(s, z))


def _measure(box: Box) -> Vector:
    x1, y1, x2, y2 = box
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dtype=np.float64)
