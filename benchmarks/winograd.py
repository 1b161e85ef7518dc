"""Harness-only lever: a 3x3 stride-1 'SAME' convolution as Winograd F(2x2, 3x3).

Winograd's minimal filtering computes each 2x2 output tile from a 4x4 input tile with 16
multiplications instead of 36 (2.25x fewer), at the price of transforms of the input, the
kernel and the output. Almost all of ResNet-18's FLOPs are such convolutions, so this is the
one rewrite that could take a forward pass past the machine's direct-convolution peak (the
scoring target, BENCHMARKS.md). On XLA:CPU it is slower (the `winograd` lever set measures
it): the input transform is a loop fusion far below memory speed, and the 16 batched
[tiles, Cin] x [Cin, Cout] dots run below the direct convolution's FLOP rate.

    Y = A^T [ (G g G^T) . (B^T d B) ] A   per tile, d: 4x4 input tile, g: 3x3 kernel.
"""

import jax
import jax.numpy as jnp
import numpy as np

_NHWC = ("NHWC", "HWIO", "NHWC")
# Lavin & Gray (2016), F(2, 3): the kernel transform G [4, 3].
_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]],
              np.float32)


def conv3x3_direct(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """XLA's convolution: x [B, H, W, Cin], kernel [3, 3, Cin, Cout] -> [B, H, W, Cout]."""
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), ((1, 1), (1, 1)),
                                      dimension_numbers=_NHWC)


def kernel_transform(kernel: jax.Array) -> jax.Array:
  """[3, 3, Cin, Cout] -> U [16, Cin, Cout] (G g G^T for each channel pair)."""
  u = jnp.einsum("ai,ijck,bj->abck", _G, kernel, _G)
  return u.reshape(16, kernel.shape[2], kernel.shape[3])


def _b_transpose(d0, d1, d2, d3):
  """B^T applied along one axis of a 4-row tile given as its rows."""
  return d0 - d2, d1 + d2, d2 - d1, d1 - d3


def input_transform(x: jax.Array) -> jax.Array:
  """x [B, H, W, C] (H, W even) -> V [16, B * H/2 * W/2, C] (B^T d B of every 4x4 tile).

  Tile (i, j) covers rows 2i..2i+3 of the 1-padded input: even rows i, i + 1 and odd rows
  i, i + 1 after splitting rows by parity, so no gather is needed; columns likewise.
  """
  b, h, w, c = x.shape
  padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))).reshape(b, h // 2 + 1, 2, w + 2, c)
  even, odd = padded[:, :, 0], padded[:, :, 1]
  tiles = []
  for rows in _b_transpose(even[:, :-1], odd[:, :-1], even[:, 1:], odd[:, 1:]):
    split = rows.reshape(b, h // 2, w // 2 + 1, 2, c)
    e, o = split[:, :, :, 0], split[:, :, :, 1]
    tiles.extend(_b_transpose(e[:, :, :-1], o[:, :, :-1], e[:, :, 1:], o[:, :, 1:]))
  return jnp.stack(tiles, 0).reshape(16, b * (h // 2) * (w // 2), c)


def output_transform(m: jax.Array, shape) -> jax.Array:
  """M [16, B * H/2 * W/2, Cout] -> [B, H, W, Cout] (A^T m A per tile, tiles interleaved)."""
  b, h, w = shape
  m = m.reshape(4, 4, b, h // 2, w // 2, m.shape[-1])
  rows = (m[0] + m[1] + m[2], m[1] - m[2] - m[3])
  phases = [jnp.stack([r[0] + r[1] + r[2], r[1] - r[2] - r[3]], axis=3) for r in rows]
  y = jnp.stack(phases, axis=2)                          # [B, H/2, 2, W/2, 2, Cout]
  return y.reshape(b, h, w, y.shape[-1])


def batched_dot(v: jax.Array, u: jax.Array) -> jax.Array:
  """V [16, T, Cin] x U [16, Cin, Cout] -> M [16, T, Cout]: the 16 elementwise products."""
  return jnp.einsum("stc,sck->stk", v, u)


def conv3x3_winograd(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """The same map as `conv3x3_direct` (to float rounding), by F(2x2, 3x3); H, W even."""
  b, h, w, _ = x.shape
  return output_transform(batched_dot(input_transform(x), kernel_transform(kernel)),
                          (b, h, w))
