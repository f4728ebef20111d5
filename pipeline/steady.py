"""Dreams that stay put: long-term consistency and the per-pixel weight of the warm steps.

Ruder et al. (2016) keep a video's stylisation steady in two ways, both here:

- *Long-term consistency.* A pixel whose warp from frame t-1 fails the forward-backward check
  (it was hidden there) takes its dream from the most recent earlier frame where the check
  passes; the fresh input only where none does. So the background an object uncovers gets
  back the dream it had before the object passed, instead of a new one. `History` is the
  carry that keeps those earlier frames (a bounded few, see its docstring).
- *Dream only where something is new.* Every warm step used to move every pixel; over a shot
  the steps add up and a static wall slowly boils. `carried` returns, beside the carried
  residual, the share of each pixel that came from a reliable earlier dream whose input still
  agrees with the new one; the warm steps (`ascent.step`'s mask) and the post stages that
  follow scale their change by ``1 - (1 - evolve) * held``; a held dream that is still faint (content
  that came in after the key, dreamed by the warm steps alone) keeps taking them (`faint`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from . import flow
from .frames import Carry, Followed, Frame, Image

Earlier = tuple[Image, Image]  # (input, finished dream) of an earlier frame


def key_of(carry: Carry | None) -> Followed | None:
    """The key a carry holds, if any."""
    if carry is None or carry.key_source is None:
        return None
    return Followed(carry.key_source, carry.key_dream, carry.key_field, carry.key_trust, carry.key_camera)

AGREE = (8.0, 24.0)  # grey levels: a warped input this close to the new one counts as unchanged; this far, as new
STILL = (3.0, 8.0)  # grey levels: an input this close to the earlier one in place counts as still; this far, as changed
SLOW = (0.5, 1.0)  # pixels: flow this close to the camera's may be noise (`settled`); this far, motion
MARGIN = 1.0  # grey levels: the camera's motion is preferred unless the flow lines the input up this much better
STEADY = 1.0  # pixels: a camera moving less than this anywhere in the frame stands still (DIS on a fixed camera: 0.4-0.7)
CREEP = 0.5  # pixels: flow vectors this close to a shift count for it (`crept`: has a still camera crept off its key?)
CREPT_SIZE = 240  # pixels on the short side at most that `crept`'s flow runs at (ECC refines it at full size)
SWAY = 5.0  # pixels: a camera that has moved less than this anywhere since the key is registered on it as a shift
STAY = 0.7  # share of a fitted motion's inliers that no motion at all must explain for the camera to stand still
SUPPORT = 0.15  # share of the frame whose motion is known (texture, checked flow) below which the camera stands still
TEXTURE = (1.0, 3.0)  # grey levels a pixel: input this flat tells no motion (a noisy wall: ~0.7); this textured, it does
FILL = 96  # pixels on the short side at which edges lend their motion to textureless regions (`lent`)
LIKE = 8.0  # CIELAB units: how alike in colour a textured pixel must be to lend a flat one its motion
SUPPORTED = 1.0  # weight of like-coloured edges (`lent`) a flat pixel's own motion needs
ENCLOSED = (0.3, 0.5)  # `lent`'s evenness: edges all round a flat pixel (a smooth ball: ~0.7) or on one side (a wall: ~0.05)
COHERENT = (0.5, 0.8)  # share of checked flow around a flat pixel: below, its flow is noise; above, motion
RESAMPLED = 0.25  # pixels: the shift of the input's gradient `same` allows where a warp resamples
FAINT = 0.6  # share of the held pixels' dream strength under which a held pixel's dream still takes the warm steps


@dataclass(frozen=True)
class History:
    """`carry_of` for video: the last frame, plus earlier ones for long-term consistency.

    `offsets` are the ages Ruder et al. look back (1, 2, 4, 8). Only as many frames as offsets
    are kept: after each frame, for every offset j the oldest stored frame at most j frames old
    stays, the rest are dropped; so memory is bounded by the count, and the ages the next frame
    sees are about the offsets (1, 2, then 3-4 and 5-8 in turn on a long shot).

    With `size` (the dream size: a short side in pixels) the earlier frames are kept at that size,
    where flow decides what they cover and where the dream was made; `carried` brings one back to
    the frame's size only if it covers something. Only the last frame stays at full size. At 4K with size 540 that is
    9 MB of earlier frames instead of 150 MB, in memory and in every carry resume writes.
    """

    offsets: tuple[int, ...] = (1, 2, 4, 8)
    size: int | None = None

    def __call__(self, frame: Frame) -> Carry:
        past = stored_frames(frame.carry, frame.index)  # [(index, source, dream)], newest first, as stored
        keep: list[tuple[int, Image, Image]] = []
        for j in self.offsets[1:]:  # ages as seen by frame index + 1
            pick = next((p for p in reversed(past) if frame.index + 1 - p[0] <= j), None)
            if pick is not None and all(pick[0] != k[0] for k in keep):
                keep.append(pick)
        key = self._key(frame)
        keyed = {} if key is None else {f"key_{k}": v for k, v in key._asdict().items()}
        if not keep:
            return Carry(frame.source, frame.image, **keyed)
        return Carry(frame.source, frame.image, np.stack([self._kept(k[1]) for k in keep]),
                     np.stack([self._kept(k[2]) for k in keep]), np.array([k[0] for k in keep], np.int64), **keyed)

    def _key(self, frame: Frame) -> Followed | None:
        """The shot's key for the next frame: the one this frame followed (`Frame.followed`), or this
        frame itself when it starts the shot cold (the first frame, or the first after a cut)."""
        if frame.followed is not None:
            return frame.followed._replace(source=self._kept(frame.followed.source), dream=self._kept(frame.followed.dream))
        if frame.carry is None:
            return Followed(self._kept(frame.source), self._kept(frame.image))
        return None  # the key was lost (nothing follows back to it) or not used (`evolve` > 0)

    def _kept(self, image: Image) -> Image:
        """An earlier frame as stored: shrunk to `size` on the short side (area-averaged), once."""
        h, w = image.shape[:2]
        if self.size is None or min(h, w) <= self.size:
            return image
        k = self.size / min(h, w)
        return cv2.resize(image, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA)


def stored_frames(carry: Carry | None, index: int) -> list[tuple[int, Image, Image]]:
    """Frames a carry holds as it holds them (earlier ones maybe smaller), newest first, with their
    indices (the carry's own is `index - 1`)."""
    if carry is None:
        return []
    past = [] if carry.past_index is None else list(zip(carry.past_index.tolist(), carry.past_sources, carry.past_dreams))
    return [(index - 1, carry.source, carry.dream), *past]


def at_size(image: Image, h: int, w: int) -> Image:
    """`image` at ``h x w``: shrunk area-averaged, or brought back bicubically (an earlier frame kept
    at the dream size: its dream's residual is smooth at that scale, it was dreamed there)."""
    if image.shape[:2] == (h, w):
        return image
    grow = image.shape[0] < h
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_CUBIC if grow else cv2.INTER_AREA)


