"""Deadlines and the watchdog: which open deliveries must close, and why.

``open`` keeps the read model the watchdog scans (open deliveries only, never every
package); ``rules`` decides, from an open delivery, the destination's presence and the
registry, whether it expires now; ``actions`` holds the source's commands on a delivery
(extend, redirect, recall).
"""
