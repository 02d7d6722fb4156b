"""How a run spends its labels (algorithm.md sections 2 and 6), as data, and the registry
`PROTOCOLS` (`--methods=NAME,...`).

TBAL auto-labels inside the loop; AL queries its whole budget and labels once at the
end; PL takes its whole budget at random up front, trains once and labels once at the
end. AL and PL give two outcomes each: the plain one and the "+SC" one (labels above
thresholds estimated once on the whole validation set).
"""

from __future__ import annotations

import dataclasses

from tbal_jax.params import max_rounds_for
from tbal_jax.registry import Registry


@dataclasses.dataclass(frozen=True)
class Protocol:
    """How a run spends its labels (algorithm.md sections 2 and 6), as data.

    - `auto_label_in_loop`: estimate thresholds and auto-label every round (TBAL);
    - `budget_up_front`: query the whole budget N_q at random before the first round and
      train once (PL), rather than a seed set n_s and batches;
    - `final_labelling`: after the loop, label once with the final model: every remaining
      point (outcome `name`) and those above thresholds estimated once on the whole
      validation set (outcome `name + "_sc"`).
    """

    name: str
    auto_label_in_loop: bool
    budget_up_front: bool
    final_labelling: bool
    label: str = ""  # the legend's name of the plain outcome
    markers: tuple[str, ...] = ("o",)  # one plot marker per outcome

    @property
    def outcome_labels(self) -> dict[str, str]:
        """Each outcome's legend name: the label, and label+SC for the +SC one."""
        label = self.label or self.name.upper()
        return dict(zip(self.outcomes, (label, label + "+SC")))

    @property
    def outcomes(self) -> tuple[str, ...]:
        if self.final_labelling:
            return (self.name, self.name + "_sc")
        return (self.name,)

    def rounds_for(self, n_train: int) -> int:
        return 1 if self.budget_up_front else max_rounds_for(n_train)


TBAL = Protocol(
    "tbal",
    auto_label_in_loop=True,
    budget_up_front=False,
    final_labelling=False,
    label="TBAL",
    markers=("o",),
)
AL = Protocol(
    "al",
    auto_label_in_loop=False,
    budget_up_front=False,
    final_labelling=True,
    label="AL",
    markers=("^", "s"),
)
PL = Protocol(
    "pl",
    auto_label_in_loop=False,
    budget_up_front=True,
    final_labelling=True,
    label="PL",
    markers=("v", "D"),
)

PROTOCOLS: Registry[Protocol] = Registry("method", "--methods")
PROTOCOLS.register(TBAL)
PROTOCOLS.register(AL)
PROTOCOLS.register(PL)


def outcome_labels() -> dict[str, str]:
    """Every outcome's legend name, in the paper's legend order (TBAL, AL+SC, AL,
    PL+SC, PL: each protocol's +SC outcome before its plain one)."""
    return {
        name: label
        for p in PROTOCOLS.values()
        for name, label in reversed(p.outcome_labels.items())
    }


def outcome_markers() -> dict[str, str]:
    """Every outcome's plot marker."""
    return {
        name: marker
        for p in PROTOCOLS.values()
        for name, marker in zip(p.outcomes, p.markers)
    }


def thresholded_outcomes() -> tuple[str, ...]:
    """The outcomes whose labels come from estimated thresholds, the ones an estimator
    changes: TBAL's (every round) and each +SC one (once, at the end); not AL's or PL's
    plain outcomes, which label every remaining point."""
    return tuple(
        name
        for p in PROTOCOLS.values()
        if p.final_labelling or p.auto_label_in_loop
        for name in (p.outcomes[1:] if p.final_labelling else p.outcomes)
    )


def protocol_of(outcome: str) -> Protocol | None:
    """The protocol that gives an outcome ("al_sc": AL), or None for an unknown one."""
    for p in PROTOCOLS.values():
        if outcome in p.outcomes:
            return p
    return None


def get_protocol(name: str) -> Protocol:
    return PROTOCOLS.get(name)