def _feathered(reliable: np.ndarray, feather: int) -> np.ndarray:
    """Shrink-and-soften the reliability mask: only well-inside pixels keep it all (no seams)."""
    weight = reliable.astype(np.float32)
    if feather:
        k = 2 * feather + 1
        weight = cv2.blur(weight, (k, k)) * weight
    return weight


class Carried(NamedTuple):
    """What `carried` returns: the residual, the share held, and (given masks) where they went."""

    residual: np.ndarray  # H x W x 3 float32
    held: np.ndarray  # H x W float32 in [0, 1]
    masks: np.ndarray | None = None  # H x W x c float32: t-1's masks warped, weighted by `covered`
    covered: np.ndarray | None = None  # H x W float32: the share of each pixel t-1's masks reach
    followed: Followed | None = None  # the shot's key, followed to this frame (None: no key)
    keyed: np.ndarray | float = 0.0  # H x W float32: the share of each pixel held from the key (dreamed cold there)


def carried(source: Image, earlier: Iterable[Earlier], method: flow.Method = "dis", *, residual: bool = True,
            feather: int = 1, cubic: bool = True, flow_size: int | None = None, masks: np.ndarray | None = None,
            key: Followed | None = None) -> Carried:
    """The earlier dreams' residual warped onto `source`, and the share of each pixel held.

    `earlier` runs newest first (t-1, then the long-term frames), each at any size (as `History`
    keeps them): the decisions are made at flow size, and an earlier frame comes to full size only
    if it covers something (at 4K with the dream size 540, bringing every one up and back down
    cost two bicubic and two area resizes of 4K frames a frame, and 50 MB each).

    The shot's `key` comes first: its dream, warped once along the field composed frame by frame
    back to it (`follow`), where every pixel on the way was followed and its warped input still
    agrees with the new one. A dream warped again every frame is resampled 35 times in 36 frames:
    bicubic warps sharpen it (its strength grew from 23 to 29 along a turning camera), bilinear ones
    blur it away, and either way it drifts off the scene (a turning camera's held dream changed 24
    grey levels so, 7 warped once). And the chunks of a shot follow the same key, so across a seam
    what holds still is the same dream. Each earlier frame then fills what is left, by its own motion
    (flow computed directly between it and `source`: `motion` for t-1, the plain `checked` flow for
    the older ones) where its warped input agrees with the new one (DIS loses a large jump and reports
    it consistently as no motion; and a region an object uncovers can pass t-1's check against
    the object); t-1's dream fills last what it passes the check on but no frame agrees with
    (a lighting change: new content, but the dream carries on). Where t-1's check fails but
    the input is unchanged in place (flat, bright regions at the frame's edge, where DIS
    returns motion that leaves the frame), t-1's dream stays in place, unless the camera moves
    (a pan over a clear sky copied the edge's dream in place into what came in, in streaks). Pixels none of these
    covers get no residual (the fresh input). `held` counts a pixel only as far as its warped
    input still agrees with the new one (`AGREE`): a lighting change or a flow error there is new
    content, to be dreamed again. `masks` (t-1's, ``HxWxc uint8``) go where t-1's dream goes, by
    the same warp and the same decisions (`Carried.masks`, `Carried.covered`); `Carried.followed`
    is the key followed one frame further, for the next frame (None without a key, or once nothing
    follows back to it).
    """
    h, w = source.shape[:2]
    wh = flow_shape(h, w, flow_size)
    small = lambda x: at_size(x, wh[1], wh[0])  # noqa: E731
    full = (lambda x: cv2.resize(x, (w, h), interpolation=cv2.INTER_LINEAR)) if wh != (w, h) else (lambda x: x)  # noqa: E731
    src, src_s = source.astype(np.float32), small(source)
    total = np.zeros_like(src)
    held = np.zeros(src_s.shape[:2], np.float32)
    left = np.ones(src_s.shape[:2], np.float32)
    moved = covered = None
    texture = structure(src_s)  # the new frame's, once for every earlier one
    earlier = list(earlier)
    newest = motion(small(earlier[0][0]), src_s, method, texture)
    followed = None if key is None else follow(key, newest, small(key.source), src_s, method, _flat(texture[0]))
    sources = ([] if followed is None else [(followed.source, followed.dream, (followed.field, followed.trust), False)])
    sources += [(*earlier[0], newest[:2], True)] + [(*e, None, False) for e in earlier[1:]]
    late: tuple[np.ndarray, np.ndarray | float] = (np.zeros_like(left), 0.0)
    keyed: np.ndarray | float = 0.0
    for i, (prev_source, prev_dream, tracked, last) in enumerate(sources):
        prev_s = small(prev_source)  # the decisions at flow size; the warps at full size
        field, reliable = tracked or checked(prev_s, src_s, method)
        agree = np.clip((AGREE[1] - _most(np.abs(flow.warp(prev_s, field, cubic).astype(np.float32) - src_s)))
                        / (AGREE[1] - AGREE[0]), 0.0, 1.0)
        trusted = left * _feathered(reliable, feather)
        take = trusted * agree  # where the input agrees; t-1 fills the rest of what it trusts last (`late`)
        if not last and not take.any():
            continue  # this frame covers nothing that is left: no full-size warps
        prev_source, prev_dream = at_size(prev_source, h, w), at_size(prev_dream, h, w)
        field = full(field) * np.float32(w / wh[0])
        base = flow.warp(prev_source, field, cubic).astype(np.float32)
        carried_ = flow.warp(prev_dream, field, cubic).astype(np.float32) - (base if residual else src)
        total += full(take)[..., None] * carried_
        if last and masks is not None:  # masks: where t-1's warp lines the input up, or in place where it did not change
            moved, covered = _masks_moved(masks, full(agree), full((1.0 - agree) * unchanged(prev_s, src_s)), field)
        held += take * agree
        left -= take
        if i == 0 and followed is not None:  # the key comes first
            keyed = take * agree
        if last:  # where the check fails but the input did not change in place (and the camera did not move): in place
            keep = left * unchanged(prev_s, src_s) * np.clip((SLOW[1] - _norm(newest.camera)) / (SLOW[1] - SLOW[0]), 0, 1)
            total += full(keep)[..., None] * (prev_dream.astype(np.float32) - (prev_source if residual else src))
            held += keep
            left -= keep
            late = (trusted - take, carried_)
        if left.max() < 1e-3:
            break
    rest = np.minimum(late[0], left)  # t-1's dream where it is trusted but its input changed and no earlier frame agrees
    total += full(rest)[..., None] * late[1]
    return Carried(total, full(held), moved, covered, followed, keyed if np.isscalar(keyed) else full(keyed))


