#!/usr/bin/env python3
"""Generates the meshstep-demo assets: a bitmap font, sprites and sound effects.

Everything is drawn or synthesized by this script (python3 standard library only), so the
assets are reproducible and ours to license: CC0 (see LICENSE in this folder).

    python3 Assets/generate.py          # rewrites the files next to this script

Formats (what the client expects; it checks and names the file on any mismatch):
  font.bmp       128x48, 24-bit, white glyphs on black (black is transparent). ASCII 32..126,
                 16 per row, 8x8 cells; each glyph is 5x7 at the cell's top-left, advance 6.
  tank0..3.bmp   40x40, 24-bit, facing +x (right); magenta (255,0,255) is transparent. Drawn in
                 greys: the client tints them with the player's colour.
  bullet.bmp     8x8, same conventions.
  explosion.bmp  6 frames of 48x48 side by side (288x48), full colour, magenta transparent.
  *.wav          mono, signed 16-bit, 22050 Hz PCM.
"""
import math
import os
import random
import struct
import wave

HERE = os.path.dirname(os.path.abspath(__file__))
MAGENTA = (255, 0, 255)

# ---------------------------------------------------------------------------------------------
# Font: 5x7 glyphs, rows top to bottom, '#' = ink. Hand-drawn for this project.
GLYPHS = {
    ' ': ".....|.....|.....|.....|.....|.....|.....",
    '!': "..#..|..#..|..#..|..#..|..#..|.....|..#..",
    '"': ".#.#.|.#.#.|.....|.....|.....|.....|.....",
    '#': ".#.#.|.#.#.|#####|.#.#.|#####|.#.#.|.#.#.",
    '$': "..#..|.####|#.#..|.###.|..#.#|####.|..#..",
    '%': "##...|##..#|...#.|..#..|.#...|#..##|...##",
    '&': ".##..|#..#.|#.#..|.#...|#.#.#|#..#.|.##.#",
    "'": "..#..|..#..|.....|.....|.....|.....|.....",
    '(': "...#.|..#..|.#...|.#...|.#...|..#..|...#.",
    ')': ".#...|..#..|...#.|...#.|...#.|..#..|.#...",
    '*': ".....|..#..|#.#.#|.###.|#.#.#|..#..|.....",
    '+': ".....|..#..|..#..|#####|..#..|..#..|.....",
    ',': ".....|.....|.....|.....|.##..|..#..|.#...",
    '-': ".....|.....|.....|#####|.....|.....|.....",
    '.': ".....|.....|.....|.....|.....|.##..|.##..",
    '/': ".....|....#|...#.|..#..|.#...|#....|.....",
    '0': ".###.|#...#|#..##|#.#.#|##..#|#...#|.###.",
    '1': "..#..|.##..|..#..|..#..|..#..|..#..|.###.",
    '2': ".###.|#...#|....#|...#.|..#..|.#...|#####",
    '3': "#####|...#.|..#..|...#.|....#|#...#|.###.",
    '4': "...#.|..##.|.#.#.|#..#.|#####|...#.|...#.",
    '5': "#####|#....|####.|....#|....#|#...#|.###.",
    '6': "..##.|.#...|#....|####.|#...#|#...#|.###.",
    '7': "#####|....#|...#.|..#..|.#...|.#...|.#...",
    '8': ".###.|#...#|#...#|.###.|#...#|#...#|.###.",
    '9': ".###.|#...#|#...#|.####|....#|...#.|.##..",
    ':': ".....|.##..|.##..|.....|.##..|.##..|.....",
    ';': ".....|.##..|.##..|.....|.##..|..#..|.#...",
    '<': "...#.|..#..|.#...|#....|.#...|..#..|...#.",
    '=': ".....|.....|#####|.....|#####|.....|.....",
    '>': ".#...|..#..|...#.|....#|...#.|..#..|.#...",
    '?': ".###.|#...#|....#|...#.|..#..|.....|..#..",
    '@': ".###.|#...#|....#|.##.#|#.#.#|#.#.#|.###.",
    'A': ".###.|#...#|#...#|#####|#...#|#...#|#...#",
    'B': "####.|#...#|#...#|####.|#...#|#...#|####.",
    'C': ".###.|#...#|#....|#....|#....|#...#|.###.",
    'D': "###..|#..#.|#...#|#...#|#...#|#..#.|###..",
    'E': "#####|#....|#....|####.|#....|#....|#####",
    'F': "#####|#....|#....|####.|#....|#....|#....",
    'G': ".###.|#...#|#....|#.###|#...#|#...#|.####",
    'H': "#...#|#...#|#...#|#####|#...#|#...#|#...#",
    'I': ".###.|..#..|..#..|..#..|..#..|..#..|.###.",
    'J': "..###|...#.|...#.|...#.|...#.|#..#.|.##..",
    'K': "#...#|#..#.|#.#..|##...|#.#..|#..#.|#...#",
    'L': "#....|#....|#....|#....|#....|#....|#####",
    'M': "#...#|##.##|#.#.#|#.#.#|#...#|#...#|#...#",
    'N': "#...#|#...#|##..#|#.#.#|#..##|#...#|#...#",
    'O': ".###.|#...#|#...#|#...#|#...#|#...#|.###.",
    'P': "####.|#...#|#...#|####.|#....|#....|#....",
    'Q': ".###.|#...#|#...#|#...#|#.#.#|#..#.|.##.#",
    'R': "####.|#...#|#...#|####.|#.#..|#..#.|#...#",
    'S': ".####|#....|#....|.###.|....#|....#|####.",
    'T': "#####|..#..|..#..|..#..|..#..|..#..|..#..",
    'U': "#...#|#...#|#...#|#...#|#...#|#...#|.###.",
    'V': "#...#|#...#|#...#|#...#|#...#|.#.#.|..#..",
    'W': "#...#|#...#|#...#|#.#.#|#.#.#|#.#.#|.#.#.",
    'X': "#...#|#...#|.#.#.|..#..|.#.#.|#...#|#...#",
    'Y': "#...#|#...#|.#.#.|..#..|..#..|..#..|..#..",
    'Z': "#####|....#|...#.|..#..|.#...|#....|#####",
    '[': ".###.|.#...|.#...|.#...|.#...|.#...|.###.",
    '\\': ".....|#....|.#...|..#..|...#.|....#|.....",
    ']': ".###.|...#.|...#.|...#.|...#.|...#.|.###.",
    '^': "..#..|.#.#.|#...#|.....|.....|.....|.....",
    '_': ".....|.....|.....|.....|.....|.....|#####",
    '`': ".#...|..#..|.....|.....|.....|.....|.....",
    'a': ".....|.....|.###.|....#|.####|#...#|.####",
    'b': "#....|#....|#.##.|##..#|#...#|#...#|####.",
    'c': ".....|.....|.###.|#....|#....|#...#|.###.",
    'd': "....#|....#|.##.#|#..##|#...#|#...#|.####",
    'e': ".....|.....|.###.|#...#|#####|#....|.###.",
    'f': "..##.|.#..#|.#...|###..|.#...|.#...|.#...",
    'g': ".....|.####|#...#|#...#|.####|....#|.###.",
    'h': "#....|#....|#.##.|##..#|#...#|#...#|#...#",
    'i': "..#..|.....|.##..|..#..|..#..|..#..|.###.",
    'j': "...#.|.....|..##.|...#.|...#.|#..#.|.##..",
    'k': "#....|#....|#..#.|#.#..|##...|#.#..|#..#.",
    'l': ".##..|..#..|..#..|..#..|..#..|..#..|.###.",
    'm': ".....|.....|##.#.|#.#.#|#.#.#|#...#|#...#",
    'n': ".....|.....|#.##.|##..#|#...#|#...#|#...#",
    'o': ".....|.....|.###.|#...#|#...#|#...#|.###.",
    'p': ".....|.....|####.|#...#|####.|#....|#....",
    'q': ".....|.....|.##.#|#..##|.####|....#|....#",
    'r': ".....|.....|#.##.|##..#|#....|#....|#....",
    's': ".....|.....|.###.|#....|.###.|....#|####.",
    't': ".#...|.#...|###..|.#...|.#...|.#..#|..##.",
    'u': ".....|.....|#...#|#...#|#...#|#..##|.##.#",
    'v': ".....|.....|#...#|#...#|#...#|.#.#.|..#..",
    'w': ".....|.....|#...#|#...#|#.#.#|#.#.#|.#.#.",
    'x': ".....|.....|#...#|.#.#.|..#..|.#.#.|#...#",
    'y': ".....|.....|#...#|#...#|.####|....#|.###.",
    'z': ".....|.....|#####|...#.|..#..|.#...|#####",
    '{': "...#.|..#..|..#..|.#...|..#..|..#..|...#.",
    '|': "..#..|..#..|..#..|..#..|..#..|..#..|..#..",
    '}': ".#...|..#..|..#..|...#.|..#..|..#..|.#...",
    '~': ".....|.....|.#...|#.#.#|...#.|.....|.....",
}


