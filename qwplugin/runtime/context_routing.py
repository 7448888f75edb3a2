"""``ContextDesc(budget_policy="route")``: the Context's QW-Net step replaced by PCSR-style routing.

:func:`build_routed` makes the :class:`~qwplugin.runtime.routed.RoutedQWNet` a routing Context delegates
to: QW-Net (the description's model and precision) on the tiles the shipped routing classifier picks, the
tuned TAA elsewhere, and a :class:`~qwplugin.routing.budget.BudgetController` that picks the cost exponent k
each frame so the measured pass time fits ``budget_ms``. The Context keeps its own counters and reports
the routing's (heavy fraction per frame, its worst case, k) as :attr:`Context.routing_stats`.
"""

from __future__ import annotations

from qwplugin.errors import InvalidArgument
from qwplugin.runtime.desc import ContextDesc


def build_routed(desc: ContextDesc, name: str | None, label: str | None):
    """The routed reconstructor of a ``budget_policy="route"`` description.

    Returns:
        ``(RoutedQWNet, classifier_source)``.

    Raises:
        InvalidArgument: a display size other than the render size (field ``display_size``: routing runs at
            the render size), a depth convention other than ``linear_view`` (field ``depth_convention``), a
            model with a TAA candidate or display sharpening (field ``model``, from the router), bad weights.
    """
    from qwplugin.routing.weights import SHIPPED_CLASSIFIER, load_classifier
    from qwplugin.runtime.routed import DEFAULT_TILE, RoutedQWNet

    if tuple(desc.display_size) != tuple(desc.render_size):
        raise InvalidArgument("budget_policy 'route' runs at the render size (routing does not upscale yet)",
                              field="display_size", expected=f"{tuple(desc.render_size)}",
                              actual=str(tuple(desc.display_size)))
    if desc.depth_convention != "linear_view":
        raise InvalidArgument("budget_policy 'route' reads linear view depth (the TAA and the disocclusion "
                              "feature use it)", field="depth_convention", expected="'linear_view'",
                              actual=repr(desc.depth_convention))
    classifier, source, tile = "rule", "hand-set rule (no trained classifier shipped)", DEFAULT_TILE
    if SHIPPED_CLASSIFIER.exists():
        classifier, meta = load_classifier(SHIPPED_CLASSIFIER)
        source, tile = f"trained ({SHIPPED_CLASSIFIER.name})", classifier.tile
    routed_name = name if name is not None else f"{desc.model}-{desc.precision}-routed"
    routed = RoutedQWNet(desc.render_size, precision=desc.precision, model=desc.model, backend=desc.backend,
                         int4_backend=desc.int4_backend, seed=desc.seed, classifier=classifier,
                         budget_ms=desc.budget_ms, tile=tile, name=routed_name, label=label,
                         classifier_source=source)
    return routed, source