def flow_shape(h: int, w: int, flow_size: int | None) -> tuple[int, int]:
    """(width, height) flow runs at for an ``h x w`` frame: `flow_size` on the short side, never larger."""
    scale = flow_size / min(h, w) if flow_size and flow_size < min(h, w) else 1.0
    return max(1, round(w * scale)), max(1, round(h * scale))


def follow(key: Followed, moved: Motion, key_source: Image, curr: Image, method: flow.Method = "dis",
           flat: np.ndarray | None = None) -> Followed | None:
    """`key` followed one frame further: its composed field and trust extended by this frame's
    `motion`, trusted where that is reliable and moves with the camera (what moves by itself, a face,
    a hand, is carried from frame to frame, where a drift of a pixel over a shot is not seen as
    one). The camera's part is registered on the key itself each frame (`on_key`), so the fits'
    errors do not add up, and the field settles on it where it lines the key up as well
    (`on_camera`); a camera still pair by pair is asked whether it has crept off the key (`crept`).
    A pixel stays followed only while the key's input seen through the composed field is still
    `curr`'s (`same`): a motion under `SLOW` a frame passes for the camera's, and the field falls
    behind what creeps so (hand-held `bikes`, a board sliding along its own edges: its held
    dream slid off it, t+10 excess 0.44; 0.28 with the test). A pixel lost either way rejoins the key
    where it moves with the camera again and the key's input, seen through the camera's motion alone,
    is `curr`'s (`same`; a face that has turned back is not): the wall behind a hand gets the key's
    dream back once the hand has passed, however long it stayed. `key_source`
    and `curr` are at the field's size (`flat`: `flatness(curr)`, given when known). None once nothing follows back to it (a pan has left it
    behind), or if its field is of another size than this frame's."""
    h, w = moved.field.shape[:2]
    ones = np.ones((h, w), np.float32)
    total = np.zeros_like(moved.field) if key.field is None else key.field
    trust = ones if key.trust is None else key.trust
    camera = np.zeros_like(moved.field) if key.camera is None else key.camera
    if total.shape != moved.field.shape or camera.shape != total.shape or key_source.shape[:2] != (h, w):
        return None
    total, trust = composed(total, trust, moved.field, moved.reliable * moved.rigid)
    if camera.any() or moved.camera.any():  # a camera that has moved: its drift taken out on the key
        camera = onto(camera, moved.camera)
        fixed = on_key(key_source, curr, camera, trust >= 0.5)
    else:  # still pair by pair: has it crept off the key?
        fixed = crept(key_source, curr, method)
    total, camera = total + (fixed - camera), fixed
    total = on_camera(total, key_source, curr, camera, flat)
    trust = (trust * same(key_source, curr, total)).astype(np.float32)  # drifted off the key: carried from here
    if (trust >= 0.5).all():
        return key._replace(field=total, trust=trust, camera=camera)  # nothing lost: nothing to rejoin
    back = inside(camera) * moved.reliable * moved.rigid * same(key_source, curr, camera)
    rejoin = (trust < 0.5) & (back >= 0.5)
    total, trust = np.where(rejoin[..., None], camera, total), np.where(rejoin, back, trust).astype(np.float32)
    return key._replace(field=total, trust=trust, camera=camera) if trust.max() >= 0.5 else None


