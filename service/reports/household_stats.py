"""A ledger form's dashboard as its households stand now ("households (current state)"), beside
the visits view that aggregate.build gives.

Every active household of the user's areas (and the area filter) is counted once, by its current
answers, with the same keys as the tally (tally.keys_for), so the page shows the same statistics
as for visits. The counts are made by reading each household's current answers: about 20 µs a
household here, fine for a street office's ledger; a district's million households would want
counts kept per change, like the tally (not built yet).
"""
from __future__ import annotations

import json
from collections import Counter

from service.formspec import FormSpec
from service.office import policy
from service.records import tally
from service.reports.aggregate import Dashboard, Filters, areas_below, questions_of
from service.storage.db import keyset_batches
from service.storage.sealed_fields import opener
from service.storage.models import Household

BATCH = 2000


def build(spec: FormSpec, user, filters: Filters) -> Dashboard:
    query = (policy.households_for(user, spec.id)
             .select(Household.id, Household.area, Household.current)
             .where(Household.status == "active"))
    if filters.area is not None:
        query = query.where(Household.area.in_(policy.area_scope(user, filters.area)))
    counts: Counter = Counter()
    per_area: Counter = Counter()
    unseal = opener()      # (a plain cursor: the column's field is not asked)
    for batch in keyset_batches(query, Household.id, BATCH, raw=True):
        for _id, area_id, current in batch:
            per_area[area_id or 0] += 1
            counts.update(tally.keys_for(spec, json.loads(unseal(current) or "{}")))
    total = sum(per_area.values())
    return Dashboard(total=total, by_area=areas_below(user, filters, per_area), by_day=[],
                     by_channel=[], by_surveyor=[], questions=questions_of(spec, counts, total),
                     raw=False)