class Image:
    def __init__(self, w, h, fill=(0, 0, 0)):
        self.w, self.h = w, h
        self.px = [[fill for _ in range(w)] for _ in range(h)]

    def set(self, x, y, c):
        if 0 <= x < self.w and 0 <= y < self.h:
            self.px[y][x] = c

    def rect(self, x0, y0, x1, y1, c):
        """Fills x0..x1, y0..y1 inclusive."""
        for y in range(y0, y1 + 1):
            for x in range(x0, x1 + 1):
                self.set(x, y, c)

    def disc(self, cx, cy, r, c):
        for y in range(self.h):
            for x in range(self.w):
                if (x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 <= r * r:
                    self.set(x, y, c)

    def save_bmp(self, name):
        """24-bit uncompressed BMP, bottom-up rows padded to 4 bytes."""
        row_size = (self.w * 3 + 3) & ~3
        data = bytearray()
        for y in range(self.h - 1, -1, -1):
            row = bytearray()
            for (r, g, b) in self.px[y]:
                row += bytes((b, g, r))
            row += b"\0" * (row_size - len(row))
            data += row
        header = struct.pack("<2sIHHI", b"BM", 14 + 40 + len(data), 0, 0, 54)
        info = struct.pack("<IiiHHIIiiII", 40, self.w, self.h, 1, 24, 0, len(data), 2835, 2835, 0, 0)
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(header + info + data)


def make_font():
    img = Image(128, 48)
    for code in range(32, 127):
        rows = GLYPHS[chr(code)].split("|")
        assert len(rows) == 7 and all(len(r) == 5 for r in rows), chr(code)
        i = code - 32
        ox, oy = (i % 16) * 8, (i // 16) * 8
        for y, row in enumerate(rows):
            for x, ch in enumerate(row):
                if ch == "#":
                    img.set(ox + x, oy + y, (255, 255, 255))
    img.save_bmp("font.bmp")


def grey(v):
    return (v, v, v)


def make_tank(variant):
    """A 40x40 tank facing right. Greys are tinted by the client; the turret centre is pure
    white so it shows the player's exact colour."""
    s = Image(40, 40, MAGENTA)
    # Treads with track marks.
    for (y0, y1) in ((4, 11), (28, 35)):
        s.rect(3, y0, 36, y1, grey(70))
        for x in range(4, 36, 4):
            s.rect(x, y0 + 1, x + 1, y1 - 1, grey(120))
    # Hull with a lighter edge and a darker rear plate.
    s.rect(6, 10, 33, 29, grey(150))
    s.rect(7, 11, 32, 28, grey(215))
    s.rect(7, 11, 10, 28, grey(175))
    # Barrel(s) then the turret.
    if variant == 2:  # twin barrels
        s.rect(20, 15, 38, 17, grey(120)); s.rect(21, 16, 37, 16, grey(235))
        s.rect(20, 22, 38, 24, grey(120)); s.rect(21, 23, 37, 23, grey(235))
    else:
        length = 39 if variant == 3 else 35
        s.rect(20, 17, length, 22, grey(120))
        s.rect(21, 18, length - 1, 21, grey(235))
        s.rect(length - 2, 16, length, 23, grey(120))
    if variant == 1:  # square turret
        s.rect(11, 11, 27, 28, grey(120))
        s.rect(12, 12, 26, 27, grey(255))
    else:  # round turret
        s.disc(19, 20, 8.5, grey(120))
        s.disc(19, 20, 7.2, grey(255))
    # A hatch: darker ring, white centre.
    s.disc(17, 20, 3.2, grey(170))
    s.disc(17, 20, 2.0, grey(255))
    s.save_bmp("tank%d.bmp" % variant)


def make_bullet():
    s = Image(8, 8, MAGENTA)
    s.disc(4, 4, 3.6, grey(200))
    s.disc(4, 4, 2.4, grey(255))
    s.save_bmp("bullet.bmp")


def make_explosion():
    frames = 6
    s = Image(48 * frames, 48, MAGENTA)
    rnd = random.Random(1234)
    sparks = [(rnd.uniform(0, 2 * math.pi), rnd.uniform(0.5, 1.0)) for _ in range(22)]
    for f in range(frames):
        t = (f + 1) / frames
        ox = f * 48
        cx, cy = ox + 24, 24
        outer = 6 + 16 * t
        for y in range(48):
            for x in range(ox, ox + 48):
                d = math.hypot(x + 0.5 - cx, y + 0.5 - cy)
                if d > outer:
                    continue
                # Hot white-yellow core fading to orange and red at the rim; the core hollows
                # out as the blast expands.
                k = d / outer
                if k < 0.35 * (1 - t):
                    continue
                if k < 0.45:
                    c = (255, 250, 200)
                elif k < 0.7:
                    c = (255, 200, 60)
                elif k < 0.9:
                    c = (240, 110, 30)
                else:
                    c = (170, 40, 20)
                if t > 0.6 and (x * 7 + y * 13 + f) % 5 == 0:
                    c = (90, 80, 80)  # smoke speckle
                s.set(x, y, c)
        for (a, v) in sparks:
            r = (8 + 18 * t) * v
            x, y = int(cx + math.cos(a) * r), int(cy + math.sin(a) * r)
            s.rect(x, y, x + 1, y + 1, (255, 230, 120))
    s.save_bmp("explosion.bmp")


# ---------------------------------------------------------------------------------------------
RATE = 22050


def save_wav(name, samples):
    with wave.open(os.path.join(HERE, name), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(b"".join(struct.pack("<h", max(-32767, min(32767, int(v * 32767)))) for v in samples))


def make_sounds():
    rnd = random.Random(42)
    # Shoot: a falling square-wave chirp with a noisy attack.
    n = int(RATE * 0.14)
    phase, out = 0.0, []
    for i in range(n):
        t = i / n
        freq = 880 * (1 - t) + 180 * t
        phase += freq / RATE
        sq = 1.0 if (phase % 1.0) < 0.5 else -1.0
        noise = rnd.uniform(-1, 1) * max(0.0, 1 - t * 6)
        out.append((0.35 * sq + 0.3 * noise) * (1 - t) ** 2)
    save_wav("shoot.wav", out)
    # Hit: a short metallic clank (two detuned squares) over noise.
    n = int(RATE * 0.16)
    out = []
    for i in range(n):
        t = i / n
        a = 1.0 if (i * 523 / RATE) % 1 < 0.5 else -1.0
        b = 1.0 if (i * 741 / RATE) % 1 < 0.5 else -1.0
        out.append((0.25 * (a + b) + 0.3 * rnd.uniform(-1, 1)) * (1 - t) ** 3)
    save_wav("hit.wav", out)
    # Explode: low filtered noise rumble.
    n = int(RATE * 0.6)
    out, lp = [], 0.0
    for i in range(n):
        t = i / n
        lp += (rnd.uniform(-1, 1) - lp) * 0.08
        out.append(min(1.0, 3.2 * lp) * (1 - t) ** 1.5 * 0.9)
    save_wav("explode.wav", out)
    # Round: a rising arpeggio (C E G C).
    out = []
    for k, freq in enumerate((523.25, 659.25, 783.99, 1046.5)):
        n = int(RATE * (0.09 if k < 3 else 0.25))
        for i in range(n):
            t = i / n
            sq = 1.0 if (i * freq / RATE) % 1 < 0.5 else -1.0
            out.append(0.28 * sq * (1 - t) ** 0.7)
    save_wav("round.wav", out)


if __name__ == "__main__":
    make_font()
    for v in range(4):
        make_tank(v)
    make_bullet()
    make_explosion()
    make_sounds()
    print("assets written to", HERE)