def on_key(key_source: Image, curr: Image, camera: flow.Field, followed: np.ndarray) -> flow.Field:
    """The camera's motion back to the key (`camera`, composed frame by frame) registered on the key
    itself (ECC on the `followed` pixels: what moved with the camera all along; a person moving in
    front of a camera that jolted once would pull it), where that lines the key up with `curr` better
    there: composed, the fits' errors add up (a pan along a skyline: half a pixel off after 35 frames).
    While the camera has moved under `SWAY` pixels anywhere it is registered as a shift, affine beyond:
    an affine fit to a view that is partly masked and partly moving shears to follow what moves (20 s
    of carphone, a camera in a car that never left its key by a pixel: the key's corners 8 px off
    after one jolt, and a seam there boiled 16.3 grey levels in one process; 9.3 so)."""
    h, w = camera.shape[:2]
    corners = np.float32([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]])
    guess = cv2.getAffineTransform(corners[:3], corners[:3] + camera[[0, 0, h - 1], [0, w - 1, 0]])
    start = cv2.invertAffineTransform(guess).astype(np.float32)
    model = cv2.MOTION_TRANSLATION if _norm(camera).max() < SWAY else cv2.MOTION_AFFINE
    if model == cv2.MOTION_TRANSLATION:
        start[:, :2] = np.eye(2, dtype=np.float32)
    grey = lambda x: cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).astype(np.float32)  # noqa: E731
    try:
        _, back = cv2.findTransformECC(grey(key_source), grey(curr), start, model,
                                       (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-4),
                                       followed.astype(np.uint8), 3)  # key -> curr: ECC's mask is the moving image's
    except cv2.error:
        return camera
    fixed = as_field(cv2.invertAffineTransform(back), h, w)
    where = inside(camera) & inside(fixed) & followed
    err = lambda f: _most(np.abs(flow.warp(key_source, f).astype(np.float32) - curr))[where].mean()  # noqa: E731
    return fixed if where.any() and err(fixed) < err(camera) else camera


def on_camera(total: flow.Field, key_source: Image, curr: Image, camera: flow.Field,
              flat: np.ndarray | None = None) -> flow.Field:
    """The followed field `settled` on the key: the camera's motion (registered on the key, `on_key`)
    wherever that lines the key up with `curr` as well and the field is within `SLOW` of it. Each
    pair's flow is settled on that pair's camera, but what is left of it (a few hundredths of a pixel
    where the flow lined up a little better) adds up along the shot: on a turning camera the held
    pixels' field was 0.15 px off the true motion after 35 frames while the registered camera was
    0.02 px off, and a dream warped that far off its place reads as boil (rotate 8.9, hand-held 6.8;
    7.1 and 3.2 settled, their floors 6.7 and 2.5). What moves by itself keeps its own field. Not
    for a camera registered as a shift (`SWAY`): a shift is what a view partly moving allows, not
    every pixel's motion (a car's jolts turn the camera in a 3D interior), and held pixels settled on
    it boiled more (20 s of carphone, four seeds: 3.5-3.7 grey levels across a still seam, 5.4-6.0)."""
    if camera.any() and _norm(camera).max() < SWAY:
        return total
    return settled(total, key_source, curr, camera, flat)


def crept(key_source: Image, curr: Image, method: flow.Method = "dis") -> flow.Field:
    """The shift a camera that stands still pair by pair has crept by since the key (zero if none).

    A tenth of a pixel a frame is under what a pair's flow tells from standing still (`STEADY`), and
    the dream stayed on the screen while the scene slid under it (`bigbuckbunny`: 2.7 px over 36
    frames). The flow straight from the key to `curr` sees it once it adds up: the median of its
    vectors on texture, taken once it reaches `STEADY` (a car's sways on `carphone` reach half a
    pixel, and a dream that follows them resamples its grain to and fro: boil 2.4 -> 8.8) and it
    explains half the vectors and clearly more than standing still does (`STAY`: a person moving in
    front of a fixed camera), then registered on those vectors' pixels (`on_key`); from then on the
    camera has moved, and `follow` registers it on the key every frame. ECC on the followed pixels
    slides: the pixels that crept have left the key (`same`), and what is left is flat. The flow
    runs at `CREPT_SIZE` at most: a fixed camera asks every frame (at 480p, 0.02 s; 0.08 s at full size)."""
    h, w = curr.shape[:2]
    zero = np.zeros((h, w, 2), np.float32)
    ws, hs = flow_shape(h, w, CREPT_SIZE)
    k = np.float32(w / ws)  # the small flow's pixel in full-size pixels
    small = lambda x: at_size(x, hs, ws)  # noqa: E731
    field, reliable = flow.track(small(key_source), small(curr), method)
    where = reliable & textured(small(curr))
    if where.mean() < SUPPORT:
        return zero
    shift = np.median(field[where], 0)
    near = lambda s: where & (_norm(field - s) < CREEP / k)  # noqa: E731
    inliers = near(shift)
    explains = inliers.sum() >= 0.5 * where.sum() and near(np.zeros(2, np.float32)).sum() < STAY * inliers.sum()
    if _norm(shift * k) < STEADY or not explains:
        return zero
    guess = np.broadcast_to((shift * k).astype(np.float32), (h, w, 2)).copy()
    fixed = on_key(key_source, curr, guess, cv2.resize(inliers.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0)
    return fixed if _norm(fixed).max() >= STEADY else zero  # registered under a pixel: still


def same(earlier: Image, curr: Image, field: flow.Field) -> np.ndarray:
    """1 where `earlier` warped along `field` is `curr` (3x3 means within `STILL`, less the frame's median
    change: sensor noise and an exposure drift allowed, and `resampling`'s slack), fading to 0."""
    change = cv2.blur(flow.warp(earlier, field).astype(np.float32) - curr, (3, 3))
    seen = _most(np.abs(change - np.median(change.reshape(-1, 3), 0))) - resampling(curr, field)
    return np.clip((STILL[1] - seen) / (STILL[1] - STILL[0]), 0, 1)


def resampling(image: Image, field: flow.Field) -> np.ndarray | float:
    """Grey levels a warp along `field` may miss `image` by where it resamples (a vector with a fraction):
    what a shift of `RESAMPLED` pixels makes of the image's gradient there (3x3 means). Interpolation
    and a registration right within that miss sharp texture by more than `STILL`: a window circling a
    photo lost a fifth of its textured pixels from the key each frame, and its dream no longer came
    round (`--loop`'s wrap 1.6-1.7x the median pair over six seeds; 1.1-1.5x with the slack, 1.0-1.3x
    with no test). A copy (a fixed camera: no fraction) is exact and gets none."""
    fraction = np.maximum(*np.moveaxis(np.abs(field - np.round(field)), -1, 0)) > 0.01
    if not fraction.any():
        return 0.0
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gradient = cv2.magnitude(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)) / 8  # per pixel
    return cv2.blur(gradient, (3, 3)) * np.float32(RESAMPLED) * fraction


