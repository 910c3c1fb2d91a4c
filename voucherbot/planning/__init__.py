"""Pure decisions: the planner (sets, workflows, rules, history, now -> Plan) and the forecast.

No I/O and no clock reads: the caller passes ``now``.
"""
