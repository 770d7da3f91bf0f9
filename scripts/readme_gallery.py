"""Make the README's before/after pictures with the default model: grey | colour, side by side.

    python scripts/readme_gallery.py -o docs/images

chelsea_before_after.jpg: the bundled sample (samples/chelsea_gray.jpg). skimage_before_after.jpg:
scikit-image's astronaut, coffee and rocket, made grey first (L* only), one row each at 240 px high.
traffic_before_after.jpg: the bundled black-and-white clip (samples/traffic_short.mp4) through
`framecolor video`'s defaults (the film default, `--temporal flow`): its first, middle and last
frames, grey above and colour below.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

import framecolor


def grey(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> the same picture with a* = b* = 0, as three equal channels."""
    from skimage.color import lab2rgb, rgb2lab
    lab = rgb2lab(rgb)
    lab[..., 1:] = 0
    return (np.clip(lab2rgb(lab), 0, 1) * 255 + 0.5).astype(np.uint8)


def pair(colorizer, grey_rgb: np.ndarray, height: int) -> Image.Image:
    """grey | colour, scaled to `height`."""
    both = np.concatenate([grey_rgb, colorizer.colorize(grey_rgb)[..., :3]], axis=1)
    im = Image.fromarray(both)
    return im.resize((round(im.width * height / im.height), height), Image.Resampling.LANCZOS)


def stack(rows: list[Image.Image]) -> Image.Image:
    out = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), "white")
    y = 0
    for r in rows:
        out.paste(r, ((out.width - r.width) // 2, y))
        y += r.height
    return out


def first_middle_last(path: Path) -> np.ndarray:
    """A video file's first, middle and last frames, side by side, as one (H, 3W, 3) uint8 array
    (framecolor.video's reader, as `framecolor video` decodes them)."""
    from framecolor.video import probe
    from framecolor.video.reader import read_frames

    frames = [f.rgb for f in read_frames(probe(path))]
    return np.concatenate([frames[0], frames[len(frames) // 2], frames[-1]], axis=1)


def film_strip(clip: Path, height: int) -> Image.Image:
    """The clip's grey frames above, the same frames as `framecolor video` colours them below."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "colour.mp4"
        framecolor.colorize_video(clip, out, progress=False)
        im = Image.fromarray(np.concatenate([first_middle_last(clip), first_middle_last(out)], axis=0))
    return im.resize((round(im.width * 2 * height / im.height), 2 * height), Image.Resampling.LANCZOS)


def main(argv=None) -> None:
    import skimage.data

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-o", "--output", type=Path, default=Path("docs/images"))
    p.add_argument("--model", default=None, help="default: the photo default")
    args = p.parse_args(argv)
    c = framecolor.load_colorizer(args.model) if args.model else framecolor.load_colorizer()
    args.output.mkdir(parents=True, exist_ok=True)
    sample = np.asarray(Image.open(Path(__file__).resolve().parents[1] / "samples" / "chelsea_gray.jpg").convert("RGB"))
    pair(c, sample, 300).save(args.output / "chelsea_before_after.jpg", quality=90)
    rows = [pair(c, grey(getattr(skimage.data, n)()[..., :3]), 240) for n in ("astronaut", "coffee", "rocket")]
    stack(rows).save(args.output / "skimage_before_after.jpg", quality=90)
    if args.model is None:  # the film default is the card's; a --model given is for photos only
        film_strip(Path(__file__).resolve().parents[1] / "samples" / "traffic_short.mp4", 240).save(
            args.output / "traffic_before_after.jpg", quality=90)


if __name__ == "__main__":
    main()