def composed(total: flow.Field, trust: np.ndarray, field: flow.Field, ok: np.ndarray) -> tuple[flow.Field, np.ndarray]:
    """A backward field onto an earlier frame (`total`, with the share of each pixel `trust`ed)
    extended by one more frame: the new frame's backward `field` onto the last one, trusted `ok`."""
    h, w = field.shape[:2]
    xs, ys = flow.grid(h, w)
    at = (xs + field[..., 0], ys + field[..., 1])
    trust = cv2.remap(trust, *at, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0) * ok
    return onto(total, field, at), trust.astype(np.float32)


def onto(total: flow.Field, field: flow.Field, at: tuple[np.ndarray, np.ndarray] | None = None) -> flow.Field:
    """A backward field onto an earlier frame extended by the new frame's backward `field` onto the last
    one (`at`: where `field` sends each pixel, when known)."""
    if at is None:
        xs, ys = flow.grid(*field.shape[:2])
        at = (xs + field[..., 0], ys + field[..., 1])
    return cv2.remap(total, *at, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE) + field


def _masks_moved(masks: np.ndarray, warped: np.ndarray, kept: np.ndarray, field: flow.Field) -> tuple[np.ndarray, np.ndarray]:
    """t-1's masks (``HxWxc``) on frame t: warped along `field` where `warped` says the warp lines
    the input up (inside a textured object the forward-backward check fails often while the warp
    is right; where an object uncovers the background, the warped input is the object's and does
    not agree), in place where `kept`; with the share of each pixel that covers."""
    h, w = warped.shape
    moved = warped.reshape(h, w, 1) * flow.warp(masks, field, nearest=True).reshape(h, w, -1) + kept.reshape(h, w, 1) * masks.reshape(h, w, -1)
    return moved, warped + kept


class Motion(NamedTuple):
    """What `motion` finds for a frame."""

    field: flow.Field  # the backward field onto the earlier frame
    reliable: np.ndarray  # HxW float32 in [0, 1]: how far each pixel's motion is to be trusted
    rigid: np.ndarray  # HxW float32 in [0, 1]: 1 where it moves with the camera (stands still, for a fixed one)
    camera: flow.Field  # the camera's motion as a backward field (zero for a fixed camera)


def motion(prev: Image, curr: Image, method: flow.Method = "dis",
           texture: tuple[np.ndarray, np.ndarray] | None = None) -> Motion:
    """`curr`'s backward field, how far each pixel's motion is to be trusted, and where it moves with the camera.

    Where the input has texture, the flow and its forward-backward check, `settled` on the
    camera's motion. Where it has none (`flatness`: walls, sky, the inside of a smooth object),
    the flow is a guess (the aperture problem: on a plain wall DIS returns a pixel or two of
    noise that mostly fails its own check, and the carried dream was resampled away within a
    few dozen frames), so the camera's motion is taken there, unless the flow moves by itself
    (`own`: a smooth object that really moves, carried by its edges). There the motion is
    trusted as far as it lines the inputs up (`fits`), not by the check. On an edge (texture one
    way only) the flow across it is real: the camera's motion is taken there only where it lines
    the inputs up as well as the flow does (`as_good`; a fixed camera's still edges), so the edges
    of things that move keep their own (taking the camera's on every edge held the moving edges
    of hand-held `bikes` back: its short-range excess rose from 0.04 to 0.18; this way 0.12).
    """
    field, reliable = flow.track(prev, curr, method)
    least, most = structure(curr) if texture is None else texture  # `structure(curr)`, given when known
    flat, bare = _flat(least), _flat(most)  # no texture to pin both components; not even an edge
    matrix = camera_motion(field, reliable & (flat < 0.5))
    camera = as_field(None if matrix is None else refined(prev, curr, matrix, reliable), *field.shape[:2])
    guess = bare + (flat - bare) * as_good(prev, curr, camera, field)  # on an edge: only where the camera explains it
    moved = camera + (field - camera) * own(field, camera, reliable, curr, reliable * (1.0 - bare))[..., None]
    field = settled(field + (moved - field) * guess[..., None], prev, curr, camera, flat)
    rigid = np.clip((SLOW[1] - _norm(field - camera)) / (SLOW[1] - SLOW[0]), 0, 1).astype(np.float32)
    trust = (reliable * (1.0 - guess) + guess * fits(prev, curr, field)) * inside(field)  # from off screen: nothing to carry
    return Motion(field, trust.astype(np.float32), rigid, camera)


