"""A tiny name -> object registry so models, datasets and strategies are looked up from configs."""

from typing import Any, Callable, Dict, Generic, TypeVar

from tavaal_jax.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
  """Maps names to builders; unknown names raise a `ConfigError` listing the valid ones."""

  def __init__(self, kind: str, field: str):
    self._kind = kind      # e.g. "dataset", used in error messages
    self._field = field    # e.g. "dataset.name", the config field to fix
    self._entries: Dict[str, T] = {}
    self._traits: Dict[str, Dict[str, Any]] = {}

  def register(self, name: str, **traits: Any) -> Callable[[T], T]:
    """Registers under `name`; `traits` declare what the entry needs (e.g. a strategy's
    adversary=True), so that callers ask the registry instead of keeping name lists."""
    def decorator(obj: T) -> T:
      if name in self._entries:
        raise ValueError(f"{self._kind} {name!r} is registered twice")
      self._entries[name] = obj
      self._traits[name] = dict(traits)
      return obj
    return decorator

  def trait(self, name: str, trait: str, default: Any = False) -> Any:
    """The value of `trait` declared at registration of `name` (ConfigError if unknown)."""
    self.get(name)
    return self._traits[name].get(trait, default)

  def names_where(self, trait: str, value: Any, default: Any = False):
    """The sorted names whose `trait` (default when undeclared) equals `value`."""
    return sorted(n for n in self._entries if self._traits[n].get(trait, default) == value)

  def get(self, name: str) -> T:
    if name not in self._entries:
      raise ConfigError(
          f"unknown {self._kind} {name!r} in {self._field}; "
          f"valid names: {', '.join(sorted(self._entries))}")
    return self._entries[name]

  def names(self):
    return sorted(self._entries)

  def __contains__(self, name: str) -> bool:
    return name in self._entries
