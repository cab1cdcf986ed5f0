"""The names the report gives the causes of waiting (methods 6.4), one wording for every
section and the interactive map.

>>> LABELS["contention"]
'busy staff (contention)'
"""

from flowlens.i18n import N_

#: marked for translation here, translated where shown (``_(LABELS[c])``)
LABELS = {
    "batching": N_("batching"),
    "contention": N_("busy staff (contention)"),
    "prioritization": N_("others served first (prioritisation)"),
    "unavailability": N_("staff off shift (unavailability)"),
    "extraneous": N_("outside the log (customer, third party, other work)"),
}