def inside(field: flow.Field) -> np.ndarray:
    """HxW bool: pixels whose vector lands inside the frame (a warp replicates the border for the
    rest: on a clear sky that lines up, and a pan streaked the edge's dream across what came in)."""
    h, w = field.shape[:2]
    xs, ys = flow.grid(h, w)
    x, y = xs + field[..., 0], ys + field[..., 1]
    return (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)


def as_good(prev: Image, curr: Image, camera: flow.Field, field: flow.Field) -> np.ndarray:
    """1 where `camera` lines `prev` up with `curr` as well as `field` does (within `MARGIN`, 5x5 means)."""
    err = lambda f: cv2.blur(_most(np.abs(flow.warp(prev, f).astype(np.float32) - curr)), (5, 5))  # noqa: E731
    return np.clip((err(field) + MARGIN - err(camera)) / MARGIN, 0, 1)


def _most(diff: np.ndarray) -> np.ndarray:
    """Per pixel, the largest of a colour difference's channels (`diff.max(-1)`, as a chain of
    `np.maximum`: numpy's reduction over a last axis of 3 is several times slower)."""
    return np.maximum(np.maximum(diff[..., 0], diff[..., 1]), diff[..., 2])


def _norm(f: flow.Field) -> np.ndarray:
    """Per pixel, the length of a motion vector."""
    return np.sqrt(f[..., 0] ** 2 + f[..., 1] ** 2)


def checked(prev: Image, curr: Image, method: flow.Method = "dis") -> tuple[flow.Field, np.ndarray]:
    """`curr`'s backward field `settled` on the camera's motion, trusted where it passes the
    forward-backward check: for frames further back than t-1. Over a long gap (up to 16 frames of a
    hand-held camera) the camera's motion is a poor guess for what has no texture, and a flat region
    lines up under any motion, so `motion`'s guess let old dreams in where they did not belong:
    hand-held `bikes`' t+10 excess 0.33 with it, 0.20 without; fixed cameras and walls unchanged."""
    field, reliable = flow.track(prev, curr, method)
    return settled(field, prev, curr), reliable.astype(np.float32)


def along(frames: Iterable[Image], method: flow.Method = "dis") -> tuple[Image, flow.Field, np.ndarray, flow.Field | None]:
    """Follow the pixels of a run of frames back to its first, as `follow` does frame by frame: the
    last frame, its backward field onto the first (composed as the frames stream by, so what is
    carried is resampled once, not once a frame), the share of each pixel followed, and the camera's
    motion composed the same way (None once nothing follows back: nothing to carry on)."""
    frames = iter(frames)
    prev = next(frames)
    h, w = prev.shape[:2]
    first = prev
    key: Followed | None = Followed(first, first)
    for curr in frames:
        key = follow(key, motion(prev, curr, method), first, curr, method) if key is not None else None
        prev = curr
    if key is None:
        return prev, np.zeros((h, w, 2), np.float32), np.zeros((h, w), np.float32), None
    zero = np.zeros((h, w, 2), np.float32)
    return (prev, zero if key.field is None else key.field, np.ones((h, w), np.float32) if key.trust is None else key.trust,
            zero if key.camera is None else key.camera)


def own(field: flow.Field, camera: flow.Field, reliable: np.ndarray, image: Image, edges: np.ndarray) -> np.ndarray:
    """1 where a textureless pixel's flow is its own motion, not noise: it passes the check all
    around (`COHERENT`: on a plain wall it passes in patches), and the edges of its colour near it
    (`lent`) surround it (`ENCLOSED`) and move too, the same way (within half the motion: an edge's
    pixels straddle the object and what is behind it). The inside of a smooth ball rolling over a
    textured floor moves with the rim around it; a wall beside a textured object that moves has
    that object's edge on one side only, and keeps the camera's motion."""
    near = cv2.blur(reliable.astype(np.float32), (9, 9))
    by_edges, support, enclosed = lent(field, image, edges)
    speed = _norm
    ramp = lambda x, lo, hi: np.clip((x - lo) / (hi - lo), 0, 1)  # noqa: E731
    moves, apart, own_speed = speed(by_edges - camera), speed(field - by_edges), speed(field - camera)
    return (ramp(near, *COHERENT) * ramp(support, 0, SUPPORTED) * ramp(enclosed, *ENCLOSED) * ramp(moves, *SLOW)
            * ramp(-apart, -(SLOW[1] + own_speed / 2), -(SLOW[0] + own_speed / 2))).astype(np.float32)


