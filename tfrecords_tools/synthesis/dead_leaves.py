"""Procedural images with the statistics of photographs, drawn by the dead leaves model of occluding shapes.

Leaves (discs, ellipses, rectangles and regular polygons at random orientations) fall one after another on
the canvas, each hiding what lies below it (Matheron 1968). Leaf radii follow a power law
`p(r) ∝ r^(-alpha)` on `[r_min, r_max]`; `alpha = 3` makes the model scale invariant, with a power spectrum
close to the `1/f²` of natural images (Lee, Mumford & Huang 2001, "Occlusion models for natural images").
Achddou, Gousseau & Ladjal (2021, "Synthetic images as a regularity prior for image restoration neural
networks") train restoration networks on such images; VibrantLeaves (Achddou et al. 2025, arXiv 2504.10201)
adds varied shapes, textures and depth of field, imitated here in a simple form: colours from a random
palette (some images grey), a smooth shading gradient or a faint sinusoidal texture on some leaves, and a
defocused background behind sharp foreground leaves.

The simulation is exact (Kendall & Thönnes 1999, "Perfect simulation in stochastic geometry"): leaves are
drawn from the front backwards, each one filling only the pixels no nearer leaf covers, until every pixel is
covered. A pixel belongs to a leaf when the pixel's centre lies inside the shape; pixel (row i, column j)
has its centre at x = j, y = i.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
from scipy import ndimage

from keras_durbm.images.pixels import to_uint8
from keras_durbm.seeding import derive_seed
from tfrecords_tools.synthesis._common import Range, check_choices, sample, sample_int

SHAPES = ("disc", "ellipse", "rectangle", "polygon")
#: Index-map value of a pixel that no leaf covers.
UNCOVERED = np.iinfo(np.int32).max
# Leaves are painted in groups of similar radius (ratio √2) sharing one square window per group; a group
# whose window would be wider than this many pixels is painted leaf by leaf on its clipped bounding box.
_MAX_SHARED_WINDOW_HALF = 24
# Candidate leaves drawn per round of the simulation (the covering check runs once per round).
_CANDIDATES_PER_ROUND = 32768


@dataclass(frozen=True)
class LeafShapes:
    """The geometry of n leaves, one array entry per leaf.

    `x`, `y`: centre in pixels; `radius`: circumradius (every shape fits in the disc of that radius);
    `shape`: index into `SHAPES`; `angle`: orientation in radians; `aspect`: minor/major axis ratio of
    ellipses and rectangles; `sides`: number of sides of polygons.
    """

    x: np.ndarray
    y: np.ndarray
    radius: np.ndarray
    shape: np.ndarray
    angle: np.ndarray
    aspect: np.ndarray
    sides: np.ndarray

    @classmethod
    def of(cls, x, y, radius, *, shape: str | Sequence[str] = "disc", angle=0.0, aspect=1.0,
           sides=4) -> LeafShapes:
        """Leaves from numbers or arrays broadcast together; `shape`: a name from `SHAPES` or one per leaf."""
        names = check_choices(shape, "shape", SHAPES)
        codes = np.array([SHAPES.index(n) for n in names], dtype=np.int8)
        arrays = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(y, np.float64),
                                     np.asarray(radius, np.float64), codes if codes.size > 1 else codes[0],
                                     np.asarray(angle, np.float64), np.asarray(aspect, np.float64),
                                     np.asarray(sides, np.int64))
        return cls(*(np.atleast_1d(a).copy() for a in arrays))

    def __len__(self) -> int:
        return len(self.x)

    def select(self, index) -> LeafShapes:
        """The leaves at `index` (an index array or a boolean mask)."""
        return LeafShapes(*(getattr(self, f.name)[index] for f in fields(self)))

    @staticmethod
    def concatenate(parts: Sequence[LeafShapes]) -> LeafShapes:
        return LeafShapes(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(LeafShapes)))


def leaf_radii(rng: np.random.Generator, n: int, alpha: float, r_min: float, r_max: float) -> np.ndarray:
    """`n` radii from the truncated power law `p(r) ∝ r^(-alpha)` on `[r_min, r_max]`, by inverse CDF.

    CDF: `F(r) = (r_min^(1-alpha) - r^(1-alpha)) / (r_min^(1-alpha) - r_max^(1-alpha))`, so with `u` uniform
    in [0, 1), `r = (r_min^(1-alpha) - u (r_min^(1-alpha) - r_max^(1-alpha)))^(1/(1-alpha))`; for
    `alpha = 1` the law is log-uniform: `r = r_min (r_max / r_min)^u`.
    """
    _check_radius_law(alpha, r_min, r_max)
    u = rng.random(int(n))
    if math.isclose(alpha, 1.0):
        return r_min * (r_max / r_min) ** u
    k = 1.0 - alpha
    low, high = r_min ** k, r_max ** k
    return np.clip((low - u * (low - high)) ** (1.0 / k), r_min, r_max)


def _check_radius_law(alpha: float, r_min: float, r_max: float) -> None:
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    if not 0 < r_min <= r_max:
        raise ValueError(f"r_min and r_max must satisfy 0 < r_min <= r_max, got r_min={r_min}, r_max={r_max}")


# --- rasterization --------------------------------------------------------------------------------------

def _inside_disc(u, v, radius, aspect, sides):
    return u * u + v * v <= radius * radius


def _inside_ellipse(u, v, radius, aspect, sides):
    return (u / radius) ** 2 + (v / (radius * aspect)) ** 2 <= 1.0


def _inside_rectangle(u, v, radius, aspect, sides):
    half_length = radius / np.sqrt(1.0 + aspect * aspect)  # the half-diagonal is the radius
    return (np.abs(u) <= half_length) & (np.abs(v) <= aspect * half_length)


def _inside_polygon(u, v, radius, aspect, sides):
    # A regular polygon with a vertex at angle 0: in each sector of 2π/sides, the point is inside when its
    # distance along the sector's edge normal (at the sector's middle) is at most the apothem.
    sector = 2.0 * np.pi / sides
    off_normal = np.mod(np.arctan2(v, u), sector) - sector / 2.0
    return np.hypot(u, v) * np.cos(off_normal) <= radius * np.cos(sector / 2.0)


_INSIDE = {"disc": _inside_disc, "ellipse": _inside_ellipse, "rectangle": _inside_rectangle,
           "polygon": _inside_polygon}


def _lower_index(index_map: np.ndarray, leaves: LeafShapes, indices: np.ndarray, rows: np.ndarray,
                 cols: np.ndarray) -> None:
    """Sets each tested pixel inside a leaf to that leaf's index where it is lower than the pixel's value.

    `leaves` all have one shape; `rows` (n, R, 1) and `cols` (n, 1, C) are the pixels tested per leaf."""
    height, width = index_map.shape
    column = (slice(None), None, None)
    dx, dy = cols - leaves.x[column], rows - leaves.y[column]
    cos, sin = np.cos(leaves.angle)[column], np.sin(leaves.angle)[column]
    inside = _INSIDE[SHAPES[leaves.shape[0]]](dx * cos + dy * sin, dy * cos - dx * sin, leaves.radius[column],
                                              leaves.aspect[column], leaves.sides[column])
    inside &= (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    pixels = (rows * width + cols)[inside]
    np.minimum.at(index_map.reshape(-1), pixels, np.broadcast_to(indices[column], inside.shape)[inside])


def front_leaf_index(leaves: LeafShapes, height: int, width: int, *, index_map: np.ndarray | None = None,
                     first_index: int = 0) -> np.ndarray:
    """The index of the front-most leaf covering each pixel, an int32 (height, width) map.

    Leaf `k` of `leaves` has index `first_index + k` and a lower index lies in front; pixels no leaf covers
    are `UNCOVERED`. Given an `index_map`, lowers it in place (to add leaves lying behind earlier ones)."""
    height, width = int(height), int(width)
    if index_map is None:
        index_map = np.full((height, width), UNCOVERED, dtype=np.int32)
    if not len(leaves):
        return index_map
    size_class = np.ceil(2.0 * np.log2(np.maximum(leaves.radius, 1.0))).astype(np.int64)
    indices = np.arange(first_index, first_index + len(leaves), dtype=np.int32)
    for group_class in np.unique(size_class):
        for shape in np.unique(leaves.shape[size_class == group_class]):
            members = np.flatnonzero((size_class == group_class) & (leaves.shape == shape))
            group = leaves.select(members)
            centre_col, centre_row = np.rint(group.x).astype(np.int64), np.rint(group.y).astype(np.int64)
            half = int(np.ceil(group.radius.max() + 0.5))
            if half <= _MAX_SHARED_WINDOW_HALF:
                window = np.arange(-half, half + 1)
                _lower_index(index_map, group, indices[members], centre_row[:, None, None] + window[:, None],
                             centre_col[:, None, None] + window)
                continue
            for k in range(len(group)):
                rows = np.arange(max(centre_row[k] - half, 0), min(centre_row[k] + half + 1, height))
                cols = np.arange(max(centre_col[k] - half, 0), min(centre_col[k] + half + 1, width))
                if rows.size and cols.size:
                    _lower_index(index_map, group.select([k]), indices[members[k:k + 1]], rows[None, :, None],
                                 cols[None, None, :])
    return index_map


def draw_leaves(leaves: LeafShapes, colours: np.ndarray, height: int, width: int, *,
                background: float = np.nan) -> np.ndarray:
    """Draws flat-coloured leaves in the order given, each on top of those before (a painter's canvas).

    `colours` is (n, 3); uncovered pixels keep `background`. Returns a float64 (height, width, 3) image."""
    colours = np.asarray(colours, dtype=np.float64)
    if colours.shape != (len(leaves), 3):
        raise ValueError(f"colours must have shape ({len(leaves)}, 3), one RGB colour per leaf, "
                         f"got {colours.shape}")
    back_to_front = front_leaf_index(leaves.select(np.arange(len(leaves))[::-1]), height, width)
    covered = back_to_front != UNCOVERED
    image = np.full((int(height), int(width), 3), background, dtype=np.float64)
    image[covered] = colours[len(leaves) - 1 - back_to_front[covered]]
    return image


# --- the random model -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LeafLaw:
    """How random leaves are drawn: the radius power law (see `leaf_radii`; `alpha = 3` is scale invariant,
    and leaves much smaller than `r_min = 1` px would seldom cover a pixel centre), the shapes (mixed in equal
    parts), the minor/major axis ratio of ellipses and rectangles and the number of sides of polygons."""

    r_max: float
    alpha: float = 3.0
    r_min: float = 1.0
    shapes: tuple[str, ...] = SHAPES
    aspect: tuple[float, float] = (0.25, 1.0)
    sides: tuple[int, int] = (3, 8)

    def __post_init__(self):
        _check_radius_law(self.alpha, self.r_min, self.r_max)
        check_choices(self.shapes, "shapes", SHAPES)
        if not 0 < self.aspect[0] <= self.aspect[1] <= 1:
            raise ValueError(f"aspect must be a range (low, high) within (0, 1], got {self.aspect}")
        if not 3 <= self.sides[0] <= self.sides[1]:
            raise ValueError(f"sides must be a range (low, high) of integers >= 3, got {self.sides}")


def random_leaves(rng: np.random.Generator, candidates: int, height: int, width: int,
                  law: LeafLaw) -> LeafShapes:
    """The leaves, among `candidates` draws, that fall where they can reach the canvas.

    A leaf of radius r reaches a pixel centre only if its own centre lies in the canvas grown by r on each
    side, an area `(width - 1 + 2r)(height - 1 + 2r)`. Drawing r from the power law, keeping it with
    probability proportional to that area and placing its centre uniformly there gives the leaves of a
    uniform (stationary) rain of leaves that touch the canvas, so borders look like the middle."""
    radius = leaf_radii(rng, candidates, law.alpha, law.r_min, law.r_max)
    reach_area = (width - 1 + 2 * radius) * (height - 1 + 2 * radius)
    kept = rng.random(candidates) * ((width - 1 + 2 * law.r_max) * (height - 1 + 2 * law.r_max)) < reach_area
    radius = radius[kept]
    n = radius.size
    x = rng.uniform(-radius, width - 1 + radius)
    y = rng.uniform(-radius, height - 1 + radius)
    shape = rng.choice(np.array([SHAPES.index(s) for s in law.shapes], dtype=np.int8), size=n)
    aspect = np.where(shape == SHAPES.index("disc"), 1.0, rng.uniform(*law.aspect, size=n))
    return LeafShapes(x=x, y=y, radius=radius, shape=shape, angle=rng.uniform(0.0, np.pi, size=n),
                      aspect=aspect, sides=rng.integers(law.sides[0], law.sides[1] + 1, size=n))


def cover_with_leaves(rng: np.random.Generator, height: int, width: int, law: LeafLaw,
                      max_leaves: int) -> tuple[LeafShapes, np.ndarray]:
    """Random leaves from the front backwards until every pixel is covered, and their front-index map.

    Leaves behind the last one that shows are dropped. After `max_leaves` leaves, a last leaf covering the
    whole canvas (the ground) fills what is left."""
    if int(max_leaves) < 1:
        raise ValueError(f"max_leaves must be >= 1, got {max_leaves}")
    index_map = np.full((height, width), UNCOVERED, dtype=np.int32)
    parts, count = [], 0
    while count < max_leaves and (index_map == UNCOVERED).any():
        batch = random_leaves(rng, _CANDIDATES_PER_ROUND, height, width, law)
        batch = batch.select(slice(0, int(max_leaves) - count))
        front_leaf_index(batch, height, width, index_map=index_map, first_index=count)
        parts.append(batch)
        count += len(batch)
    if (index_map == UNCOVERED).any():
        ground = LeafShapes.of((width - 1) / 2, (height - 1) / 2, math.hypot(height, width))
        front_leaf_index(ground, height, width, index_map=index_map, first_index=count)
        parts.append(ground)
    leaves = LeafShapes.concatenate(parts)
    return leaves.select(slice(0, int(index_map.max()) + 1)), index_map


@dataclass(frozen=True)
class _LeafLooks:
    """Per-leaf appearance: RGB colour, shading gradient and sinusoidal texture (see `_random_looks`)."""

    colour: np.ndarray
    gradient_strength: np.ndarray
    gradient_angle: np.ndarray
    wave_amplitude: np.ndarray
    wave_length: np.ndarray
    wave_angle: np.ndarray
    wave_phase: np.ndarray


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """HSV in [0, 1] (..., 3) to RGB (Smith 1978, "Color gamut transform pairs", the hexcone model)."""
    h, s, v = (hsv[..., i] for i in range(3))
    sector = np.floor(h * 6.0) % 6
    f = h * 6.0 - np.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    choices = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    return np.stack([np.select([sector == k for k in range(6)], [c[channel] for c in choices])
                     for channel in range(3)], axis=-1)


def _random_looks(rng: np.random.Generator, n: int, *, grey: bool, palette_size: int,
                  saturation: tuple[float, float], gradient_probability: float,
                  texture_probability: float) -> _LeafLooks:
    # Hue and saturation come from a small palette (so that an image has a few dominant colours, as
    # photographs do), brightness from each leaf, so that neighbouring leaves still differ in luminance.
    # The constants below (hue jitter, brightness range, gradient and texture strengths) are this
    # generator's own choices, picked by eye; VibrantLeaves fits its appearance to photographs instead.
    palette = np.column_stack([rng.random(palette_size), rng.uniform(*saturation, size=palette_size)])
    pick = rng.integers(0, palette_size, size=n)
    hue = np.mod(palette[pick, 0] + rng.normal(0.0, 0.02, size=n), 1.0)
    sat = np.zeros(n) if grey else palette[pick, 1]
    colour = hsv_to_rgb(np.column_stack([hue, sat, rng.uniform(0.05, 1.0, size=n)]))
    texture = rng.random(n)
    has_gradient = texture < gradient_probability
    has_wave = (texture >= gradient_probability) & (texture < gradient_probability + texture_probability)
    return _LeafLooks(
        colour=colour,
        # shading across the leaf from (1 - s) to (1 + s) times its colour
        gradient_strength=np.where(has_gradient, rng.uniform(-0.4, 0.4, size=n), 0.0),
        gradient_angle=rng.uniform(0.0, 2 * np.pi, size=n),
        # a faint grating: ±3 to 15 % of the colour, wavelengths of 3 to 24 px (log-uniform)
        wave_amplitude=np.where(has_wave, rng.uniform(0.03, 0.15, size=n), 0.0),
        wave_length=np.exp(rng.uniform(np.log(3.0), np.log(24.0), size=n)),
        wave_angle=rng.uniform(0.0, np.pi, size=n),
        wave_phase=rng.uniform(0.0, 2 * np.pi, size=n))


def _shade(index_map: np.ndarray, leaves: LeafShapes, looks: _LeafLooks) -> np.ndarray:
    """Each pixel coloured by its front leaf: colour × (1 + gradient + sinusoid), in leaf coordinates."""
    rows, cols = np.indices(index_map.shape)
    dx, dy = cols - leaves.x[index_map], rows - leaves.y[index_map]

    def along(angle: np.ndarray) -> np.ndarray:
        return dx * np.cos(angle[index_map]) + dy * np.sin(angle[index_map])

    gradient = looks.gradient_strength[index_map] * along(looks.gradient_angle) / leaves.radius[index_map]
    wave_phase = 2 * np.pi * along(looks.wave_angle) / looks.wave_length[index_map] + looks.wave_phase[index_map]
    wave = looks.wave_amplitude[index_map] * np.sin(wave_phase)
    modulation = 1.0 + gradient + wave
    return looks.colour[index_map] * modulation[..., None]


def defocus_background(image: np.ndarray, foreground: np.ndarray, sigma: float) -> np.ndarray:
    """Blurs what lies outside `foreground` (an (H, W) mask) by a Gaussian of `sigma` px, leaving it sharp.

    The blur is a normalized convolution (Knutsson & Westin 1993): `G*(I·b) / G*(b)` with `b` the
    background mask, so that sharp foreground colours do not bleed into the blurred background."""
    background = (~foreground).astype(np.float64)
    spread = ndimage.gaussian_filter(background, sigma, mode="reflect")
    blurred = ndimage.gaussian_filter(image * background[..., None], (sigma, sigma, 0), mode="reflect")
    blurred /= np.maximum(spread, 1e-12)[..., None]
    return np.where(foreground[..., None], image, blurred)


def _image_size(size: int | Sequence[int]) -> tuple[int, int]:
    height, width = (size, size) if np.isscalar(size) else tuple(size)
    if int(height) < 1 or int(width) < 1:
        raise ValueError(f"size must be a positive int or (height, width), got {size}")
    return int(height), int(width)


def dead_leaves(size: int | Sequence[int], seed: int, *, alpha: float = 3.0, r_min: float = 1.0,
                r_max: float | None = None, shapes: Sequence[str] = SHAPES,
                aspect: tuple[float, float] = (0.25, 1.0), sides: tuple[int, int] = (3, 8),
                grey_probability: float = 0.1, palette_size: int | tuple[int, int] = (2, 8),
                saturation: tuple[float, float] = (0.05, 0.7), gradient_probability: float = 0.25,
                texture_probability: float = 0.25, defocus_probability: float = 0.5,
                defocus_sigma: Range = (0.5, 3.0), foreground_coverage: Range = (0.2, 0.6),
                max_leaves: int = 1_000_000, return_info: bool = False):
    """A dead leaves image: float32 (H, W, 3) in [0, 1], deterministic for `seed`.

    Args:
        size: `H = W = size`, or `(H, W)`.
        alpha, r_min, r_max: leaf radii follow `r^(-alpha)` on `[r_min, r_max]` px; `r_max` defaults to the
            longer side of the image.
        shapes, aspect, sides: the shapes mixed in equal parts, the minor/major axis ratio of ellipses and
            rectangles and the number of sides of polygons (ranges sampled per leaf).
        grey_probability: chance that the whole image is grey.
        palette_size, saturation: number of hues in the image's palette (range) and their HSV saturation.
        gradient_probability, texture_probability: fractions of leaves with a shading gradient or a
            faint sinusoidal texture.
        defocus_probability: chance of depth of field: the front leaves covering `foreground_coverage` of the
            image stay sharp, those behind are blurred by a Gaussian of `defocus_sigma` px.
        max_leaves: after that many leaves, one last leaf covers what is left.
        return_info: also return `{"leaves", "grey", "palette_size", "defocus_sigma", "foreground_coverage"}`
            as drawn, the coverage as obtained (both 0 without depth of field).
    """
    height, width = _image_size(size)
    law = LeafLaw(alpha=float(alpha), r_min=float(r_min),
                  r_max=float(max(height, width) if r_max is None else r_max), shapes=tuple(shapes),
                  aspect=tuple(aspect), sides=tuple(sides))
    probabilities = {"grey_probability": grey_probability, "gradient_probability": gradient_probability,
                     "texture_probability": texture_probability, "defocus_probability": defocus_probability}
    for name, p in probabilities.items():
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} must be a probability in [0, 1], got {p}")
    if not 0.0 <= saturation[0] <= saturation[1] <= 1.0:
        raise ValueError(f"saturation must be a range (low, high) within [0, 1], got {saturation}")
    if gradient_probability + texture_probability > 1.0:
        raise ValueError("gradient_probability + texture_probability must be <= 1, got "
                         f"{gradient_probability} + {texture_probability}")
    image_rng, shape_rng, look_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))

    grey = bool(image_rng.random() < grey_probability)
    hues = sample_int(image_rng, palette_size, "palette_size")
    if hues < 1:
        raise ValueError(f"palette_size must be >= 1, got {palette_size}")
    defocus = bool(image_rng.random() < defocus_probability)
    sigma = sample(image_rng, defocus_sigma, "defocus_sigma")
    coverage = sample(image_rng, foreground_coverage, "foreground_coverage")

    leaves, index_map = cover_with_leaves(shape_rng, height, width, law, max_leaves)
    looks = _random_looks(look_rng, len(leaves), grey=grey, palette_size=hues,
                          saturation=tuple(saturation), gradient_probability=gradient_probability,
                          texture_probability=texture_probability)
    image = _shade(index_map, leaves, looks)
    if defocus and sigma > 0:
        # The front leaves (lowest indices) covering at least `coverage` of the pixels: the sharp foreground.
        foreground = index_map <= np.quantile(index_map, coverage, method="inverted_cdf")
        coverage = float(foreground.mean())
        image = defocus_background(image, foreground, sigma)
    else:
        sigma = coverage = 0.0
    image = np.clip(image, 0.0, 1.0).astype(np.float32)
    info = {"leaves": len(leaves), "grey": grey, "palette_size": hues, "defocus_sigma": sigma,
            "foreground_coverage": coverage}
    return (image, info) if return_info else image


def dead_leaves_images(count: int, size: int | Sequence[int], seed: int, **params) -> dict[str, np.ndarray]:
    """`count` dead leaves images as uint8 RGB, named `leaves-0000`, ..., to stand in for photographs
    (for example as `convert_synth`'s clean images). Image `i` uses seed `derive_seed(seed, "dead_leaves",
    i)`; `params` go to `dead_leaves`."""
    if int(count) < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    return {f"leaves-{i:04d}": to_uint8(dead_leaves(size, derive_seed(seed, "dead_leaves", i), **params))
            for i in range(int(count))}
