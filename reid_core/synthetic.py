"""Synthetic people for testing re-identification end to end without a dataset.

Each identity is a stick-and-blob figure (head, hair, torso, arms, legs, shoes)
with its own clothing colours, build and torso pattern; each image draws it in a
random pose (limb angles, scale, position, facing the camera or not) on a random
cluttered background, under a per-camera colour cast, optionally behind an
occluder that hides the lower body, the upper body or one side. The exact COCO-17
keypoints of the drawn figure come with every image; keypoints hidden by the
occluder, outside the image, or on the far side of the head get confidence 0.

Everything is drawn with numpy masks (no cv2). The look of an identity depends
only on ``(style_seed, pid)``, so separate calls can draw new images of the same
people; poses, backgrounds and occluders depend on ``seed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

OCCLUDER_KINDS = ("lower", "upper", "side")
# COCO-17 indices
NOSE, L_EYE, R_EYE, L_EAR, R_EAR = 0, 1, 2, 3, 4
L_SHO, R_SHO, L_ELB, R_ELB, L_WRI, R_WRI = 5, 6, 7, 8, 9, 10
L_HIP, R_HIP, L_KNE, R_KNE, L_ANK, R_ANK = 11, 12, 13, 14, 15, 16
_SKIN = np.array([[241, 194, 167], [224, 172, 105], [198, 134, 66], [141, 85, 36], [92, 56, 30]], np.float32)


@dataclass(frozen=True)
class SyntheticPeople:
    """Images of synthetic identities.

    images: (N, H, W, 3) uint8 RGB; keypoints: (N, 17, 3) float32 COCO-17 x, y, confidence in
    image pixels; pids, camids: (N,) int64; occluder: (N,) int64 index into ``OCCLUDER_KINDS``
    or -1 when the image has no occluder.
    """

    images: np.ndarray
    keypoints: np.ndarray
    pids: np.ndarray
    camids: np.ndarray
    occluder: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.ndim != 4 or self.images.shape[3] != 3 or self.images.dtype != np.uint8:
            raise ValueError(f"images: expected (N, H, W, 3) uint8, got {self.images.shape} {self.images.dtype}")
        for name, shape in (("keypoints", (n, 17, 3)), ("pids", (n,)), ("camids", (n,)), ("occluder", (n,))):
            if getattr(self, name).shape != shape:
                raise ValueError(f"{name}: expected shape {shape}, got {getattr(self, name).shape}")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def occluded(self) -> np.ndarray:
        """(N,) bool: the image has an occluder."""
        return self.occluder >= 0


@dataclass(frozen=True)
class _Style:
    hair: np.ndarray
    skin: np.ndarray
    top: np.ndarray
    top2: np.ndarray  # pattern colour
    pattern: int  # 0 plain, 1 horizontal stripes, 2 vertical band, 3 bag strap
    short_sleeves: bool
    trousers: np.ndarray
    shorts: bool
    shoes: np.ndarray
    width: float  # build factor


def _colour(rng: np.random.Generator) -> np.ndarray:
    # Saturated-ish random colours; some dark/light neutrals as real clothes have.
    if rng.random() < 0.25:
        return np.full(3, rng.uniform(20, 235), np.float32)
    return rng.uniform(0, 255, 3).astype(np.float32)


def _style(style_seed: int, pid: int) -> _Style:
    rng = np.random.default_rng([style_seed, pid, 7])
    return _Style(
        hair=_colour(rng) * 0.5,
        skin=_SKIN[rng.integers(len(_SKIN))],
        top=_colour(rng),
        top2=_colour(rng),
        pattern=int(rng.integers(4)),
        short_sleeves=bool(rng.random() < 0.4),
        trousers=_colour(rng),
        shorts=bool(rng.random() < 0.25),
        shoes=_colour(rng) * 0.6,
        width=float(rng.uniform(0.85, 1.2)),
    )


def _camera_gain(style_seed: int, camid: int) -> np.ndarray:
    rng = np.random.default_rng([style_seed, camid, 11])
    return (rng.uniform(0.75, 1.2) * rng.uniform(0.85, 1.15, 3)).astype(np.float32)


def _capsule(yy: np.ndarray, xx: np.ndarray, a: np.ndarray, b: np.ndarray, radius: float) -> np.ndarray:
    """Mask of pixels within ``radius`` of segment a-b (points are (x, y))."""
    d = b - a
    t = ((xx - a[0]) * d[0] + (yy - a[1]) * d[1]) / max(float(d @ d), 1e-6)
    t = np.clip(t, 0.0, 1.0)
    return (xx - a[0] - t * d[0]) ** 2 + (yy - a[1] - t * d[1]) ** 2 <= radius**2


def _ellipse(yy: np.ndarray, xx: np.ndarray, c: np.ndarray, rx: float, ry: float) -> np.ndarray:
    return ((xx - c[0]) / rx) ** 2 + ((yy - c[1]) / ry) ** 2 <= 1.0


def _limb(start: np.ndarray, angle: float, length: float) -> np.ndarray:
    # angle 0 = straight down, positive = towards +x
    return start + length * np.array([np.sin(angle), np.cos(angle)], np.float32)


def _background(rng: np.random.Generator, h: int, w: int, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    c0, c1 = rng.uniform(40, 220, 3), rng.uniform(40, 220, 3)
    t = (yy / h)[..., None]
    img = (c0 * (1 - t) + c1 * t).astype(np.float32) * np.ones((h, w, 3), np.float32)
    for _ in range(int(rng.integers(2, 6))):  # clutter
        x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
        bw, bh = rng.uniform(0.1, 0.5) * w, rng.uniform(0.05, 0.3) * h
        img[(xx >= x0) & (xx < x0 + bw) & (yy >= y0) & (yy < y0 + bh)] = rng.uniform(0, 255, 3)
    return img


def _draw_person(
    img: np.ndarray, style: _Style, rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray
) -> np.ndarray:
    """Draw one figure into ``img`` (float32, modified here: it is this module's own buffer). Returns (17, 3)."""
    h, w = img.shape[:2]
    fig = h * rng.uniform(0.78, 0.95)  # figure height in pixels
    cx = w / 2 + rng.uniform(-0.1, 0.1) * w
    top = rng.uniform(0.01, 0.98 - fig / h) * h if fig < 0.97 * h else 0.01 * h
    front = rng.random() < 0.6
    side = 1.0 if front else -1.0  # image-x direction of the person's left side
    bw = style.width

    def at(fx: float, fy: float) -> np.ndarray:
        return np.array([cx + fx * fig, top + fy * fig], np.float32)

    head = at(rng.uniform(-0.01, 0.01), 0.075)
    kp = np.zeros((17, 2), np.float32)
    kp[L_SHO], kp[R_SHO] = at(side * 0.11 * bw, 0.19), at(-side * 0.11 * bw, 0.19)
    kp[L_HIP], kp[R_HIP] = at(side * 0.07 * bw, 0.51), at(-side * 0.07 * bw, 0.51)
    for sho, elb, wri, sgn in ((L_SHO, L_ELB, L_WRI, side), (R_SHO, R_ELB, R_WRI, -side)):
        a1 = sgn * rng.uniform(-0.15, 0.6)
        a2 = a1 + sgn * rng.uniform(-0.2, 0.9)
        kp[elb] = _limb(kp[sho], a1, 0.17 * fig)
        kp[wri] = _limb(kp[elb], a2, 0.15 * fig)
    stride = rng.uniform(-0.35, 0.35)
    for hip, kne, ank, sgn, s in ((L_HIP, L_KNE, L_ANK, side, stride), (R_HIP, R_KNE, R_ANK, -side, -stride)):
        a1 = sgn * rng.uniform(0.0, 0.15) + s
        kp[kne] = _limb(kp[hip], a1, 0.23 * fig)
        kp[ank] = _limb(kp[kne], a1 - 0.5 * s + rng.uniform(-0.1, 0.1), 0.22 * fig)
    kp[NOSE] = head + np.array([0, 0.01 * fig], np.float32)
    kp[L_EYE], kp[R_EYE] = head + np.array([side * 0.018 * fig, -0.008 * fig]), head + np.array(
        [-side * 0.018 * fig, -0.008 * fig]
    )
    kp[L_EAR], kp[R_EAR] = head + np.array([side * 0.045 * fig, 0]), head + np.array([-side * 0.045 * fig, 0])

    limb_r, leg_r = 0.035 * fig * bw, 0.045 * fig * bw
    neck = (kp[L_SHO] + kp[R_SHO]) / 2
    mid_hip = (kp[L_HIP] + kp[R_HIP]) / 2
    trouser_lower = style.skin if style.shorts else style.trousers
    for hip, kne, ank in ((L_HIP, L_KNE, L_ANK), (R_HIP, R_KNE, R_ANK)):
        img[_capsule(yy, xx, kp[hip], kp[kne], leg_r)] = style.trousers
        img[_capsule(yy, xx, kp[kne], kp[ank], leg_r * 0.85)] = trouser_lower
        img[_ellipse(yy, xx, kp[ank] + np.array([0, 0.01 * fig]), leg_r * 1.2, leg_r * 0.7)] = style.shoes
    torso = _capsule(yy, xx, neck + np.array([0, 0.03 * fig]), mid_hip - np.array([0, 0.02 * fig]), 0.12 * fig * bw)
    img[torso] = style.top
    if style.pattern == 1:
        img[torso & ((yy - top) // max(0.04 * fig, 1) % 2 == 0)] = style.top2
    elif style.pattern == 2:
        img[torso & (np.abs(xx - cx) < 0.04 * fig)] = style.top2
    elif style.pattern == 3:
        img[_capsule(yy, xx, kp[L_SHO], kp[R_HIP], 0.02 * fig) & torso] = style.top2
    for sho, elb, wri in ((L_SHO, L_ELB, L_WRI), (R_SHO, R_ELB, R_WRI)):
        img[_capsule(yy, xx, kp[sho], kp[elb], limb_r)] = style.top
        img[_capsule(yy, xx, kp[elb], kp[wri], limb_r * 0.9)] = style.skin if style.short_sleeves else style.top
        img[_ellipse(yy, xx, kp[wri], limb_r, limb_r)] = style.skin
    img[_ellipse(yy, xx, head, 0.05 * fig, 0.065 * fig)] = style.skin if front else style.hair
    img[_ellipse(yy, xx, head - np.array([0, 0.03 * fig]), 0.052 * fig, 0.04 * fig)] = style.hair

    conf = rng.uniform(0.5, 1.0, 17).astype(np.float32)
    if not front:
        conf[[NOSE, L_EYE, R_EYE]] = 0.0
    return np.concatenate([kp, conf[:, None]], axis=1)


def _occlude(
    img: np.ndarray, kp: np.ndarray, kind: str, rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray
) -> None:
    """Paint an occluder into ``img`` and zero the confidence of keypoints under it (both module-owned)."""
    h, w = img.shape[:2]
    if kind == "lower":
        mask = yy >= rng.uniform(0.45, 0.65) * h
    elif kind == "upper":
        mask = yy < rng.uniform(0.35, 0.5) * h
    else:
        edge = rng.uniform(0.35, 0.55) * w
        mask = xx < edge if rng.random() < 0.5 else xx >= w - edge
    base = rng.uniform(0, 255, 3).astype(np.float32)
    texture = rng.uniform(-40, 40, (h, w, 1)).astype(np.float32)
    img[mask] = np.clip(base + texture, 0, 255)[mask]
    ix = np.clip(np.round(kp[:, 0]).astype(int), 0, w - 1)
    iy = np.clip(np.round(kp[:, 1]).astype(int), 0, h - 1)
    kp[mask[iy, ix], 2] = 0.0


def generate_people(
    pids: Sequence[int],
    images_per_id: int,
    *,
    height: int = 128,
    width: int = 64,
    cameras: Sequence[int] = (0, 1),
    occlusion_prob: float = 0.0,
    occluder_kinds: Sequence[str] = OCCLUDER_KINDS,
    seed: int = 0,
    style_seed: int = 0,
) -> SyntheticPeople:
    """Draw ``images_per_id`` images of each identity in ``pids``.

    Image ``j`` of an identity is taken by camera ``cameras[j % len(cameras)]`` (each
    camera has its own colour cast). With probability ``occlusion_prob`` an image gets
    an occluder of a kind drawn from ``occluder_kinds``. Returns images (N, height,
    width, 3) uint8 RGB with N = len(pids) * images_per_id, identity-major.
    """
    if images_per_id < 1 or not pids or not cameras:
        raise ValueError("need at least one pid, one camera and one image per id")
    if height < 32 or width < 16:
        raise ValueError(f"image size {height}x{width} too small (min 32x16)")
    unknown = set(occluder_kinds) - set(OCCLUDER_KINDS)
    if unknown or not occluder_kinds:
        raise ValueError(f"occluder_kinds must be a non-empty subset of {OCCLUDER_KINDS}, got {occluder_kinds}")
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    yy, xx = yy + 0.5, xx + 0.5
    n = len(pids) * images_per_id
    images = np.empty((n, height, width, 3), np.uint8)
    keypoints = np.empty((n, 17, 3), np.float32)
    out_pids = np.empty(n, np.int64)
    out_cams = np.empty(n, np.int64)
    occluder = np.full(n, -1, np.int64)
    i = 0
    for pid in pids:
        style = _style(style_seed, int(pid))
        for j in range(images_per_id):
            cam = int(cameras[j % len(cameras)])
            img = _background(rng, height, width, yy, xx)
            kp = _draw_person(img, style, rng, yy, xx)
            img *= _camera_gain(style_seed, cam)
            if rng.random() < occlusion_prob:
                kind = str(occluder_kinds[int(rng.integers(len(occluder_kinds)))])
                _occlude(img, kp, kind, rng, yy, xx)
                occluder[i] = OCCLUDER_KINDS.index(kind)
            inside = (kp[:, 0] >= 0) & (kp[:, 0] < width) & (kp[:, 1] >= 0) & (kp[:, 1] < height)
            kp[~inside, 2] = 0.0
            img += rng.normal(0, 6, img.shape).astype(np.float32)
            images[i] = np.clip(img, 0, 255).astype(np.uint8)
            keypoints[i], out_pids[i], out_cams[i] = kp, int(pid), cam
            i += 1
    return SyntheticPeople(images=images, keypoints=keypoints, pids=out_pids, camids=out_cams, occluder=occluder)
