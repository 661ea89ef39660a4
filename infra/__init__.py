"""The genbot CDK app: one stack, one Construct per unit, everything derived from the specs.

Tables come from ``genbot.store.tables.table_specs()``; functions, queues, buckets and schedules
from ``genbot.resources``. Adding an entry there needs no change here.
"""
