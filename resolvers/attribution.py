"""Revenue attribution: won deals credited to channels, campaigns or teams."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from orggraph.context import Info
from orggraph.errors import BadInputError
from orggraph.graph import attribution
from orggraph.graph.attribution import (
    DEFAULT_HALF_LIFE_DAYS,
    AttributionModel,
    Dimension,
    MarkovSplit,
    attribute,
)
from orggraph.graph.money import from_minor_units
from orggraph.resolvers.entities import check_window
from orggraph.schema.attribution import NONE_BUCKET, Attribution, AttributionRow

MAX_HALF_LIFE_DAYS = 36_500.0


async def resolve_attribution(
    info: Info,
    model: AttributionModel,
    by: Dimension,
    window_from: Annotated[
        datetime | None,
        strawberry.argument(name="from", description="Deals closed at or after this time."),
    ] = None,
    window_to: Annotated[
        datetime | None,
        strawberry.argument(name="to", description="Deals closed before this time."),
    ] = None,
    half_life_days: Annotated[
        float | None,
        strawberry.argument(
            description="TIME_DECAY half-life in days (default 7); other models ignore it."
        ),
    ] = None,
    currency: Annotated[
        str | None,
        strawberry.argument(description="Only deals in this currency (needed when they differ)."),
    ] = None,
    markov_split: Annotated[
        MarkovSplit,
        strawberry.argument(
            description=(
                "MARKOV only: PER_DEAL (default) splits each deal over its own journey's keys; "
                "GLOBAL splits the attributed revenue over every key of the chain by its "
                "removal effect, normalised over all keys (as ChannelAttribution does)."
            )
        ),
    ] = MarkovSplit.PER_DEAL,
) -> Attribution:
    start, end = check_window(window_from, window_to)
    half_life = DEFAULT_HALF_LIFE_DAYS if half_life_days is None else half_life_days
    if not 0 < half_life <= MAX_HALF_LIFE_DAYS:
        raise BadInputError(
            f"'halfLifeDays' must be above 0 and at most {MAX_HALF_LIFE_DAYS:g}",
            field="halfLifeDays",
        )
    if currency is not None and (
        len(currency) != 3 or not currency.isupper() or not currency.isalpha()
    ):
        raise BadInputError("'currency' must be a three-letter code such as EUR", field="currency")
    data = await attribution.attribution_data(
        info.context.graph,
        by,
        window_from=start,
        window_to=end,
        currency=currency,
        markov=model is AttributionModel.MARKOV,
    )
    if len(data.currencies) > 1:
        raise BadInputError(
            f"the won deals are in several currencies ({', '.join(data.currencies)}): "
            "pass 'currency'",
            field="currency",
        )
    result = attribute(
        model,
        data.journeys,
        half_life_days=half_life,
        non_converting=data.non_converting,
        markov_split=markov_split,
    )
    attributed = result.attributed_cents
    currency = data.currencies[0] if data.currencies else currency
    rows = [
        AttributionRow(
            key=strawberry.ID(row.key) if row.key is not None else None,
            name=NONE_BUCKET if row.key is None else data.names.get(row.key, row.key),
            credit=from_minor_units(row.cents, currency),
            share=row.cents / attributed if attributed else 0.0,
            deals=row.deals,
            journeys=row.journeys,
            removal_effect=row.removal_effect,
        )
        for row in result.rows
    ]
    return Attribution(
        model=model,
        by=by,
        currency=currency,
        half_life_days=half_life if model is AttributionModel.TIME_DECAY else None,
        markov_split=markov_split if model is AttributionModel.MARKOV else None,
        rows=rows,
        won_revenue=from_minor_units(result.won_cents, currency),
        attributed_revenue=from_minor_units(attributed, currency),
        unattributed_revenue=from_minor_units(result.unattributed_cents, currency),
        deal_count=result.deal_count,
        unattributed_deals=result.unattributed_deals,
        non_converting_journeys=data.non_converting_journeys,
    )


@strawberry.type
class AttributionQuery:
    attribution: Attribution = strawberry.field(
        resolver=resolve_attribution,
        description=(
            "Won revenue (deals closed in [from, to)) credited to channels, campaigns or teams "
            "over the touchpoints before each deal, by a multi-touch model, in one traversal. "
            "Each deal's credits add up to its amount exactly, in whole minor units of its "
            "currency (cents, yen, thousandths of a dinar; largest remainder)."
        ),
    )