def structure(image: Image) -> tuple[np.ndarray, np.ndarray]:
    """Square roots of the structure tensor's eigenvalues (smaller, larger), in grey levels per
    pixel: how well the input pins motion down (both large: texture; only the larger: an edge,
    which tells motion across it alone; neither: flat)."""
    g = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gx, gy = cv2.Sobel(g, cv2.CV_32F, 1, 0) / 8, cv2.Sobel(g, cv2.CV_32F, 0, 1) / 8
    xx, xy, yy = (cv2.GaussianBlur(v, (0, 0), 1.5) for v in (gx * gx, gx * gy, gy * gy))
    mean, spread = (xx + yy) / 2, np.sqrt(((xx - yy) / 2) ** 2 + xy**2)
    return np.sqrt(np.maximum(mean - spread, 0)), np.sqrt(mean + spread)


def textured(image: Image) -> np.ndarray:
    """HxW bool: pixels with an edge or texture (`TEXTURE`), where a flow can be told from noise at all."""
    return _flat(structure(image)[1]) < 0.5


def flatness(image: Image) -> np.ndarray:
    """1 where the input has no texture to tell motion by (`TEXTURE`; along an edge too), 0 where it has."""
    return _flat(structure(image)[0])


def _flat(root: np.ndarray) -> np.ndarray:
    return np.clip((TEXTURE[1] - root) / (TEXTURE[1] - TEXTURE[0]), 0, 1).astype(np.float32)


def lent(field: flow.Field, image: Image, edges: np.ndarray) -> tuple[flow.Field, np.ndarray, np.ndarray]:
    """The mean motion of the `edges` pixels around each pixel, weighted by likeness in colour and
    nearness (a joint bilateral average at about `FILL` pixels on the short side, reaching a third
    of the frame), the weight it rests on, and how evenly they lie around it (1: all round, their
    mean offset zero; 0: on one side)."""
    h, w = field.shape[:2]
    k = min(1.0, FILL / min(h, w))
    size = (max(1, round(w * k)), max(1, round(h * k)))
    shrink = lambda x: cv2.resize(x, size, interpolation=cv2.INTER_AREA)  # noqa: E731
    lab = shrink(cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_RGB2LAB))
    conf, moves = shrink(edges.astype(np.float32)), shrink(field)
    num, den, side = np.zeros_like(moves), np.zeros(conf.shape, np.float32), np.zeros_like(moves)
    reach = max(1, round(min(size) / 3))
    step = max(1, reach // 4)
    pad = lambda x: cv2.copyMakeBorder(x, reach, reach, reach, reach, cv2.BORDER_CONSTANT, value=0)  # noqa: E731
    lab_p, conf_p, moves_p = pad(lab), pad(conf), pad(moves)
    sh, sw = conf.shape
    for dy in range(-reach, reach + 1, step):
        for dx in range(-reach, reach + 1, step):
            win = np.s_[reach + dy: reach + dy + sh, reach + dx: reach + dx + sw]
            near = np.exp(-(dx * dx + dy * dy) / (2.0 * (reach / 2) ** 2))
            d = lab_p[win] - lab
            wgt = near * conf_p[win] * np.exp(-(d[..., 0] ** 2 + d[..., 1] ** 2 + d[..., 2] ** 2) / (2.0 * LIKE**2))
            num += wgt[..., None] * moves_p[win]
            side[..., 0] += wgt * dx
            side[..., 1] += wgt * dy
            den += wgt
    mean = num / np.maximum(den, 1e-6)[..., None] / np.float32(k)
    around = 1.0 - _norm(side) / np.maximum(den, 1e-6) / (reach / 2)  # 1: edges all round; 0: on one side
    return tuple(cv2.resize(x, (w, h), interpolation=cv2.INTER_LINEAR) for x in (mean, den, np.clip(around, 0, 1)))


def fits(prev: Image, curr: Image, field: flow.Field) -> np.ndarray:
    """1 where `field` lines `prev` up with `curr` (3x3 means within `AGREE`, sensor noise averaged), fading to 0."""
    err = _most(cv2.blur(np.abs(flow.warp(prev, field).astype(np.float32) - curr), (3, 3)))
    return np.clip((AGREE[1] - err) / (AGREE[1] - AGREE[0]), 0, 1)


def unchanged(prev: Image, curr: Image) -> np.ndarray:
    """1 where the input is the same in place (within `STILL` grey levels), fading to 0."""
    change = _most(np.abs(curr.astype(np.int16) - prev)).astype(np.float32)
    return np.clip((STILL[1] - change) / (STILL[1] - STILL[0]), 0, 1)


def settled(field: flow.Field, prev: Image, curr: Image, camera: flow.Field | None = None,
            flat: np.ndarray | None = None) -> flow.Field:
    """`field` where the camera's motion explains the input as well, replaced by the camera's.

    On still texture flow is noise of a few tenths of a pixel, and each bicubic warp at such
    an offset softens the carried dream a little (without fresh steps a static wall's dream
    faded by ~30 % over 36 frames). Where the camera's motion (a similarity fit to the whole
    field, RANSAC; exactly zero for a camera that stands still) lines the earlier input up
    with the new one within `MARGIN` grey levels of what the flow does (5x5 means) and the
    flow differs from it by less than `SLOW`, the camera's is used: on a fixed camera the
    dream is copied as it is. (Allowing 4-8 px there also caught the 1-4 px that DIS invents
    on flat regions beside moving ones, but held slowly moving smooth surfaces on screen:
    the short-range excess of `bikes` rose from 0.03 to 0.10.)
    """
    camera = camera_field(field) if camera is None else camera
    flat = flatness(curr) if flat is None else flat  # `flatness(curr)`, given when known
    speed = _norm(field - camera)
    still = np.maximum(as_good(prev, curr, camera, field), flat) * np.clip((SLOW[1] - speed) / (SLOW[1] - SLOW[0]), 0, 1)
    return field + (camera - field) * still[..., None]


def camera_motion(field: flow.Field, where: np.ndarray | None = None) -> np.ndarray | None:
    """The similarity (shift, turn, zoom) that explains most of `field` (RANSAC on a sparse grid), as a
    2x3 matrix taking a pixel to where the field sends it; None when it moves no corner `STEADY` pixels.

    With `where`, only those pixels count, and if they are under `SUPPORT` of the frame the camera
    is taken to stand still: on a plain wall the only texture may be the one thing that moves.
    """
    h, w = field.shape[:2]
    ys, xs = np.mgrid[0:h:max(1, h // 24), 0:w:max(1, w // 32)].reshape(2, -1)
    if where is not None:
        if where[ys, xs].mean() < SUPPORT:
            return None
        ys, xs = ys[where[ys, xs]], xs[where[ys, xs]]
    to = np.stack([xs, ys], 1).astype(np.float32)
    matrix, inliers = cv2.estimateAffinePartial2D(to, to + field[ys, xs], method=cv2.RANSAC, ransacReprojThreshold=1.0)
    if matrix is None or (_norm(field[ys, xs]) < 1.0).sum() >= STAY * inliers.sum():
        return None  # standing still explains the flow about as well: a fixed camera with a large thing moving in front
    corners = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], np.float32)
    return None if np.abs(corners @ matrix.T - corners[:, :2]).max() < STEADY else matrix


def refined(prev: Image, curr: Image, matrix: np.ndarray, where: np.ndarray) -> np.ndarray:
    """The camera's `matrix` (`camera_motion`) refined on the images themselves (OpenCV's ECC, affine),
    kept only if it lines `prev` up with `curr` better on the `where` pixels. A fit to DIS's vectors
    is off by a few hundredths of a pixel a frame, and the key's field adds them up over a shot (a
    camera turning 52 degrees: corners 2-3 pixels off after 35 frames, 1 refined); on a clear sky
    over a band of ground ECC can slide, and lines the frames up worse, so the fit stays there."""
    grey = lambda x: cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).astype(np.float32)  # noqa: E731
    try:
        _, found = cv2.findTransformECC(grey(curr), grey(prev), matrix.astype(np.float32), cv2.MOTION_AFFINE,
                                        (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-4), None, 3)
    except cv2.error:
        return matrix
    h, w = curr.shape[:2]
    err = lambda m: np.abs(cv2.warpAffine(prev, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,  # noqa: E731
                                          borderMode=cv2.BORDER_REPLICATE).astype(np.float32) - curr)[where].mean()
    return found.astype(np.float64) if where.any() and err(found) < err(matrix) else matrix


