"""Presence (Điều 5.9, 5.11): which agencies and apps are online, on which node, since when,
and the history of every connection.

- ``tracker``: what one API node knows (its streams and its recently calling apps) and the
  events it records when they open, fall silent or close.
- ``model``: the fold of presence events into per-agency state, and the rows it projects.
- ``watchdog``: the cluster-wide timer rule that ends connections of nodes that stopped
  beating (crashed) or restarted.
"""
