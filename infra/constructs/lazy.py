"""Values computed when the stack synthesizes, after every construct exists, so that the order in
which a stack builds its constructs never changes what they say."""

from __future__ import annotations

from collections.abc import Callable

import jsii
from cdktn import IResolveContext, IStringProducer, Lazy


@jsii.implements(IStringProducer)
class _StringProducer:
    def __init__(self, produce: Callable[[], str]) -> None:
        self._produce = produce

    def produce(self, context: IResolveContext) -> str:
        return self._produce()


def lazy_string(produce: Callable[[], str]) -> str:
    """A string token that `produce()` fills in at synth."""
    return Lazy.string_value(_StringProducer(produce))