def camera_field(field: flow.Field, where: np.ndarray | None = None) -> flow.Field:
    """`camera_motion` as a field; zero when the camera stands still."""
    return as_field(camera_motion(field, where), *field.shape[:2])


def as_field(matrix: np.ndarray | None, h: int, w: int) -> flow.Field:
    """A camera's motion (2x3, a pixel -> where it was; None: none) as an ``h x w`` backward field."""
    if matrix is None:
        return np.zeros((h, w, 2), np.float32)
    gx, gy = flow.grid(h, w)
    m = matrix.astype(np.float32)
    return np.stack([m[0, 0] * gx + m[0, 1] * gy + m[0, 2] - gx, m[1, 0] * gx + m[1, 1] * gy + m[1, 2] - gy], -1)


def step_weight(held: np.ndarray, evolve: float, residual: np.ndarray | None = None,
                keyed: np.ndarray | float = 0.0) -> np.ndarray:
    """Share of the warm steps per pixel: 1 where the content is new, `evolve` where it is held; and,
    given the carried `residual`, as much more as a held pixel's dream is still faint (`faint`), but
    for what the key holds (`keyed`: dreamed cold, as strong as that content's dream gets; a plain
    wall's dream is fainter than a face's, and would boil if it kept dreaming)."""
    weight = 1.0 - (1.0 - evolve) * held
    if residual is not None:
        weight = np.maximum(weight, faint(residual, held) * (1.0 - keyed))
    return weight.astype(np.float32)


def faint(residual: np.ndarray, held: np.ndarray) -> np.ndarray:
    """How far short of `FAINT` of the held pixels' dream strength each pixel's carried dream is (9x9
    means of the residual's size; a ratio, so the residual's scale, `blend`'s, cancels), 0 to 1.
    Content that comes in is dreamed by the warm steps alone (a fifth of a cold start's strength) and
    held from the next frame on, as faint as that: a pan over a sky lost 17 % of its strength over 36
    frames (2 % with this, its boil unchanged). The state it needs travels in the carried dream itself."""
    kept = held >= 0.5
    if not kept.any():
        return np.zeros_like(held)
    size = cv2.blur((np.abs(residual[..., 0]) + np.abs(residual[..., 1]) + np.abs(residual[..., 2])) / 3, (9, 9))
    return np.clip(1.0 - size / (FAINT * float(size[kept].mean()) + 1e-6), 0, 1)


def weighted(new: np.ndarray, old: np.ndarray, weight: np.ndarray | None) -> np.ndarray:
    """`old` moved toward `new` by `weight` per pixel (uint8 images; None: all the way)."""
    if weight is None:
        return new
    mixed = old.astype(np.float32) + (new.astype(np.float32) - old) * weight[..., None]
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)

