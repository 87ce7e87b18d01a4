"""Result types of revenue attribution."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from orggraph.graph.attribution import AttributionModel, Dimension, MarkovSplit

strawberry.enum(
    AttributionModel,
    description=(
        "FIRST_TOUCH, LAST_TOUCH, LINEAR, U_SHAPED (40/20/40), W_SHAPED (30/30/30 on first touch, "
        "lead creation and opportunity creation, 10% over the rest), TIME_DECAY (half-life), "
        "MARKOV (removal effect of a first-order Markov chain)."
    ),
)
strawberry.enum(Dimension, name="AttributionDimension", description="What revenue is credited to.")
strawberry.enum(
    MarkovSplit,
    description=(
        "How MARKOV turns removal effects into credits: PER_DEAL over each deal's own keys, "
        "or GLOBAL over all keys of the chain at once."
    ),
)

NONE_BUCKET = "(none)"


@strawberry.type(description="The revenue credited to one channel, campaign or team.")
class AttributionRow:
    key: strawberry.ID | None = strawberry.field(
        description="The channel, campaign or team id; null for touchpoints without one."
    )
    name: str = strawberry.field(description="Its name; '(none)' for the null key.")
    credit: Decimal = strawberry.field(
        description="Credited revenue, to the currency's minor unit (the cent, yen, ...)."
    )
    share: float = strawberry.field(description="Credit over the attributed revenue (0..1).")
    deals: int = strawberry.field(
        description=(
            "Won deals giving it a credit above zero (MARKOV GLOBAL: its journeys when credited)."
        )
    )
    journeys: int = strawberry.field(
        description=("Won deals whose journey touched it (0 for a key met only in lost journeys).")
    )
    removal_effect: float | None = strawberry.field(
        description="MARKOV only: the relative loss of conversions without it (0..1)."
    )


@strawberry.type(description="Won revenue split over channels, campaigns or teams by a model.")
class Attribution:
    model: AttributionModel
    by: Dimension
    currency: str | None = strawberry.field(description="The deals' currency (null without deals).")
    half_life_days: float | None = strawberry.field(description="TIME_DECAY only.")
    markov_split: MarkovSplit | None = strawberry.field(description="MARKOV only.")
    rows: list[AttributionRow] = strawberry.field(
        description="By credit (highest first), then key; the credits sum to attributedRevenue."
    )
    won_revenue: Decimal = strawberry.field(description="Amount of the won deals in the window.")
    attributed_revenue: Decimal
    unattributed_revenue: Decimal = strawberry.field(
        description="Amount of the won deals without a touchpoint before closing."
    )
    deal_count: int = strawberry.field(description="Won deals closed in the window.")
    unattributed_deals: int
    non_converting_journeys: int = strawberry.field(
        description="MARKOV only: journeys in the window that did not end in a won deal."
    )
