"""Alerts to people: an agency's contacts are told, once, when one of its deliveries waits
unfetched too long, when a delivery from or to it expired, or when it stays offline too
long (issue 16, item 5).

- ``policy``: the contacts and thresholds an operator sets per agency (a registry action,
  ``AlertPolicySet``), folded into the registry every node holds;
- ``rules``: pure decisions — which alerts are due now, which contact is to be told (again)
  now, and what an attempt's outcome records; ids derived from what an alert is about, so
  each alert is raised once whoever decides it and however often;
- ``view``: the projector of the ``alerts`` view (alerts with each contact's state, for the
  sweep and the console) and of the expiries the sweep has still to judge.

The thin driver (``streams/alerts.py``) runs the decisions periodically and sends.
"""
