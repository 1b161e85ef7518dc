"""Metric writers with the interface of `clu.metric_writers`, without TensorFlow.

`clu.metric_writers` imports TensorFlow for its summary writer; these write the same
TensorBoard event files through tensorboardX (protobuf only) and the same log lines:

  writer = create_default_writer(os.path.join(workdir, "tensorboard"))
  writer.write_scalars(step, {"train/loss": 0.3, "train/accuracy": 0.9})
  writer.flush(); writer.close()

Only process 0 writes when several hosts run: `create_default_writer` hands the others a
writer that does nothing. `read_scalars` reads event files back (tests, reports).
"""

import glob
import logging
import os
import struct
from typing import Dict, List, Mapping, Optional, Protocol, Sequence, Tuple

import numpy as np

from tavaal_jax import parallel

Scalars = Mapping[str, float]


class MetricWriter(Protocol):
  """What the experiment loop writes to (clu's `MetricWriter` minus images/histograms)."""

  def write_scalars(self, step: int, scalars: Scalars) -> None: ...

  def flush(self) -> None: ...

  def close(self) -> None: ...


def _finite_scalars(scalars: Scalars) -> Dict[str, float]:
  """Drops None (e.g. a ranker's undefined Spearman) and casts numpy scalars to float."""
  return {k: float(v) for k, v in scalars.items() if v is not None}


class NoOpWriter:
  """Writes nothing: the writer of every process but 0."""

  def write_scalars(self, step: int, scalars: Scalars) -> None:
    del step, scalars

  def flush(self) -> None:
    pass

  def close(self) -> None:
    pass


class LoggingWriter:
  """One log line per call: `[step] name=value, ...` (as clu's LoggingWriter)."""

  def __init__(self, prefix: str = ""):
    self._prefix = prefix

  def write_scalars(self, step: int, scalars: Scalars) -> None:
    values = ", ".join(f"{k}={v:.6g}" for k, v in sorted(_finite_scalars(scalars).items()))
    logging.info("%s[%d] %s", self._prefix, step, values)

  def flush(self) -> None:
    pass

  def close(self) -> None:
    pass


class TensorBoardWriter:
  """TensorBoard scalar events in `logdir` via tensorboardX.

  The event file is created on the first write, so a run that stops before writing
  anything (bad input, a refused resume) leaves no directory behind.
  """

  def __init__(self, logdir: str):
    self.logdir = logdir
    self._writer = None

  def _get(self):
    if self._writer is None:
      import tensorboardX  # imported late: only the writing process needs it
      self._writer = tensorboardX.SummaryWriter(self.logdir, flush_secs=30)
    return self._writer

  def write_scalars(self, step: int, scalars: Scalars) -> None:
    writer = self._get()
    for name, value in _finite_scalars(scalars).items():
      writer.add_scalar(name, value, global_step=int(step))

  def flush(self) -> None:
    if self._writer is not None:
      self._writer.flush()

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()
      self._writer = None


class MultiWriter:
  """Forwards every call to each of `writers`."""

  def __init__(self, writers: Sequence[MetricWriter]):
    self._writers = list(writers)

  def write_scalars(self, step: int, scalars: Scalars) -> None:
    for writer in self._writers:
      writer.write_scalars(step, scalars)

  def flush(self) -> None:
    for writer in self._writers:
      writer.flush()

  def close(self) -> None:
    for writer in self._writers:
      writer.close()


class _ProcessZeroWriter:
  """Decides on its first use (after any `jax.distributed.initialize`) whether this process
  writes: `make()` on process 0, a `NoOpWriter` elsewhere."""

  def __init__(self, make, is_writer: Optional[bool]):
    self._make, self._is_writer, self._writer = make, is_writer, None

  def _get(self) -> MetricWriter:
    if self._writer is None:
      writes = parallel.is_writer() if self._is_writer is None else self._is_writer
      self._writer = self._make() if writes else NoOpWriter()
    return self._writer

  def write_scalars(self, step: int, scalars: Scalars) -> None:
    self._get().write_scalars(step, scalars)

  def flush(self) -> None:
    if self._writer is not None:
      self._writer.flush()

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()


def create_default_writer(logdir: str, just_logging: bool = False,
                          is_writer: Optional[bool] = None) -> MetricWriter:
  """TensorBoard events in `logdir` plus log lines on process 0; a no-op elsewhere.

  just_logging: log lines only (no event files). is_writer: overrides
  `parallel.is_writer()` (tests).
  """
  if just_logging:
    return _ProcessZeroWriter(LoggingWriter, is_writer)
  return _ProcessZeroWriter(
      lambda: MultiWriter([LoggingWriter(), TensorBoardWriter(logdir)]), is_writer)


# Reading event files back: TFRecord framing (length, masked CRC32C of the length, data,
# masked CRC32C of the data) around serialized `Event` protos.

def _masked_crc(data: bytes) -> int:
  from tensorboardX.crc32c import crc32c
  crc = crc32c(data)
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _records(path: str):
  with open(path, "rb") as f:
    data = f.read()
  offset = 0
  while offset < len(data):
    if offset + 12 > len(data):
      raise ValueError(f"{path}: truncated record header at byte {offset}")
    header = data[offset:offset + 8]
    (length,) = struct.unpack("<Q", header)
    (length_crc,) = struct.unpack("<I", data[offset + 8:offset + 12])
    if length_crc != _masked_crc(header):
      raise ValueError(f"{path}: bad length checksum at byte {offset}")
    body = data[offset + 12:offset + 12 + length]
    (body_crc,) = struct.unpack("<I", data[offset + 12 + length:offset + 16 + length])
    if len(body) != length or body_crc != _masked_crc(body):
      raise ValueError(f"{path}: bad or truncated record at byte {offset}")
    yield body
    offset += 16 + length


def read_scalars(logdir: str) -> Dict[str, List[Tuple[int, float]]]:
  """{tag: [(step, value), ...]} from every event file in `logdir`, checksums verified."""
  from tensorboardX.proto import event_pb2
  scalars: Dict[str, List[Tuple[int, float]]] = {}
  for path in sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*"))):
    for record in _records(path):
      event = event_pb2.Event.FromString(record)
      for value in event.summary.value:
        if value.HasField("simple_value"):
          number = value.simple_value
        elif value.HasField("tensor") and value.tensor.float_val:
          number = value.tensor.float_val[0]
        else:
          continue
        scalars.setdefault(value.tag, []).append((int(event.step), float(np.float32(number))))
  return scalars
