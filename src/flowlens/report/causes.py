"""The names the report gives the causes of waiting (methods 6.4), one wording for every
section and the interactive map.

>>> LABELS["contention"]
'busy staff (contention)'
"""

LABELS = {
    "batching": "batching",
    "contention": "busy staff (contention)",
    "prioritization": "others served first (prioritisation)",
    "unavailability": "staff off shift (unavailability)",
    "extraneous": "outside the log (customer, third party, other work)",
}
