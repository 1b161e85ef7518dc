"""The VAE's k4 s2 layers in a form XLA:CPU runs fast: transposed convs as four 2x2 convs.

`flax.linen.ConvTranspose` lowers to a convolution with `lhs_dilation=2`: three quarters of
its multiplications hit inserted zeros, and XLA:CPU runs it (and its gradients) 10-18x
slower than plain convolutions of the same map (BENCHMARKS.md, "What changed", 1). The same
map splits by output phase: output row 2i reads input rows (i - 1, i) with kernel rows
(0, 2); row 2i + 1 reads rows (i, i + 1) with kernel rows (1, 3); columns likewise. Each of
the four (row phase, column phase) pairs is a 2x2 stride-1 convolution, and a reshape
interleaves them. No multiplication touches a zero.

The encoder's k4 s2 p1 convolutions have the mirror problem: their input gradient is a
transposed convolution, which XLA computes as an lhs-dilated convolution (450 ms instead of
15 ms for 4x4x256 -> 2x2x512 at batch 128). `conv_k4s2` keeps XLA's forward pass and kernel
gradient and computes the input gradient in the phase form.

Parameters keep flax's names and shapes (`kernel` [4, 4, Cin, Cout]), so initialisation,
checkpoints and both forms are interchangeable (`vae.conv_form`).
"""

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

# (kernel taps, (padding before, padding after)) for output phase 0 (even) and 1 (odd).
_PHASE_TAPS = {0: ((0, 2), (1, 0)), 1: ((1, 3), (0, 1))}
_NHWC = ("NHWC", "HWIO", "NHWC")


def conv_transpose_k4s2_phases(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """flax's ConvTranspose(kernel (4, 4), strides (2, 2), padding 'SAME') as four 2x2 convs.

  x [B, H, W, Cin], kernel [4, 4, Cin, Cout] (not flipped, as flax stores it)
  -> [B, 2H, 2W, Cout].
  """
  rows = []
  for row_phase in (0, 1):
    row_taps, row_pad = _PHASE_TAPS[row_phase]
    cols = []
    for col_phase in (0, 1):
      col_taps, col_pad = _PHASE_TAPS[col_phase]
      k = kernel[jnp.array(row_taps)][:, jnp.array(col_taps)]          # [2, 2, Cin, Cout]
      cols.append(jax.lax.conv_general_dilated(x, k, (1, 1), (row_pad, col_pad),
                                               dimension_numbers=_NHWC))
    rows.append(jnp.stack(cols, axis=3))                               # [B, H, W, 2, Cout]
  y = jnp.stack(rows, axis=2)                                          # [B, H, 2, W, 2, Cout]
  b, h, _, w, _, cout = y.shape
  return y.reshape(b, 2 * h, 2 * w, cout)


def _conv_k4s2(x: jax.Array, kernel: jax.Array) -> jax.Array:
  return jax.lax.conv_general_dilated(x, kernel, (2, 2), ((1, 1), (1, 1)),
                                      dimension_numbers=_NHWC)


@jax.custom_vjp
def conv_k4s2(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """nn.Conv(kernel (4, 4), strides (2, 2), padding 1) of x [B, H, W, Cin] (H, W even) with
  kernel [4, 4, Cin, Cout] -> [B, H/2, W/2, Cout]; its input gradient uses the phase form."""
  return _conv_k4s2(x, kernel)


def _conv_k4s2_forward(x, kernel):
  return _conv_k4s2(x, kernel), (x, kernel)


def _conv_k4s2_backward(residuals, dy):
  x, kernel = residuals
  # x[2m] meets dy[m - 1] through tap 3 and dy[m] through tap 1; x[2m + 1] meets dy[m]
  # through tap 2 and dy[m + 1] through tap 0: the transposed conv with the kernel flipped
  # and its channels swapped.
  dx = conv_transpose_k4s2_phases(dy, jnp.flip(kernel, (0, 1)).transpose(0, 1, 3, 2))
  dkernel = jax.vjp(lambda k: _conv_k4s2(x, k), kernel)[1](dy)[0]
  return dx.astype(x.dtype), dkernel


conv_k4s2.defvjp(_conv_k4s2_forward, _conv_k4s2_backward)


class _K4S2Layer(nn.Module):
  """A bias-free k4 s2 layer with flax's parameter `kernel` [4, 4, Cin, features];
  subclasses set `_map(x, kernel)`."""

  features: int
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32
  kernel_init: Callable = nn.initializers.lecun_normal()

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param("kernel", self.kernel_init, (4, 4, x.shape[-1], self.features),
                        self.param_dtype)
    return self._map(x.astype(self.dtype), kernel.astype(self.dtype))


class PhaseGradConv(_K4S2Layer):
  """Drop-in for nn.Conv(features, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)),
  use_bias=False): x [B, H, W, Cin] (H, W even) -> [B, H/2, W/2, features]."""

  _map = staticmethod(conv_k4s2)


class PhaseConvTranspose(_K4S2Layer):
  """Drop-in for nn.ConvTranspose(features, (4, 4), strides=(2, 2), padding='SAME',
  use_bias=False): x [B, H, W, Cin] -> [B, 2H, 2W, features]."""

  _map = staticmethod(conv_transpose_k4s2_phases)
